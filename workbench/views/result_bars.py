"""A bar chart of a listening test's results: one labelled bar per codec (or answer)."""

from __future__ import annotations

import pyqtgraph as pg


class ResultBars(pg.PlotWidget):
    """Bars with their names under them; `show_bars` replaces what is drawn."""

    def __init__(self) -> None:
        super().__init__()
        self.setBackground("w")
        self.setMouseEnabled(x=False, y=False)
        self.setMinimumHeight(160)
        self.values: dict[str, float] = {}

    def show_bars(self, title: str, values: dict[str, float]) -> None:
        """Draw one bar per name, in the order given."""
        self.values = dict(values)
        plot = self.getPlotItem()
        plot.clear()
        plot.setTitle(title, color="k")
        heights = [0.0 if value != value else float(value) for value in values.values()]  # NaN: no bar
        plot.addItem(pg.BarGraphItem(x=list(range(len(heights))), height=heights, width=0.6, brush="#4a7ebb"))
        plot.getAxis("bottom").setTicks([list(enumerate(values))])
        plot.setYRange(0, max(heights, default=1.0) or 1.0, padding=0.05)
