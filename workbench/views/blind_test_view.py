"""Blind A/B preference, ABX and MUSHRA tests: set up, run trial by trial with hidden identities, reveal and save."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from codec.errors import UserError
from eval.listening import REFERENCE
from workbench.audio_io import Player
from workbench.blind_test import NO_PREFERENCE, BlindTest, result_bars
from workbench.blind_test import describe as describe_blind
from workbench.mushra import KIND as MUSHRA
from workbench.mushra import OPEN_REFERENCE, MushraTest, describe
from workbench.views.result_bars import ResultBars

KIND_LABELS = {"ab": "A/B preference", "abx": "ABX (which one is X?)", MUSHRA: "MUSHRA (rate 0-100 against the reference)"}
KIND_NOTES = {
    "ab": "Each trial plays two of the ticked codecs (tick the reference to include it); pick the one you prefer.",
    "abx": "Each trial plays two of the ticked codecs and X, which is one of them; say which.",
    MUSHRA: "Each trial rates the ticked codecs, the hidden reference and the 3.5 kHz and 7 kHz low-pass anchors "
            "(those below 80% of the clips' Nyquist frequency) against the open reference (ITU-R BS.1534-3). The "
            "stimuli are also measured, so the results say how well each objective metric agrees with the ratings.",
}
MUSHRA_SCALE = ("Excellent", "Good", "Fair", "Poor", "Bad")  # the BS.1534 continuous quality scale, top down
# The pages, in the order they are stacked: what `stage` names.
STAGES = ("setup", "trial", "results", "graded", "training")
MIN_LISTEN_S = 1.0  # a MUSHRA slider unlocks once this much of its stimulus (or all of a shorter one) has played


class BlindTestView(QWidget):
    """Five pages: setup, A/B or ABX trials, results, MUSHRA trials, training. Switching between A, B and X keeps the
    play position; each MUSHRA stimulus has a play position of its own."""

    start_requested = Signal(str, list, object, int, int, str)  # kind, codecs, seed or None, repeats, clips, listener
    resume_requested = Signal()  # go on with an unfinished test (the window asks which)
    save_requested = Signal()
    finished = Signal()  # the last trial was answered: the results are on screen
    progressed = Signal()  # a trial was answered and more are left: time to save the answers so far
    error = Signal(str, str)  # title, message: shown by the window without blocking the test's audio
    stage_changed = Signal(str)  # one of STAGES

    def __init__(self, player: Player, parent: QWidget | None = None):
        super().__init__(parent)
        self.player = player
        self.session: BlindTest | MushraTest | None = None
        self.stimuli: dict[tuple[str, str], np.ndarray] = {}
        self.sample_rates: dict[str, int] = {}
        self.positions: dict[str, float] = {}  # each MUSHRA stimulus's own play position in the trial on screen
        self.pages = QStackedWidget()
        self.pages.addWidget(self._setup_page())
        self.pages.addWidget(self._trial_page())
        self.pages.addWidget(self._result_page())
        self.pages.addWidget(self._mushra_page())
        self.pages.addWidget(self._training_page())
        self.pages.currentChanged.connect(lambda index: self.stage_changed.emit(STAGES[index]))
        self.listening = QTimer(self, interval=100)  # unlocks the sliders of stimuli heard long enough
        self.listening.timeout.connect(self._show_listening)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)

    def _setup_page(self) -> QWidget:
        page = QWidget()
        self.kind = QComboBox()
        for kind, label in KIND_LABELS.items():
            self.kind.addItem(label, kind)
        self.kind_note = QLabel(KIND_NOTES["ab"], wordWrap=True)
        self.kind.currentIndexChanged.connect(lambda: self.kind_note.setText(KIND_NOTES[self.kind.currentData()]))
        self.codecs = QListWidget()
        self.codecs.setMaximumHeight(220)
        self.clip_count = QSpinBox(minimum=1, maximum=100, value=4)
        self.repeats = QSpinBox(minimum=1, maximum=10, value=1)
        self.seed = QLineEdit(placeholderText="random (the seed used is logged in the results)")
        self.listener = QLineEdit(placeholderText="a name or code, saved with the results (to pool listeners later)")
        self.start_button = QPushButton("Prepare and start")
        self.start_button.clicked.connect(self._start_clicked)
        self.resume_button = QPushButton("Resume an unfinished test...")
        self.resume_button.setToolTip("Go on with a test that was stopped: its answers so far are in the blind-tests "
                                      "folder as unfinished-blind-*.json")
        self.resume_button.clicked.connect(self.resume_requested)
        form = QFormLayout()
        form.addRow("test", self.kind)
        form.addRow("", self.kind_note)
        form.addRow("codecs (A/B, ABX: two or more;\nMUSHRA: one or more)", self.codecs)
        form.addRow("clips (rows selected in the list, else the first shown)", self.clip_count)
        form.addRow("repeats", self.repeats)
        form.addRow("seed", self.seed)
        form.addRow("listener", self.listener)
        layout = QVBoxLayout(page)
        layout.addWidget(QLabel("<h3>Blind listening test</h3>Codec names stay hidden until the last answer."))
        layout.addLayout(form)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.resume_button)
        layout.addLayout(buttons)
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
        self.answer_buttons = {choice: QPushButton() for choice in ("A", "B", NO_PREFERENCE)}
        self.answer_buttons[NO_PREFERENCE].setText("No preference")
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
        self.bars = ResultBars()
        save = QPushButton("Save results (CSV or JSON)...")
        save.clicked.connect(self.save_requested)
        again = QPushButton("New test")
        again.clicked.connect(self.show_setup)
        buttons = QHBoxLayout()
        buttons.addWidget(save)
        buttons.addWidget(again)
        layout = QVBoxLayout(page)
        layout.addWidget(QLabel("<h3>Results (identities revealed)</h3>"))
        layout.addWidget(self.bars, 1)
        layout.addWidget(self.summary, 1)
        layout.addLayout(buttons)
        return page

    def _mushra_page(self) -> QWidget:
        page = QWidget()
        self.mushra_label = QLabel()
        self.mushra_label.setStyleSheet("font-size: 16px;")
        self.reference_button = reference = QPushButton("Play reference")
        reference.clicked.connect(lambda: self.play(OPEN_REFERENCE))
        stop = QPushButton("Stop")
        stop.clicked.connect(self.player.pause)
        self.next_button = QPushButton("Next")
        self.next_button.setMinimumHeight(40)
        self.next_button.clicked.connect(self.submit)
        self.rating_grid = QGridLayout()
        for row, word in enumerate(MUSHRA_SCALE):
            self.rating_grid.addWidget(QLabel(f"{word}\n{100 - 20 * row}-{80 - 20 * row}"), row, 0)
        self.sliders: dict[str, QSlider] = {}
        self.slider_values: dict[str, QLabel] = {}
        self.stimulus_buttons: dict[str, QPushButton] = {}
        # A stretch to loop, as listeners compare a hard passage across stimuli (every stimulus, same stretch)
        self.loop_box = QCheckBox("loop from")
        self.loop_start = QDoubleSpinBox(suffix=" s", decimals=2, singleStep=0.1)
        self.loop_end = QDoubleSpinBox(suffix=" s", decimals=2, singleStep=0.1)
        for widget in (self.loop_box, self.loop_start, self.loop_end):
            (widget.toggled if widget is self.loop_box else widget.valueChanged).connect(self._loop_changed)
        top = QHBoxLayout()
        top.addWidget(reference)
        top.addWidget(stop)
        top.addStretch(1)
        top.addWidget(self.loop_box)
        top.addWidget(self.loop_start)
        top.addWidget(QLabel("to"))
        top.addWidget(self.loop_end)
        layout = QVBoxLayout(page)
        layout.addWidget(self.mushra_label)
        layout.addWidget(QLabel("Play the reference and every stimulus, then rate each one; one of them is the "
                                f"reference itself. A slider unlocks once {MIN_LISTEN_S:g} s of its stimulus has "
                                "played; each stimulus goes on from where it was left.", wordWrap=True))
        layout.addLayout(top)
        layout.addLayout(self.rating_grid, 1)
        layout.addWidget(self.next_button)
        return page

    def _training_page(self) -> QWidget:
        page = QWidget()
        self.training_grid = QGridLayout()
        self.training_buttons: dict[tuple[str, str], QPushButton] = {}
        self.training_labels: dict[str, dict[str, str]] = {}  # per clip: each button's label and the condition it plays
        stop = QPushButton("Stop")
        stop.clicked.connect(self.player.pause)
        self.graded_button = QPushButton("Start the graded trials")
        self.graded_button.setMinimumHeight(40)
        self.graded_button.clicked.connect(self.start_graded)
        layout = QVBoxLayout(page)
        layout.addWidget(QLabel("<h3>Training (nothing is rated)</h3>Listen to the reference and to every stimulus "
                                "of each clip to learn the range of quality you will grade. The letters do not "
                                "match the numbers of the graded trials.", wordWrap=True))
        layout.addLayout(self.training_grid)
        layout.addWidget(stop)
        layout.addStretch(1)
        layout.addWidget(self.graded_button)
        return page

    def _build_training(self) -> None:
        while self.training_grid.count():
            self.training_grid.takeAt(0).widget().deleteLater()
        self.training_buttons = {}
        self.training_labels = {clip: dict([("Reference", REFERENCE), *zip("ABCDEFGHIJKL", order)])
                                for clip, order in self.session.training().items()}
        for row, (clip, labels) in enumerate(self.training_labels.items()):
            self.training_grid.addWidget(QLabel(clip), row, 0)
            for column, label in enumerate(labels, start=1):
                button = QPushButton(label)
                button.clicked.connect(lambda _=False, c=clip, lab=label: self._play_training(c, lab))
                self.training_grid.addWidget(button, row, column)
                self.training_buttons[(clip, label)] = button

    def _play_training(self, clip: str, label: str) -> None:
        sources = {lab: self.stimuli[(clip, condition)] for lab, condition in self.training_labels[clip].items()}
        self.player.pause()
        self.player.set_sources(sources, self.sample_rates[clip])
        self.play(label)

    @property
    def stage(self) -> str:
        """What is on screen: setup, trial (A/B or ABX), results, graded (a MUSHRA trial) or training."""
        return STAGES[self.pages.currentIndex()]

    def show_setup(self) -> None:
        """Show the setup page (for a new test or to resume one)."""
        self._show_stage("setup")

    def _show_stage(self, stage: str) -> None:
        self.pages.setCurrentIndex(STAGES.index(stage))

    def start_graded(self) -> None:
        """Leave the MUSHRA training for the first graded trial."""
        self.player.pause()
        self._show_stage("graded")
        self._show_trial()
        self.listening.start()

    def _show_listening(self) -> None:
        """Unlock the sliders of stimuli heard long enough, say how much more each needs and which one plays."""
        if self.session is None or self.session.kind != MUSHRA or self.session.finished:
            self.listening.stop()
            return
        needed = min(MIN_LISTEN_S, self.player.duration)
        for label, slider in self.sliders.items():
            heard = self.player.played_seconds(label)
            if not slider.isEnabled() and heard >= needed:
                self.session.heard(label)
                slider.setEnabled(True)
                self.slider_values[label].setText("not rated")
            elif not slider.isEnabled():
                self.slider_values[label].setText(f"heard {heard:.1f} of {needed:g} s")
        playing = self.player.selected if self.player.playing else None
        for label, button in (*self.stimulus_buttons.items(), (OPEN_REFERENCE, self.reference_button)):
            name = "reference" if label == OPEN_REFERENCE else label
            button.setText(f"\u25b6 Playing {name}" if label == playing else f"Play {name}")
            button.setStyleSheet("font-weight: bold;" if label == playing else "")

    def _build_sliders(self, labels: tuple[str, ...]) -> None:
        for widget in (*self.sliders.values(), *self.slider_values.values(), *self.stimulus_buttons.values()):
            self.rating_grid.removeWidget(widget)
            widget.deleteLater()
        self.sliders, self.slider_values, self.stimulus_buttons = {}, {}, {}
        rows = len(MUSHRA_SCALE)
        for column, label in enumerate(labels, start=1):
            slider = QSlider(Qt.Orientation.Vertical, minimum=0, maximum=100, tickInterval=20)
            slider.setTickPosition(QSlider.TickPosition.TicksBothSides)
            # released counts too, so a listener can rate the position the slider already has
            slider.valueChanged.connect(lambda _=0, lab=label: self.rate(lab))
            slider.sliderReleased.connect(lambda lab=label: self.rate(lab))
            value = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
            button = QPushButton(f"Play {label}")
            button.setMinimumWidth(button.fontMetrics().horizontalAdvance(f"\u25b6 Playing {label}") + 16)
            button.clicked.connect(lambda _=False, lab=label: self.play(lab))
            self.rating_grid.addWidget(slider, 0, column, rows, 1, Qt.AlignmentFlag.AlignHCenter)
            self.rating_grid.addWidget(value, rows, column)
            self.rating_grid.addWidget(button, rows + 1, column)
            self.sliders[label], self.slider_values[label], self.stimulus_buttons[label] = slider, value, button

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
            self.error.emit("Seed", "The seed must be a whole number, or empty for a random one.")
            return
        seed = int(text) if text else None
        self.start_requested.emit(
            self.kind.currentData(), self.checked_codecs(), seed, self.repeats.value(), self.clip_count.value(),
            self.listener.text().strip(),
        )

    def begin(self, session: BlindTest | MushraTest, stimuli: dict, sample_rates: dict[str, int]) -> None:
        """Run `session` from its first unanswered trial, with rendered audio per (clip, codec) and each clip's rate."""
        self.session, self.stimuli, self.sample_rates = session, stimuli, sample_rates
        if session.kind == MUSHRA:
            self._build_sliders(session.current().labels)
            self._build_training()
            if session.has_answers:  # resumed: the listener has been trained already
                self.start_graded()
            else:  # the training phase first (ITU-R BS.1534-3)
                self._show_stage("training")
            return
        self._show_stage("trial")
        self._show_trial()

    def _show_results(self) -> None:
        self.player.pause()
        mushra = self.session.kind == MUSHRA
        self.summary.setPlainText(describe(self.session) if mushra else describe_blind(self.session))
        self.bars.show_bars(*result_bars(self.session.reveal()))
        self._show_stage("results")
        self.finished.emit()

    def _show_trial(self) -> None:
        if self.session.finished:
            self._show_results()
            return
        if self.session.kind == MUSHRA:
            self._show_mushra_trial()
            return
        visible = self.session.current()
        self.trial_label.setText(f"Trial {visible.index + 1} of {visible.total}: clip {visible.clip}")
        self.play_buttons["X"].setVisible("X" in visible.labels)
        abx = "X" in visible.labels
        self.answer_buttons["A"].setText("X is A" if abx else "I prefer A")
        self.answer_buttons["B"].setText("X is B" if abx else "I prefer B")
        self.answer_buttons[NO_PREFERENCE].setVisible(not abx)
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
        return self.session is not None and not self.session.finished and self.session.has_answers

    def note(self, line: str) -> None:
        """Add a line under the results (such as where they were saved)."""
        self.summary.append(line)

    def _show_mushra_trial(self) -> None:
        visible = self.session.current()
        self.mushra_label.setText(f"Trial {visible.index + 1} of {visible.total}: clip {visible.clip}")
        for label, slider in self.sliders.items():  # a resumed trial shows the ratings it had
            rating = self.session.rating(label)
            slider.blockSignals(True)
            slider.setValue(rating or 0)
            slider.blockSignals(False)
            slider.setEnabled(self.session.was_heard(label))
            self.slider_values[label].setText("not rated" if rating is None else str(rating))
        self.next_button.setEnabled(not self.session.unrated())
        self.positions = {}
        self.next_button.setText("Finish and reveal" if visible.index + 1 == visible.total else "Next")
        sources = {label: self.stimuli[(visible.clip, self.session.codec_for(label))]
                   for label in (OPEN_REFERENCE, *visible.labels)}
        self.player.pause()
        self.player.set_sources(sources, self.sample_rates[visible.clip])
        self.player.seek(0.0)
        self.loop_box.setChecked(False)  # another clip: its own stretch
        for spin, value in ((self.loop_start, 0.0), (self.loop_end, self.player.duration)):
            spin.blockSignals(True)
            spin.setRange(0.0, self.player.duration)
            spin.setValue(value)
            spin.blockSignals(False)
        self.session.start()
        self._show_listening()

    def _loop_changed(self) -> None:
        if self.loop_box.isChecked():
            self.player.set_loop(self.loop_start.value(), self.loop_end.value())
        else:
            self.player.set_loop(None)

    def rate(self, label: str) -> None:
        """Record the MUSHRA slider of stimulus `label` as its rating."""
        value = self.sliders[label].value()
        self.session.rate(label, value)
        self.slider_values[label].setText(str(value))
        self.next_button.setEnabled(not self.session.unrated())
        if not self.sliders[label].isSliderDown():  # saved once the slider is let go, not at every step of a drag
            self.progressed.emit()

    def submit(self) -> None:
        """Close the rated MUSHRA trial and show the next one (or the results)."""
        self.session.submit()
        self._next()

    def _next(self) -> None:
        if not self.session.finished:
            self.progressed.emit()
        self._show_trial()

    def play(self, label: str) -> None:
        """Switch to stimulus `label` and play: A, B and X at the current position, a MUSHRA stimulus from where it
        was left (so one switched to near the end is not over before it can be rated)."""
        try:
            if self.stage == "graded":
                self.positions[self.player.selected] = self.player.position
                self.player.select(label)
                resume_at = self.positions.get(label, 0.0)
                self.player.seek(resume_at if resume_at < self.player.duration else 0.0)
                self._loop_changed()  # a position outside the loop goes to the loop's start
            else:
                self.player.select(label)
            self.player.play()
        except UserError as exc:
            self.error.emit("Cannot play", str(exc))

    def answer(self, choice: str) -> None:
        """Record the answer to the current trial and show the next one (or the results)."""
        self.session.answer(choice)
        self._next()
