"""What the compare view draws, at display resolution: per pixel column the min and max of each waveform, one
spectrogram frame and one distance value. Computed by the task runner, so the GUI thread only uploads arrays
about as large as the screen, whatever the clip's length."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench import spectrogram
from workbench.spectrogram import Spectrogram
from workbench.workers import Cancelled

ROWS = ("a", "b", "difference")  # the view's rows: signal A, signal B and B - A


@dataclass(frozen=True)
class Scale:
    """What every pane of one clip shares: 0 dB of the spectrograms and the waveforms' amplitude range (of A)."""

    reference: float
    y_limit: float


@dataclass
class Pane:
    """One row: the waveform's points to draw and the spectrogram's image."""

    times: np.ndarray
    values: np.ndarray
    spectrogram: Spectrogram


@dataclass
class Drawing:
    """Every pane for one visible time range; rows without a signal are None."""

    rows: dict[str, Pane | None]
    distance: tuple[np.ndarray, np.ndarray] | None  # per-frame log-spectral distance of B to A, and frame times
    scale: Scale


def scale_of(a: np.ndarray, sample_rate: int) -> Scale:
    """The shared scale of a clip whose signal A is `a` (a full pass over the signal: computed once per A)."""
    return Scale(spectrogram.peak_magnitude(a, sample_rate), max(float(np.abs(a).max(initial=0.0)), 1e-3))


def envelope(x: np.ndarray, sample_rate: int, start: int, stop: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Times and values that draw x[start:stop] on `columns` pixel columns: the samples themselves when there are
    few, else the min and max of each column, so a peak is never lost between pixels."""
    segment = x[start:stop]
    if len(segment) <= 2 * columns:
        return np.arange(start, start + len(segment)) / sample_rate, segment.copy()
    per = -(-len(segment) // columns)
    n = -(-len(segment) // per)
    padded = np.concatenate([segment, np.full(n * per - len(segment), segment[-1], dtype=segment.dtype)])
    blocks = padded.reshape(n, per)
    values = np.empty(2 * n, dtype=np.float32)
    values[0::2], values[1::2] = blocks.min(axis=1), blocks.max(axis=1)
    times = np.repeat((start + np.arange(n) * per + per / 2) / sample_rate, 2)
    return times, values


def draw(signals: dict[str, np.ndarray | None], sample_rate: int, seconds: tuple[float, float], columns: int,
         log_frequency: bool, db_range: float, scale: Scale | None = None, task=None) -> Drawing:
    """The panes of signals A and B (by row; their difference is made here) between seconds = (start, end) on
    `columns` pixel columns; `scale` is computed from signal A when not given."""
    a = signals["a"]
    signals = {**signals, "difference": None if signals.get("b") is None else signals["b"] - a}
    scale = scale or scale_of(a, sample_rate)
    span = (max(int(seconds[0] * sample_rate), 0), min(int(np.ceil(seconds[1] * sample_rate)), len(a)))
    span = span if span[1] > span[0] else (0, len(a))
    rows: dict[str, Pane | None] = {}
    for row in ROWS:
        x = signals.get(row)
        if task is not None and task.cancel_flag.is_set():
            raise Cancelled  # a newer drawing replaced this one
        if x is None:
            rows[row] = None
            continue
        times, values = envelope(x, sample_rate, *span, columns)
        spec = spectrogram.compute(x, sample_rate, db_range, log_frequency, scale.reference, span, columns)
        rows[row] = Pane(times, values, spec)
    distance = None
    if signals.get("b") is not None:
        distance = spectrogram.frame_distance(a, signals["b"], sample_rate, reference=scale.reference, span=span,
                                              columns=columns)
    return Drawing(rows, distance, scale)
