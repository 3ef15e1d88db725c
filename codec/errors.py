"""The one exception type for user mistakes: CLIs and the GUI show its message as one line, no traceback."""


class UserError(Exception):
    """Bad input the user can fix (missing file, not audio, wrong checkpoint...); the message says what to do."""
