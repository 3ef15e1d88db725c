"""Spectrograms for display: a numpy STFT in dB below the peak, with an optional log-frequency axis."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOG_MIN_HZ = 50.0  # lowest frequency shown on the log axis; speech has little below it


@dataclass
class Spectrogram:
    """Levels in dB (time x frequency, 0 dB = loudest bin, floor = -db_range) and the extents they cover."""

    levels: np.ndarray
    duration: float
    f_low: float  # Hz, or log10(Hz) when log_frequency
    f_high: float
    log_frequency: bool


def window_size(sample_rate: int) -> int:
    """FFT size: the power of two nearest to a 32 ms window, which resolves speech harmonics and formants."""
    return int(2 ** round(np.log2(0.032 * sample_rate)))


def stft_magnitude(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Magnitude STFT with a Hann window (frames x bins); the signal is zero-padded to whole frames."""
    x = np.asarray(x, dtype=np.float32)
    pad = n_fft // 2
    x = np.pad(x, (pad, pad + (-(len(x)) % hop)))
    n_frames = 1 + (len(x) - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop][:n_frames]
    return np.abs(np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1))


def compute(
    x: np.ndarray, sample_rate: int, db_range: float = 80.0, log_frequency: bool = False, reference: float | None = None
) -> Spectrogram:
    """Spectrogram of `x` in dB relative to `reference` (its own peak magnitude when None), floored at -db_range."""
    n_fft = window_size(sample_rate)
    hop = n_fft // 4
    mag = stft_magnitude(x, n_fft, hop)
    peak = reference if reference is not None else float(mag.max(initial=0.0))
    levels = 20.0 * np.log10(np.maximum(mag, 1e-12) / max(peak, 1e-12))
    levels = np.clip(levels, -db_range, 0.0).astype(np.float32)
    nyquist = sample_rate / 2.0
    duration = len(x) / sample_rate
    if not log_frequency:
        return Spectrogram(levels, duration, 0.0, nyquist, False)
    freqs = np.linspace(0.0, nyquist, levels.shape[1])
    log_axis = np.linspace(np.log10(LOG_MIN_HZ), np.log10(nyquist), levels.shape[1])
    # Linear interpolation between FFT bins onto log-spaced rows, one column index map for all frames.
    position = np.interp(10.0**log_axis, freqs, np.arange(len(freqs)))
    lo = np.floor(position).astype(int)
    hi = np.minimum(lo + 1, len(freqs) - 1)
    frac = (position - lo).astype(np.float32)
    warped = levels[:, lo] * (1.0 - frac) + levels[:, hi] * frac
    return Spectrogram(warped, duration, float(log_axis[0]), float(log_axis[-1]), True)


def peak_magnitude(x: np.ndarray, sample_rate: int) -> float:
    """Peak STFT magnitude of `x`, used as the common 0 dB so related spectrograms share one colour scale."""
    n_fft = window_size(sample_rate)
    return float(stft_magnitude(x, n_fft, n_fft // 4).max(initial=0.0))


def frame_distance(
    ref: np.ndarray, deg: np.ndarray, sample_rate: int, floor_db: float = 80.0
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame log-spectral distance in dB (RMS over bins) and frame centre times; levels floored at -floor_db.

    The floor is relative to the reference's peak, so silent stretches do not blow up into large distances.
    """
    n_fft = window_size(sample_rate)
    hop = n_fft // 4
    a, b = stft_magnitude(ref, n_fft, hop), stft_magnitude(deg, n_fft, hop)
    floor = max(float(a.max(initial=0.0)), 1e-12) * 10.0 ** (-floor_db / 20.0)
    la, lb = 20.0 * np.log10(np.maximum(a, floor)), 20.0 * np.log10(np.maximum(b, floor))
    distance = np.sqrt(np.mean((la - lb) ** 2, axis=1)).astype(np.float32)
    return distance, np.arange(len(distance)) * hop / sample_rate
