"""Choose what a new eval run from the app covers: clips and languages, codecs, input conditions, metric set and
output folder, with a rough time for it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
)

from codec.errors import UserError
from workbench import run_plan

BUNDLED, SELECTED, OWN = "bundled", "selected", "own"  # where the clips come from


class RunDialog(QDialog):
    """Clips (bundled, chosen in the library, or one's own folder or manifest) narrowed to a language, codecs to
    evaluate, fast metrics only or all, and where the run is written."""

    def __init__(self, codecs: list[str], selected: str, folder: str = "", bundled: list | None = None,
                 chosen: list | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("New eval run")
        self.clip_lists = {BUNDLED: bundled or [], SELECTED: chosen or [], OWN: []}
        self.own_problem = ""  # why one's own clips cannot be read ('' when they can)
        self.codecs = QListWidget()
        for name in codecs:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name == selected else Qt.CheckState.Unchecked)
            self.codecs.addItem(item)
        self.everything = QCheckBox("also CER (Whisper) and speaker similarity: slow on a CPU")
        self.conditions = QLineEdit(placeholderText="none: the clean clips only")
        self.conditions.setToolTip("Input conditions, separated by spaces (white10 pink5 reverb0.6 tel level-36, or "
                                   "chains such as reverb0.6@white10): each ticked codec also runs on the clips under "
                                   "each, next to identity under it (the condition alone). Metrics compare with the "
                                   "clean clips.")
        self.folder = QLineEdit(folder)
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        where = QHBoxLayout()
        where.addWidget(self.folder, 1)
        where.addWidget(browse)
        self.estimate = QLabel(wordWrap=True)
        form = QFormLayout()
        self._add_clip_rows(form)
        form.addRow("codecs", self.codecs)
        form.addRow("metrics", self.everything)
        form.addRow("input conditions", self.conditions)
        form.addRow("output folder", where)
        form.addRow("", self.estimate)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        for signal in (self.codecs.itemChanged, self.everything.toggled, self.conditions.textChanged,
                       self.language.currentIndexChanged):
            signal.connect(self._show_estimate)
        self._source_changed()

    def _add_clip_rows(self, form: QFormLayout) -> None:
        self.source = QComboBox()
        self.source.addItem(f"the bundled speech ({len(self.clip_lists[BUNDLED])} clips)", BUNDLED)
        self.source.addItem(f"the clips selected in the library ({len(self.clip_lists[SELECTED])})", SELECTED)
        self.source.addItem("my own folder of audio or .jsonl manifest", OWN)
        self.source.model().item(1).setEnabled(bool(self.clip_lists[SELECTED]))
        self.source.currentIndexChanged.connect(self._source_changed)
        self.own_path = QLineEdit(placeholderText="a folder of audio (transcripts as .txt beside it) or a manifest")
        self.own_path.editingFinished.connect(self._source_changed)
        pick_folder, pick_manifest = QPushButton("Folder..."), QPushButton("Manifest...")
        pick_folder.clicked.connect(lambda: self._pick_own(folder=True))
        pick_manifest.clicked.connect(lambda: self._pick_own(folder=False))
        own = QHBoxLayout()
        own.addWidget(self.own_path, 1)
        own.addWidget(pick_folder)
        own.addWidget(pick_manifest)
        self.language = QComboBox()
        self.source_note = QLabel(wordWrap=True)
        form.addRow("clips", self.source)
        form.addRow("own clips", own)
        form.addRow("language", self.language)
        form.addRow("", self.source_note)

    def source_utterances(self) -> list:
        """The clips of the chosen source, before the language filter."""
        kind = self.source.currentData()
        if kind == OWN and self.own_problem:
            raise UserError(self.own_problem)
        return self.clip_lists[kind]

    def chosen_utterances(self) -> list:
        """The clips to evaluate: the chosen source in the chosen language."""
        return run_plan.aim(self.source_utterances(), self.language.currentData() or run_plan.ALL_LANGUAGES)

    def chosen_codecs(self) -> list[str]:
        """The ticked codecs."""
        items = (self.codecs.item(i) for i in range(self.codecs.count()))
        return [i.text() for i in items if i.checkState() == Qt.CheckState.Checked]

    def chosen_folder(self) -> str:
        """The output folder as typed or browsed ("" when none)."""
        return self.folder.text().strip()

    def chosen_conditions(self) -> list[str]:
        """The input conditions typed, in order (none: the clean clips only)."""
        return self.conditions.text().split()

    def metrics(self) -> list[str] | None:
        """The metric names to compute (None = every metric the eval engine knows)."""
        if self.everything.isChecked():
            return None
        from eval.metrics import FAST_METRICS

        return list(FAST_METRICS)

    def _source_changed(self) -> None:
        """Read one's own clips once, and offer the languages of the chosen clips (keeping the chosen one)."""
        if self.source.currentData() == OWN:
            self._read_own()
        try:
            langs, note = run_plan.languages(self.source_utterances()), ""
        except UserError as exc:
            langs, note = [], str(exc)
        self.source_note.setText(note)
        kept = self.language.currentData()
        self.language.blockSignals(True)
        self.language.clear()
        self.language.addItem(run_plan.ALL_LANGUAGES, run_plan.ALL_LANGUAGES)
        for lang in langs:
            self.language.addItem(lang or "(no language stated)", lang)
        self.language.setCurrentIndex(max(self.language.findData(kept), 0))
        self.language.blockSignals(False)
        self._show_estimate()

    def _read_own(self) -> None:
        path = self.own_path.text().strip()
        try:
            if not path:
                raise UserError("choose a folder of audio or a .jsonl manifest for your own clips")
            self.clip_lists[OWN], self.own_problem = run_plan.load_source(path), ""
        except UserError as exc:
            self.clip_lists[OWN], self.own_problem = [], str(exc)

    def _show_estimate(self) -> None:
        from codec.spec import sweep

        try:
            runs = len(sweep(self.chosen_codecs(), self.chosen_conditions()))
            text = run_plan.describe(self.chosen_utterances(), runs, self.everything.isChecked())
        except UserError as exc:
            text = str(exc)
        self.estimate.setText(text)

    def _pick_own(self, folder: bool) -> None:
        if folder:
            path = QFileDialog.getExistingDirectory(self, "Folder of your own clips", self.own_path.text())
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Manifest of your own clips", self.own_path.text(),
                                                  "Manifests (*.jsonl);;All files (*)")
        if path:
            self.own_path.setText(path)
            self.source.setCurrentIndex(self.source.findData(OWN))
            self._source_changed()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the run", self.folder.text())
        if folder:
            self.folder.setText(folder)
