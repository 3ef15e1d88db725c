"""How controllers speak to the user: errors, yes/no questions, file choosers and status-bar lines."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget


class Prompts(QObject):
    """Dialogs over `parent`; every error shown is kept in `messages` (newest last, also read by tests)."""

    status_shown = Signal(str, int)  # text, milliseconds (0 = until replaced)

    def __init__(self, parent: QWidget) -> None:
        super().__init__()
        self.widget = parent
        self.messages: list[str] = []

    def show_error(self, title: str, message: str) -> None:
        """Tell the user what happened and what to do, without blocking the event loop."""
        self.messages.append(f"{title}: {message}")
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self.widget)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def confirm(self, title: str, question: str) -> bool:
        """Ask a yes/no question before something the user made is thrown away."""
        return QMessageBox.question(self.widget, title, question) == QMessageBox.StandardButton.Yes

    def status(self, text: str, milliseconds: int = 0) -> None:
        """Show a line in the status bar."""
        self.status_shown.emit(text, milliseconds)

    def open_file(self, title: str, start: str, filters: str) -> str:
        """Ask for an existing file ("" when the user cancels)."""
        return QFileDialog.getOpenFileName(self.widget, title, start, filters)[0]

    def save_file(self, title: str, start: str, filters: str) -> str:
        """Ask where to save a file ("" when the user cancels)."""
        return QFileDialog.getSaveFileName(self.widget, title, start, filters)[0]

    def open_folder(self, title: str) -> str:
        """Ask for an existing folder ("" when the user cancels)."""
        return QFileDialog.getExistingDirectory(self.widget, title)
