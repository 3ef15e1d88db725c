"""A spectrogram plot: an image of levels in dB on a time x frequency (linear or log) axis."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from workbench.spectrogram import Spectrogram


LOG_TICKS_HZ = (63, 125, 250, 500, 1000, 2000, 4000, 8000, 16000)
EMPTY_NYQUIST_HZ = 11025.0  # the frequency axis before any clip is loaded: LFSC's 22.05 kHz


class SpectrogramPane:
    """One pyqtgraph plot showing one spectrogram, with a play cursor."""

    def __init__(self, plot: pg.PlotItem):
        self.plot = plot
        self.image = pg.ImageItem()
        self.image.setColorMap(pg.colormap.get("inferno"))
        plot.addItem(self.image)
        self.cursor = pg.InfiniteLine(pos=0.0, angle=90, movable=False, pen=pg.mkPen("#ffcc00", width=1))
        plot.addItem(self.cursor)
        plot.setMouseEnabled(x=True, y=False)
        plot.getAxis("left").setLabel("Hz")
        plot.getAxis("left").enableAutoSIPrefix(False)  # an empty pane would otherwise read "Hz (x0.001)"
        plot.setYRange(0.0, EMPTY_NYQUIST_HZ, padding=0)
        self.spectrogram: Spectrogram | None = None

    def set_spectrogram(self, spec: Spectrogram | None, db_range: float, axis: Spectrogram | None = None) -> None:
        """Show `spec` (colours span db_range dB below 0 dB); None clears the image but keeps the frequency
        axis of `axis` (the original's), so an empty pane lines up with the full ones."""
        self.spectrogram = spec
        if spec is None:
            self.image.clear()
        else:
            self.image.setImage(spec.levels, levels=(-db_range, 0.0), autoLevels=False)
            self.image.setRect(QRectF(spec.start, spec.f_low, spec.duration, spec.f_high - spec.f_low))
        axis = spec or axis
        if axis is None:
            return
        # In log mode the image's y unit is log10(Hz): label octave ticks in Hz.
        ticks = None
        if axis.log_frequency:
            ticks = [[(float(np.log10(f)), f"{f / 1000:g}k" if f >= 1000 else f"{f:g}") for f in LOG_TICKS_HZ
                      if axis.f_low <= np.log10(f) <= axis.f_high]]
        self.plot.getAxis("left").setTicks(ticks)
        self.plot.setYRange(axis.f_low, axis.f_high, padding=0)

    def frame_count(self) -> int:
        """Number of STFT frames shown (at most about one per pixel column)."""
        return 0 if self.spectrogram is None else self.spectrogram.levels.shape[0]
