"""Blind A/B preference and ABX tests: set up, run trial by trial with hidden identities, then reveal and save."""

from __future__ import annotations

import json

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from codec.errors import UserError
from workbench.audio_io import Player
from workbench.blind_test import REFERENCE, BlindTest

KIND_LABELS = {"ab": "A/B preference", "abx": "ABX (which one is X?)"}


class BlindTestView(QWidget):
    """Three pages: setup, trials, results. Audio plays through the shared player, A/B at the same position."""

    start_requested = Signal(str, list, object, int, int)  # kind, codecs, seed or None, repeats, number of clips
    save_requested = Signal()
    finished = Signal()  # the last trial was answered: the results are on screen

    def __init__(self, player: Player, parent: QWidget | None = None):
        super().__init__(parent)
        self.player = player
        self.session: BlindTest | None = None
        self.stimuli: dict[tuple[str, str], np.ndarray] = {}
        self.sample_rates: dict[str, int] = {}
        self.pages = QStackedWidget()
        self.pages.addWidget(self._setup_page())
        self.pages.addWidget(self._trial_page())
        self.pages.addWidget(self._result_page())
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)

    def _setup_page(self) -> QWidget:
        page = QWidget()
        self.kind = QComboBox()
        for kind, label in KIND_LABELS.items():
            self.kind.addItem(label, kind)
        self.codecs = QListWidget()
        self.codecs.setMaximumHeight(220)
        self.clip_count = QSpinBox(minimum=1, maximum=100, value=4)
        self.repeats = QSpinBox(minimum=1, maximum=10, value=1)
        self.seed = QLineEdit(placeholderText="random (the seed used is logged in the results)")
        self.start_button = QPushButton("Prepare and start")
        self.start_button.clicked.connect(self._start_clicked)
        form = QFormLayout()
        form.addRow("test", self.kind)
        form.addRow("codecs (tick two or more)", self.codecs)
        form.addRow("clips (rows selected in the list, else the first shown)", self.clip_count)
        form.addRow("repeats", self.repeats)
        form.addRow("seed", self.seed)
        layout = QVBoxLayout(page)
        layout.addWidget(QLabel("<h3>Blind listening test</h3>Codec names stay hidden until the last answer."))
        layout.addLayout(form)
        layout.addWidget(self.start_button)
        layout.addStretch(1)
        return page

    def _trial_page(self) -> QWidget:
        page = QWidget()
        self.trial_label = QLabel()
        self.trial_label.setStyleSheet("font-size: 16px;")
        self.play_buttons = {label: QPushButton(f"Play {label}") for label in ("A", "B", "X")}
        for label, button in self.play_buttons.items():
            button.clicked.connect(lambda _=False, lab=label: self.play(lab))
        stop = QPushButton("Stop")
        stop.clicked.connect(self.player.pause)
        self.answer_buttons = {choice: QPushButton() for choice in ("A", "B")}
        for choice, button in self.answer_buttons.items():
            button.clicked.connect(lambda _=False, c=choice: self.answer(c))
        plays = QHBoxLayout()
        for button in (*self.play_buttons.values(), stop):
            plays.addWidget(button)
        answers = QHBoxLayout()
        for button in self.answer_buttons.values():
            button.setMinimumHeight(48)
            answers.addWidget(button)
        layout = QVBoxLayout(page)
        layout.addWidget(self.trial_label)
        layout.addWidget(QLabel("Switching between A and B keeps the play position."))
        layout.addLayout(plays)
        layout.addLayout(answers)
        layout.addStretch(1)
        return page

    def _result_page(self) -> QWidget:
        page = QWidget()
        self.summary = QTextEdit(readOnly=True)
        save = QPushButton("Save results (CSV or JSON)...")
        save.clicked.connect(self.save_requested)
        again = QPushButton("New test")
        again.clicked.connect(lambda: self.pages.setCurrentIndex(0))
        buttons = QHBoxLayout()
        buttons.addWidget(save)
        buttons.addWidget(again)
        layout = QVBoxLayout(page)
        layout.addWidget(QLabel("<h3>Results (identities revealed)</h3>"))
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        return page

    def set_codecs(self, names: list[str]) -> None:
        """Offer the reference and the available codecs as checkable items."""
        self.codecs.clear()
        for name in [REFERENCE, *names]:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.codecs.addItem(item)

    def checked_codecs(self) -> list[str]:
        """The ticked codecs."""
        items = (self.codecs.item(i) for i in range(self.codecs.count()))
        return [i.text() for i in items if i.checkState() == Qt.CheckState.Checked]

    def _start_clicked(self) -> None:
        text = self.seed.text().strip()
        if text and not text.isdigit():
            QMessageBox.warning(self, "Seed", "The seed must be a whole number, or empty for a random one.")
            return
        seed = int(text) if text else None
        self.start_requested.emit(
            self.kind.currentData(), self.checked_codecs(), seed, self.repeats.value(), self.clip_count.value()
        )

    def begin(self, session: BlindTest, stimuli: dict, sample_rates: dict[str, int]) -> None:
        """Run `session` with rendered audio per (clip, codec) and each clip's rate."""
        self.session, self.stimuli, self.sample_rates = session, stimuli, sample_rates
        self.pages.setCurrentIndex(1)
        self._show_trial()

    def _show_trial(self) -> None:
        if self.session.finished:
            self.player.pause()
            lines = [json.dumps(self.session.reveal(), indent=2), ""]
            for t in self.session.trials:
                x = f", X was {t.x_is}" if t.x_is else ""
                lines.append(f"trial {t.index + 1} ({t.clip}): A = {t.codec_a}, B = {t.codec_b}{x}; "
                             f"answered {t.answer} in {t.seconds:.1f} s")
            self.summary.setPlainText("\n".join(lines))
            self.pages.setCurrentIndex(2)
            self.finished.emit()
            return
        visible = self.session.current()
        self.trial_label.setText(f"Trial {visible.index + 1} of {visible.total}: clip {visible.clip}")
        self.play_buttons["X"].setVisible("X" in visible.labels)
        abx = "X" in visible.labels
        self.answer_buttons["A"].setText("X is A" if abx else "I prefer A")
        self.answer_buttons["B"].setText("X is B" if abx else "I prefer B")
        sources = {
            label: self.stimuli[(visible.clip, self.session.codec_for(label))] for label in visible.labels
        }
        self.player.pause()
        self.player.set_sources(sources, self.sample_rates[visible.clip])
        self.player.seek(0.0)
        self.session.start()

    @property
    def in_progress(self) -> bool:
        """A session is under way with answers that a new test or closing the app would throw away."""
        return self.session is not None and not self.session.finished and self.session.answered > 0

    def note(self, line: str) -> None:
        """Add a line under the results (such as where they were saved)."""
        self.summary.append(line)

    def play(self, label: str) -> None:
        """Switch to stimulus `label` at the current position and play."""
        try:
            self.player.select(label)
            self.player.play()
        except UserError as exc:
            QMessageBox.warning(self, "Cannot play", str(exc))

    def answer(self, choice: str) -> None:
        """Record the answer to the current trial and show the next one (or the results)."""
        self.session.answer(choice)
        self._show_trial()
