"""Listening to the compare view's signals, and the output device both players use."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from codec.errors import UserError
from workbench import audio_io
from workbench.clip_model import DIFFERENCE, ClipModel
from workbench.controllers.prompts import Prompts
from workbench.settings import Settings
from workbench.views.compare_view import CompareView
from workbench.views.listen_bar import ListenBar

SEEK_STEP = 1.0  # seconds per left/right key press


class PlaybackController(QObject):
    """Plays the clip's signals (the original, every decoded version, the difference of the compared pair), switching
    among them gaplessly at the same position; the blind test has its own player, so stimuli and the compare signals
    never mix."""

    position_changed = Signal(str)  # which signal and where, for the status bar
    selection_changed = Signal(str)  # key of the signal heard

    def __init__(self, settings: Settings, model: ClipModel, bar: ListenBar, compare: CompareView,
                 prompts: Prompts) -> None:
        super().__init__()
        self.settings, self.model, self.bar, self.compare, self.prompts = settings, model, bar, compare, prompts
        device = output_device(settings.output_device)
        self.player = audio_io.Player(device)
        self.blind_player = audio_io.Player(device)
        bar.play_requested.connect(self.toggle_play)
        bar.signal_requested.connect(self.select_role)
        bar.loop_toggled.connect(compare.show_region)
        compare.region_changed.connect(lambda region: self.player.set_loop(*(region or (None,))))
        compare.seek_requested.connect(self.seek)
        model.clip_changed.connect(self._clip_changed)
        model.decoded_changed.connect(self._signals_changed)
        self.cursor_timer = QTimer(self, interval=30)
        self.cursor_timer.timeout.connect(self._update_cursor)
        self.cursor_timer.start()

    def play(self) -> None:
        """Start playback of the selected signal."""
        try:
            self.player.play()
        except UserError as exc:
            self.prompts.show_error("Cannot play", str(exc))

    def toggle_play(self) -> None:
        """Space: play or pause."""
        if self.player.playing:
            self.player.pause()
        else:
            self.play()
        self.bar.show_playing(self.player.playing)

    def select_signal(self, key: str) -> None:
        """Switch what is heard (the original, any version or the difference, by key) at the same position,
        without stopping."""
        try:
            self.player.select(key)
        except UserError as exc:
            self.prompts.status(str(exc), 4000)
        self._show_selected()

    def select_role(self, role: str) -> None:
        """A / B / D: hear signal A, signal B or their difference at the same position."""
        a, b = self.model.pair
        self.select_signal({"a": a, "b": b, "difference": DIFFERENCE}[role] or role.upper())  # "no B signal yet"

    def play_decoded(self) -> None:
        """Play signal B from its start (the end of a mic round trip)."""
        self.player.seek(0.0)
        self.select_role("b")
        self.play()

    def seek(self, seconds: float) -> None:
        """Move the play position (click on a pane, left/right keys)."""
        self.player.seek(seconds)
        self._update_cursor()

    def step(self, direction: int) -> None:
        """Move the play position one step later (1) or earlier (-1)."""
        self.seek(self.player.position + direction * SEEK_STEP)

    def sound_only(self, blind_test_on_screen: bool) -> None:
        """Only the player of the tab on screen may sound."""
        (self.player if blind_test_on_screen else self.blind_player).pause()

    def output_devices(self) -> list[str]:
        """The output devices by name ("" = system default); a UserError when audio is unavailable."""
        return ["", *(d.name for d in audio_io.list_devices("output"))]

    def set_output_device(self, name: str) -> None:
        """Play through the device called `name` ("" = system default) from the next play on."""
        for player in (self.player, self.blind_player):
            player.close()
            player.device = output_device(name)
        self.settings.output_device = name

    def close(self) -> None:
        """Release the audio devices and stop following the play position (the window is closing)."""
        self.cursor_timer.stop()
        self.player.close()
        self.blind_player.close()

    def _clip_changed(self) -> None:
        self.player.pause()
        self.bar.set_loop(False)  # the loop region belonged to the previous clip
        self._signals_changed()
        self.player.seek(0.0)

    def _signals_changed(self) -> None:
        a, b = self.model.pair
        sources: dict = self.model.signals()
        if b:
            sources[DIFFERENCE] = (sources[b], sources[a])  # B - A, subtracted a block at a time as it plays
        self.player.set_sources(sources, self.model.clip.sample_rate)
        self._show_selected()

    def _show_selected(self) -> None:
        a, b = self.model.pair
        roles = {"a": a, "b": b, "difference": DIFFERENCE if b else ""}
        self.bar.show_signals({role for role, key in roles.items() if key},
                              next((role for role, key in roles.items() if key == self.player.selected), None))
        self.selection_changed.emit(self.player.selected)

    def _update_cursor(self) -> None:
        # Also where the end of the clip, a pause from elsewhere or a lost device turns Pause back into Play.
        self.bar.show_playing(self.player.playing)
        position = self.player.position
        self.compare.set_cursor(position)
        heard = self.model.label(self.player.selected) if self.player.selected else "-"
        self.position_changed.emit(f"{heard}  {position:6.2f} s")


def output_device(name: str) -> int | None:
    """The saved output device by name, or the system default when it is gone or audio is unavailable."""
    try:
        return audio_io.device_index(name, "output")
    except UserError:
        return None
