"""`lfsc-workbench`: start the desktop app, or render its main views to PNG files with --screenshots."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import threading

OFFSCREEN_NOISE = "This plugin does not support propagateSizeHints()"
NO_DISPLAY = (
    "lfsc-workbench: no display found (DISPLAY and WAYLAND_DISPLAY are unset): run it on a desktop, under "
    "'xvfb-run lfsc-workbench', or save screenshots offscreen with 'lfsc-workbench --screenshots DIR'"
)


def has_display() -> bool:
    """Whether Qt can open windows here (a display server, or a platform plugin chosen explicitly)."""
    if sys.platform != "linux":
        return True
    return any(os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def warm_up() -> threading.Thread:
    """Import torch on a background thread while the window is being built: its libraries load under the GIL
    (0.3 s quiet, 1 s under load), and imported at the first metric or neural codec they froze the shown window."""
    thread = threading.Thread(target=lambda: importlib.import_module("torch"), name="warm-up", daemon=True)
    thread.start()
    return thread


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="lfsc-workbench", description=__doc__)
    parser.add_argument("file", nargs="?", help="an audio file to open (default: the first bundled clip)")
    parser.add_argument("--screenshots", metavar="DIR", help="save PNG screenshots of the main views and exit")
    parser.add_argument("--codec", action="append", help="codec to select at start (default: LFSC when configured, "
                        "else opus-6k); with --screenshots, give it again to show more versions side by side")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `lfsc-workbench` console script."""
    args = parse_args(argv)
    if args.screenshots:
        from codec.errors import run_cli

        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return run_cli("lfsc-workbench", lambda: render_screenshots(args))
    if not has_display():
        print(NO_DISPLAY, file=sys.stderr)
        return 2
    warm_up()
    app = _application()
    from workbench.main_window import MainWindow

    window = MainWindow()
    if args.codec:
        window.codec_bar.select_codec(args.codec[0])
    window.clips.load_bundled()
    if args.file:
        window.clips.open_file(args.file)
    window.show()
    status = app.exec()
    shut_down(window)
    return status


def render_screenshots(args: argparse.Namespace) -> None:
    """Render the main views offscreen to PNG files in args.screenshots and print their paths (`main` runs it
    through codec.errors.run_cli: a user error or file-system fault is one line and exit 2)."""
    from PySide6.QtCore import qInstallMessageHandler

    qInstallMessageHandler(_without_offscreen_noise)
    _application()
    from workbench.screenshots import save_screenshots

    for path in save_screenshots(args.screenshots, codecs=args.codec, clip=args.file):
        print(path)


def _without_offscreen_noise(mode, context, message: str) -> None:
    # The offscreen platform plugin warns "This plugin does not support propagateSizeHints()" for every window it
    # shows: harmless when rendering screenshots, and it put a line of noise before every result or error.
    if message != OFFSCREEN_NOISE:
        print(message, file=sys.stderr)


def _application():
    """The QApplication, made once, with the names the settings are stored under."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("lfsc-workbench")
    app.setOrganizationName("lfsc-workbench")
    return app


def shut_down(window) -> None:
    """Close the window, wait for cancelled work to stop, and free Qt objects before Python finalises."""
    import gc

    from PySide6.QtCore import QThreadPool

    window.close()
    QThreadPool.globalInstance().waitForDone()  # cancelled work stops at its next check
    window.deleteLater()
    from PySide6.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


if __name__ == "__main__":
    sys.exit(main())
