"""Two signals (A and B) and their difference side by side, as waveforms and spectrograms, with linked time axes;
drawn from display-resolution summaries made off the GUI thread."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from workbench.display import ROWS, Drawing
from workbench.views.spectrogram import SpectrogramPane
from workbench.views.waveforms import WaveformPane

AXIS_WIDTH = 48
COLOURS = {"a": "#7fb3ff", "b": "#8be28b", "difference": "#ff8a80"}
TITLE_POINTS = 9
MAX_COLUMNS = 4096


class CompareView(QWidget):
    """Six panes (A, B, B - A x waveform/spectrogram) sharing one time axis, one play cursor and one loop region,
    over a distance row; it shows drawings it is given and says when the visible range changes."""

    seek_requested = Signal(float)  # seconds, from a click on any pane
    region_changed = Signal(object)  # (start, end) in seconds, or None when looping is off
    range_changed = Signal()  # the visible time range or the panes' width changed: a new drawing is wanted

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.log_frequency = False
        self.db_range = 80.0
        self.duration = 0.0
        self.titles: dict[pg.PlotItem, str] = {}  # in full; shown cut to the width there is
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("#15171c")
        self.waveforms: dict[str, WaveformPane] = {}
        self.spectrograms: dict[str, SpectrogramPane] = {}
        first = None
        for row, name in enumerate(ROWS):
            self.waveforms[name] = WaveformPane(self.graphics.addPlot(row=row, col=0), COLOURS[name])
            self.spectrograms[name] = SpectrogramPane(self.graphics.addPlot(row=row, col=1))
            for plot in (self.waveforms[name].plot, self.spectrograms[name].plot):
                plot.getAxis("left").setWidth(AXIS_WIDTH)  # equal widths keep the linked panes aligned on screen
                if first is None:
                    first = plot
                else:
                    plot.setXLink(first)
        self._add_distance_row(first)
        self.set_titles("original", "")
        first.setXRange(0.0, 1.0, padding=0)  # before any clip: a second from 0, not pyqtgraph's -0.5..0.5
        first.sigXRangeChanged.connect(lambda *_: self.range_changed.emit())
        self.graphics.scene().sigMouseClicked.connect(self._clicked)
        for pane in self.waveforms.values():
            pane.region.sigRegionChanged.connect(self._sync_region)
        self.transcript = QLabel()
        self.transcript.setWordWrap(True)
        self.transcript.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.transcript.setStyleSheet("font-size: 14px; padding: 4px;")
        # A long file name must wrap or be cut, never widen the view past the window.
        self.transcript.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.transcript)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """Wider panes want a drawing with more columns."""
        super().resizeEvent(event)
        self._show_titles()
        self.range_changed.emit()

    def _add_distance_row(self, first: pg.PlotItem) -> None:
        # Where the codec errs in time: a curve under the waveforms and a heat strip under the spectrograms.
        row = len(ROWS)
        self.distance_plot = self.graphics.addPlot(row=row, col=0)
        self.strip_plot = self.graphics.addPlot(row=row, col=1)
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
        for signal_row in range(len(ROWS)):
            self.graphics.ci.layout.setRowStretchFactor(signal_row, 3)

    def plots(self) -> list[pg.PlotItem]:
        """All plot items, row by row (A, B, difference x waveform/spectrogram, then the distance row)."""
        panes = [p.plot for name in ROWS for p in (self.waveforms[name], self.spectrograms[name])]
        return panes + [self.distance_plot, self.strip_plot]

    def set_view_options(self, log_frequency: bool, db_range: float) -> None:
        """Remember the spectrogram axis and dB range the next drawings are made with."""
        self.log_frequency, self.db_range = log_frequency, float(db_range)

    def set_titles(self, a: str, b: str) -> None:
        """Name the rows after the signals compared ("" = nothing as B)."""
        titles = {"a": f"A: {a}", "b": f"B: {b}" if b else "B: (run a round trip)",
                  "difference": "B - A" if b else "Difference"}
        for name in ROWS:
            self.titles[self.waveforms[name].plot] = titles[name]
            self.titles[self.spectrograms[name].plot] = f"{titles[name]} spectrogram"
        self._set_distance_title("")

    def show_clip(self, duration: float, text: str) -> None:
        """A new clip: clear the panes, show all of its `duration` seconds and the line under the panes."""
        self.duration = duration
        for name in ROWS:
            self.waveforms[name].set_points(None, None, 1.0)
            self.spectrograms[name].set_spectrogram(None, self.db_range)
        self._show_distance(None)
        for plot in self.plots():
            plot.setLimits(xMin=0.0, xMax=duration)
        self.plots()[0].setXRange(0.0, duration, padding=0)
        self.transcript.setText(text)

    def visible_range(self) -> tuple[float, float]:
        """The time range on screen, in seconds, within the clip."""
        (x0, x1), _ = self.plots()[0].viewRange()
        return max(x0, 0.0), min(x1, self.duration) if self.duration else x1

    def columns(self) -> int:
        """Pixel columns of a pane: the resolution a drawing needs."""
        width = int(self.spectrograms["a"].plot.vb.width())
        return int(np.clip(width, 64, MAX_COLUMNS))

    def show_drawing(self, drawing: Drawing) -> None:
        """Upload a drawing made for the visible range (the range itself is left as the user set it)."""
        axis = drawing.rows["a"].spectrogram if drawing.rows["a"] else None  # empty panes take A's frequency axis
        for name in ROWS:
            pane = drawing.rows[name]
            self.waveforms[name].set_points(pane and pane.times, pane and pane.values, drawing.scale.y_limit)
            self.spectrograms[name].set_spectrogram(pane and pane.spectrogram, self.db_range, axis)
        self._show_distance(drawing.distance)

    def _show_distance(self, distance: tuple[np.ndarray, np.ndarray] | None) -> None:
        if distance is None:
            self.distance_curve.setData([], [])
            self.strip.clear()
            self._set_distance_title("")
            return
        values, times = distance
        self.distance_curve.setData(times, values)
        top = max(float(values.max(initial=0.0)), 1.0)
        self.strip.setImage(values[:, None], levels=(0.0, top), autoLevels=False)
        hop = times[1] - times[0] if len(times) > 1 else 0.0
        self.strip.setRect(QRectF(times[0] - hop / 2 if len(times) else 0.0, 0.0, len(values) * hop, 1.0))
        self.strip_plot.setYRange(0.0, 1.0, padding=0)
        self._set_distance_title(f"(0 to {top:.0f} dB, mean {values.mean():.1f})")

    def _set_distance_title(self, detail: str) -> None:
        self.titles[self.distance_plot] = "Log-spectral distance B to A (dB)"
        self.titles[self.strip_plot] = f"Distance heat strip {detail}".strip()
        self._show_titles()

    def _show_titles(self) -> None:
        # A title as wide as its text would widen its column past the window: cut it to half the view instead.
        metrics = QFontMetrics(QFont(self.font().family(), TITLE_POINTS))
        width = max(self.graphics.viewport().width() // 2 - AXIS_WIDTH, 60)
        for plot, title in self.titles.items():
            plot.setTitle(metrics.elidedText(title, Qt.TextElideMode.ElideMiddle, width), size=f"{TITLE_POINTS}pt")

    def distance_frames(self) -> int:
        """Number of frames in the per-frame distance curve (0 before a round trip)."""
        x, _ = self.distance_curve.getOriginalDataset()
        return 0 if x is None else len(x)

    def set_cursor(self, seconds: float) -> None:
        """Move the play cursor in every pane."""
        for name in ROWS:
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
        region = self.waveforms["a"].region
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

