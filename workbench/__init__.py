"""The desktop workbench (PySide6 + pyqtgraph): load or record, round trip, compare, listen, measure, blind tests."""
