"""Signal processing shared by the codecs and the input conditions: the active speech level and a zero-phase band
filter. numpy only."""

from __future__ import annotations

import numpy as np

ACTIVE_FRAME_S = 0.02  # level: frames within ACTIVE_RANGE_DB of the loudest count as speech
ACTIVE_RANGE_DB = 40.0


def active_level_db(audio: np.ndarray, sample_rate: int) -> float:
    """RMS level in dBFS of the active frames (20 ms frames within 40 dB of the loudest; a simplified ITU-T P.56) of
    a signal that is not all zeros."""
    frame = max(1, round(ACTIVE_FRAME_S * sample_rate))
    padded = np.zeros(-(-len(audio) // frame) * frame)  # the last frame zero-padded, not dropped
    padded[: len(audio)] = audio
    power = np.mean(np.reshape(padded**2, (-1, frame)), axis=1)
    active = power[power >= power.max() * 10 ** (-ACTIVE_RANGE_DB / 10)]
    return float(10 * np.log10(active.mean()))


def band_filter(audio: np.ndarray, sample_rate: int, low: float, high: float, transition: float = 0.05) -> np.ndarray:
    """Zero-phase band-pass by one zero-padded FFT: flat from `low` to `high`, raised-cosine edges `transition` of
    each edge frequency wide, nothing below `low` (1 - transition) or above `high` (1 + transition); `low=0` is a
    low-pass. Float64, as long as the input."""
    audio = np.asarray(audio, dtype=np.float64)
    n = len(audio)
    nfft = 1 << int(np.ceil(np.log2(n + int(0.05 * sample_rate) + 1)))  # padding against wrap-around of the ringing
    freqs = np.fft.rfftfreq(nfft, 1.0 / sample_rate)
    gain = 0.5 * (1.0 + np.cos(np.pi * np.clip((freqs - high) / (high * transition), 0.0, 1.0)))
    if low > 0:
        gain *= 0.5 * (1.0 + np.cos(np.pi * np.clip((low - freqs) / (low * transition), 0.0, 1.0)))
    return np.fft.irfft(np.fft.rfft(audio, nfft) * gain, nfft)[:n]
