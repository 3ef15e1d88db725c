"""A waveform plot: the points of a display-resolution envelope, with a play cursor and a loop region."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg


class WaveformPane:
    """One pyqtgraph plot of one signal, drawn from points already reduced to the screen's resolution."""

    def __init__(self, plot: pg.PlotItem, colour: str):
        self.plot = plot
        self.curve = plot.plot(pen=pg.mkPen(colour, width=1))
        self.cursor = pg.InfiniteLine(pos=0.0, angle=90, movable=False, pen=pg.mkPen("#ffcc00", width=1))
        self.region = pg.LinearRegionItem(brush=pg.mkBrush(80, 160, 255, 50), movable=True)
        self.region.setZValue(-10)
        self.region.hide()
        plot.addItem(self.cursor)
        plot.addItem(self.region)
        plot.setMouseEnabled(x=True, y=False)
        plot.showGrid(x=True, y=False, alpha=0.2)
        plot.setYRange(-1.0, 1.0, padding=0.02)  # full scale until a signal sets its own range

    def set_points(self, times: np.ndarray | None, values: np.ndarray | None, y_limit: float) -> None:
        """Draw the points (None clears the curve) on a time axis in seconds, y from -y_limit to y_limit."""
        self.plot.setYRange(-y_limit, y_limit, padding=0.02)
        if times is None:
            self.curve.setData([], [])
            return
        self.curve.setData(times, values)

    def drawn_span(self) -> tuple[float, float] | None:
        """First and last time drawn in seconds, or None when empty."""
        x, _ = self.curve.getData()
        return None if x is None or not len(x) else (float(x[0]), float(x[-1]))

    def point_count(self) -> int:
        """Number of points drawn."""
        x, _ = self.curve.getData()
        return 0 if x is None else len(x)
