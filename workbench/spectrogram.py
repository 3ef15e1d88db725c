"""Spectrograms for display: a numpy STFT in dB below a reference, with an optional log-frequency axis, at most one
frame per pixel column so the cost is bounded by the screen, not the clip's length."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOG_MIN_HZ = 50.0  # lowest frequency shown on the log axis; speech has little below it
PEAK_CHUNK = 4096  # frames per FFT batch when finding the peak of a long clip (bounds the memory)


@dataclass
class Spectrogram:
    """Levels in dB (time x frequency, 0 dB = the reference, floor = -db_range) and the extents they cover."""

    levels: np.ndarray
    duration: float  # seconds the image spans
    f_low: float  # Hz, or log10(Hz) when log_frequency
    f_high: float
    log_frequency: bool
    start: float = 0.0  # seconds where the image begins


def window_size(sample_rate: int) -> int:
    """FFT size: the power of two nearest to a 32 ms window, which resolves speech harmonics and formants."""
    return int(2 ** round(np.log2(0.032 * sample_rate)))


def frame_hop(n_fft: int, start: int, stop: int, columns: int | None) -> int:
    """Samples between frames: a quarter window, or wider so that no more frames than `columns` cover the span."""
    hop = n_fft // 4
    return hop if columns is None else max(hop, -(-(stop - start) // max(columns, 1)))


def stft_magnitude(x: np.ndarray, n_fft: int, hop: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Magnitude STFT with a Hann window (frames x bins) of frames centred at start, start + hop, ... up to and
    including the first centre at or past `stop` (the signal's end by default); outside the signal is silence."""
    x = np.asarray(x, dtype=np.float32)
    stop = len(x) if stop is None else stop
    n_frames = 1 + -(-(stop - start) // hop)
    pad = n_fft // 2
    first, last = start - pad, start + (n_frames - 1) * hop + pad  # the span the frames read
    segment = np.zeros(last - first, dtype=np.float32)
    lo, hi = max(first, 0), min(last, len(x))
    if hi > lo:
        segment[lo - first : hi - first] = x[lo:hi]
    frames = np.lib.stride_tricks.sliding_window_view(segment, n_fft)[::hop][:n_frames]
    return np.abs(np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1))


def compute(
    x: np.ndarray, sample_rate: int, db_range: float = 80.0, log_frequency: bool = False,
    reference: float | None = None, span: tuple[int, int] | None = None, columns: int | None = None,
) -> Spectrogram:
    """Spectrogram of `x` (of samples span = (start, stop), the whole signal by default, in at most about
    `columns` frames) in dB relative to `reference` (its own peak magnitude when None), floored at -db_range."""
    n_fft = window_size(sample_rate)
    start, stop = span or (0, len(x))
    hop = frame_hop(n_fft, start, stop, columns)
    mag = stft_magnitude(x, n_fft, hop, start, stop)
    peak = reference if reference is not None else float(mag.max(initial=0.0))
    levels = 20.0 * np.log10(np.maximum(mag, 1e-12) / max(peak, 1e-12))
    levels = np.clip(levels, -db_range, 0.0).astype(np.float32)
    nyquist = sample_rate / 2.0
    begin, duration = (start - hop / 2) / sample_rate, levels.shape[0] * hop / sample_rate
    if span is None:  # the whole clip: the image spans exactly its duration
        begin, duration = 0.0, len(x) / sample_rate
    if not log_frequency:
        return Spectrogram(levels, duration, 0.0, nyquist, False, begin)
    freqs = np.linspace(0.0, nyquist, levels.shape[1])
    log_axis = np.linspace(np.log10(LOG_MIN_HZ), np.log10(nyquist), levels.shape[1])
    # Linear interpolation between FFT bins onto log-spaced rows, one column index map for all frames.
    position = np.interp(10.0**log_axis, freqs, np.arange(len(freqs)))
    lo = np.floor(position).astype(int)
    hi = np.minimum(lo + 1, len(freqs) - 1)
    frac = (position - lo).astype(np.float32)
    warped = levels[:, lo] * (1.0 - frac) + levels[:, hi] * frac
    return Spectrogram(warped, duration, float(log_axis[0]), float(log_axis[-1]), True, begin)


def peak_magnitude(x: np.ndarray, sample_rate: int) -> float:
    """Peak STFT magnitude of `x`, used as the common 0 dB so related spectrograms share one colour scale; long
    signals are transformed a batch of frames at a time."""
    n_fft = window_size(sample_rate)
    hop = n_fft // 4
    step = PEAK_CHUNK * hop
    peak = 0.0
    for start in range(0, max(len(x), 1), step):
        stop = min(start + step - hop, len(x))  # the last centre of this batch; the next batch starts one hop on
        peak = max(peak, float(stft_magnitude(x, n_fft, hop, start, max(stop, start)).max(initial=0.0)))
    return peak


def frame_distance(
    ref: np.ndarray, deg: np.ndarray, sample_rate: int, floor_db: float = 80.0, reference: float | None = None,
    span: tuple[int, int] | None = None, columns: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame log-spectral distance in dB (RMS over bins) and frame centre times, on the frames `compute` uses
    for the same span and columns; levels floored at -floor_db.

    The floor is relative to the reference's peak (`reference`, else the peak of these frames of `ref`), so silent
    stretches do not blow up into large distances.
    """
    n_fft = window_size(sample_rate)
    start, stop = span or (0, len(ref))
    hop = frame_hop(n_fft, start, stop, columns)
    a, b = stft_magnitude(ref, n_fft, hop, start, stop), stft_magnitude(deg, n_fft, hop, start, stop)
    peak = reference if reference is not None else float(a.max(initial=0.0))
    floor = max(peak, 1e-12) * 10.0 ** (-floor_db / 20.0)
    la, lb = 20.0 * np.log10(np.maximum(a, floor)), 20.0 * np.log10(np.maximum(b, floor))
    distance = np.sqrt(np.mean((la - lb) ** 2, axis=1)).astype(np.float32)
    return distance, (start + np.arange(len(distance)) * hop) / sample_rate
