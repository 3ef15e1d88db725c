"""The waits the app's tests share (the `window` fixture is in conftest.py)."""

from __future__ import annotations

WAIT_MS = 60000


def open_clip(qtbot, win, path):
    """Open an audio file and wait until it is read (files are read in the task runner)."""
    with qtbot.waitSignal(win.model.clip_changed, timeout=WAIT_MS):
        win.clips.open_file(str(path))


def round_trip(qtbot, win, codec):
    """Start a round trip through `codec` and wait for its decoded signal and its panes; the task."""
    with qtbot.waitSignal(win.model.decoded_changed, timeout=2 * WAIT_MS):
        task = win.clips.start_roundtrip(codec)
    drawn(qtbot, win)
    return task


def drawn(qtbot, win):
    """Wait until the compare view shows the latest state (its panes are drawn off the GUI thread)."""
    qtbot.waitUntil(lambda: not win.drawing.drawing, timeout=WAIT_MS)
