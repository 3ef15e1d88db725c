"""Original, decoded and difference side by side, as waveforms and spectrograms, with linked time axes."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from workbench import spectrogram
from workbench.clip_model import ClipModel
from workbench.views.spectrogram import SpectrogramPane
from workbench.views.waveforms import WaveformPane

SIGNALS = ("original", "decoded", "difference")
AXIS_WIDTH = 48
COLOURS = {"original": "#7fb3ff", "decoded": "#8be28b", "difference": "#ff8a80"}


class CompareView(QWidget):
    """Six panes (3 signals x waveform/spectrogram) sharing one time axis, one play cursor and one loop region."""

    seek_requested = Signal(float)  # seconds, from a click on any pane
    region_changed = Signal(object)  # (start, end) in seconds, or None when looping is off

    def __init__(self, model: ClipModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        self.log_frequency = False
        self.db_range = 80.0
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("#15171c")
        self.waveforms: dict[str, WaveformPane] = {}
        self.spectrograms: dict[str, SpectrogramPane] = {}
        first = None
        for row, name in enumerate(SIGNALS):
            wave_plot = self.graphics.addPlot(row=row, col=0, title=name.capitalize())
            spec_plot = self.graphics.addPlot(row=row, col=1, title=f"{name.capitalize()} spectrogram")
            self.waveforms[name] = WaveformPane(wave_plot, COLOURS[name])
            self.spectrograms[name] = SpectrogramPane(spec_plot)
            for plot in (wave_plot, spec_plot):
                plot.getAxis("left").setWidth(AXIS_WIDTH)  # equal widths keep the linked panes aligned on screen
                if first is None:
                    first = plot
                else:
                    plot.setXLink(first)
        self._add_distance_row(first)
        first.setXRange(0.0, 1.0, padding=0)  # before any clip: a second from 0, not pyqtgraph's -0.5..0.5
        self.graphics.scene().sigMouseClicked.connect(self._clicked)
        for pane in self.waveforms.values():
            pane.region.sigRegionChanged.connect(self._sync_region)
        self.transcript = QLabel()
        self.transcript.setWordWrap(True)
        self.transcript.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.transcript.setStyleSheet("font-size: 14px; padding: 4px;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.transcript)
        model.clip_changed.connect(self.refresh)
        model.decoded_changed.connect(self.refresh)

    def _add_distance_row(self, first: pg.PlotItem) -> None:
        # Where the codec errs in time: a curve under the waveforms and a heat strip under the spectrograms.
        row = len(SIGNALS)
        self.distance_plot = self.graphics.addPlot(row=row, col=0, title="Per-frame log-spectral distance (dB)")
        self.strip_plot = self.graphics.addPlot(row=row, col=1, title="Distance heat strip")
        self.distance_curve = self.distance_plot.plot(pen=pg.mkPen("#ffb74d", width=1))
        self.strip = pg.ImageItem()
        self.strip.setColorMap(pg.colormap.get("inferno"))
        self.strip_plot.addItem(self.strip)
        self.strip_plot.getAxis("left").setTicks([[]])
        self.distance_cursors = []
        for plot in (self.distance_plot, self.strip_plot):
            cursor = pg.InfiniteLine(pos=0.0, angle=90, movable=False, pen=pg.mkPen("#ffcc00", width=1))
            plot.addItem(cursor)
            self.distance_cursors.append(cursor)
            plot.getAxis("left").setWidth(AXIS_WIDTH)
            plot.setXLink(first)
            plot.setMouseEnabled(x=True, y=False)
            plot.getAxis("bottom").setLabel("s")
        self.graphics.ci.layout.setRowMaximumHeight(row, 120)
        for signal_row in range(len(SIGNALS)):
            self.graphics.ci.layout.setRowStretchFactor(signal_row, 3)

    def plots(self) -> list[pg.PlotItem]:
        """All plot items, row by row (three signals x waveform/spectrogram, then the distance row)."""
        panes = [p.plot for name in SIGNALS for p in (self.waveforms[name], self.spectrograms[name])]
        return panes + [self.distance_plot, self.strip_plot]

    def set_view_options(self, log_frequency: bool, db_range: float) -> None:
        """Change the spectrogram axis and dB range and redraw."""
        self.log_frequency, self.db_range = log_frequency, float(db_range)
        self.refresh()

    def refresh(self) -> None:
        """Redraw every pane from the model."""
        clip = self.model.clip
        signals = self.model.signals()
        if clip is None:
            return
        sr = clip.sample_rate
        y_limit = max(float(np.abs(clip.samples).max(initial=0.0)), 1e-3)
        reference = spectrogram.peak_magnitude(clip.samples, sr)  # one 0 dB for all three: levels compare
        decoded_title = f"Decoded: {self.model.roundtrip.codec}" if self.model.roundtrip else "Decoded"
        titles = {"original": f"Original: {clip.name}", "decoded": decoded_title,
                  "difference": "Difference (decoded - original)"}
        axis = None  # the original's spectrogram: empty panes take its frequency axis
        for name in SIGNALS:
            samples = signals.get(name)
            self.waveforms[name].set_samples(samples, sr, y_limit)
            self.waveforms[name].plot.setTitle(titles[name])
            spec = None
            if samples is not None:
                spec = spectrogram.compute(samples, sr, self.db_range, self.log_frequency, reference=reference)
            axis = axis or spec
            self.spectrograms[name].set_spectrogram(spec, self.db_range, axis)
        self._show_distance(clip.samples, self.model.decoded, sr)
        duration = len(clip.samples) / sr
        for plot in self.plots():
            plot.setLimits(xMin=0.0, xMax=duration)
        self.plots()[0].setXRange(0.0, duration, padding=0)
        text = clip.transcript or "(no transcript)"
        lang = f"[{clip.lang}] " if clip.lang else ""
        self.transcript.setText(f"{lang}{text}")

    def _show_distance(self, ref: np.ndarray, deg: np.ndarray | None, sr: int) -> None:
        if deg is None:
            self.distance_curve.setData([], [])
            self.strip.clear()
            return
        distance, times = spectrogram.frame_distance(ref, deg, sr)
        self.distance_curve.setData(times, distance)
        top = max(float(distance.max(initial=0.0)), 1.0)
        self.strip.setImage(distance[:, None], levels=(0.0, top), autoLevels=False)
        hop = times[1] - times[0] if len(times) > 1 else 0.0
        self.strip.setRect(QRectF(-hop / 2, 0.0, len(distance) * hop, 1.0))
        self.strip_plot.setYRange(0.0, 1.0, padding=0)
        self.strip_plot.setTitle(f"Distance heat strip (0 to {top:.0f} dB, mean {distance.mean():.1f} dB)")

    def distance_frames(self) -> int:
        """Number of frames in the per-frame distance curve (0 before a round trip)."""
        x, _ = self.distance_curve.getOriginalDataset()
        return 0 if x is None else len(x)

    def set_cursor(self, seconds: float) -> None:
        """Move the play cursor in every pane."""
        for name in SIGNALS:
            self.waveforms[name].cursor.setValue(seconds)
            self.spectrograms[name].cursor.setValue(seconds)
        for cursor in self.distance_cursors:
            cursor.setValue(seconds)

    def show_region(self, visible: bool) -> None:
        """Show the loop region (over the middle of the visible range) or hide it."""
        regions = [p.region for p in self.waveforms.values()]
        if visible:
            (x0, x1), _ = self.plots()[0].viewRange()
            span = x1 - x0
            for region in regions:
                region.setRegion((x0 + span / 3, x0 + 2 * span / 3))
                region.show()
            self.region_changed.emit(regions[0].getRegion())
        else:
            for region in regions:
                region.hide()
            self.region_changed.emit(None)

    def region(self) -> tuple[float, float] | None:
        """The loop region in seconds, or None when hidden."""
        region = self.waveforms["original"].region
        return tuple(region.getRegion()) if region.isVisible() else None

    def _sync_region(self, changed: pg.LinearRegionItem) -> None:
        bounds = changed.getRegion()
        for pane in self.waveforms.values():
            if pane.region is not changed and tuple(pane.region.getRegion()) != tuple(bounds):
                pane.region.blockSignals(True)
                pane.region.setRegion(bounds)
                pane.region.blockSignals(False)
        if changed.isVisible():
            self.region_changed.emit(tuple(bounds))

    def _clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        for plot in self.plots():
            if plot.sceneBoundingRect().contains(event.scenePos()):
                self.seek_requested.emit(max(0.0, plot.vb.mapSceneToView(event.scenePos()).x()))
                return
