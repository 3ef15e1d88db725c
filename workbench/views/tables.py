"""The sortable, read-only, whole-row-selecting table both the clip browser and the report view show."""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QTableView


def sortable_table(proxy: QSortFilterProxyModel) -> QTableView:
    """A table over `proxy` that sorts by each cell's UserRole value, starting on the first column."""
    proxy.setSortRole(Qt.ItemDataRole.UserRole)
    table = QTableView()
    table.setModel(proxy)
    table.setSortingEnabled(True)
    table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    return table
