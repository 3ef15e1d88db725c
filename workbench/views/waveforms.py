"""A waveform plot: the whole signal, peak-downsampled for display, with a play cursor and a loop region."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg


class WaveformPane:
    """One pyqtgraph plot of one signal; holds the full-resolution data, draws a peak-decimated view."""

    def __init__(self, plot: pg.PlotItem, colour: str):
        self.plot = plot
        self.curve = plot.plot(pen=pg.mkPen(colour, width=1))
        self.curve.setDownsampling(auto=True, method="peak")
        self.curve.setClipToView(True)
        self.cursor = pg.InfiniteLine(pos=0.0, angle=90, movable=False, pen=pg.mkPen("#ffcc00", width=1))
        self.region = pg.LinearRegionItem(brush=pg.mkBrush(80, 160, 255, 50), movable=True)
        self.region.setZValue(-10)
        self.region.hide()
        plot.addItem(self.cursor)
        plot.addItem(self.region)
        plot.setMouseEnabled(x=True, y=False)
        plot.showGrid(x=True, y=False, alpha=0.2)
        plot.setYRange(-1.0, 1.0, padding=0.02)  # full scale until a signal sets its own range

    def set_samples(self, samples: np.ndarray | None, sample_rate: int, y_limit: float) -> None:
        """Show `samples` (None clears the curve) on a time axis in seconds, y from -y_limit to y_limit."""
        self.plot.setYRange(-y_limit, y_limit, padding=0.02)
        if samples is None:
            self.curve.setData([], [])
            return
        t = np.arange(len(samples), dtype=np.float64) / sample_rate
        self.curve.setData(t, samples)

    def sample_count(self) -> int:
        """Number of samples the pane holds (not the decimated number drawn)."""
        x, _ = self.curve.getOriginalDataset()
        return 0 if x is None else len(x)
