"""Sub-sample delay measurement, used to calibrate and to prove the codecs' delay compensation."""

from __future__ import annotations

import numpy as np


def measure_delay(reference: np.ndarray, decoded: np.ndarray, max_lag: int) -> tuple[float, float]:
    """Lag of `decoded` behind `reference` in samples (same rate), refined between samples by a parabola through
    the cross-correlation peak, and the peak's normalised correlation (0..1)."""
    reference = np.asarray(reference, dtype=np.float64)
    decoded = np.asarray(decoded, dtype=np.float64)
    nfft = 1 << int(np.ceil(np.log2(len(reference) + len(decoded))))
    full = np.fft.irfft(np.fft.rfft(decoded, nfft) * np.conj(np.fft.rfft(reference, nfft)), nfft)
    lags = np.arange(-max_lag, max_lag + 1)
    window = full[lags % nfft]
    k = int(np.argmax(window))
    offset = 0.0
    if 0 < k < len(window) - 1:
        before, peak, after = window[k - 1 : k + 2]
        curvature = before - 2.0 * peak + after
        offset = 0.5 * (before - after) / curvature if curvature < 0 else 0.0
    norm = np.sqrt(np.dot(reference, reference) * np.dot(decoded, decoded))
    return float(lags[k] + offset), float(window[k] / norm) if norm > 0 else 0.0


def measure_envelope_delay(reference: np.ndarray, decoded: np.ndarray, sample_rate: int, max_lag: int) -> float:
    """Lag of `decoded` behind `reference` in samples by cross-correlating their log-energy envelopes (20 ms Hann
    smoothing): the only delay defined for parametric codecs such as Codec2, which do not keep the waveform.
    It scatters by tens of samples from one utterance to the next; take a median over several."""
    return measure_delay(_log_envelope(reference, sample_rate), _log_envelope(decoded, sample_rate), max_lag)[0]


def _log_envelope(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    window = np.hanning(sample_rate // 50)
    energy = np.convolve(np.square(audio, dtype=np.float64), window / window.sum(), mode="same")
    envelope = np.log(energy + 1e-6)
    return envelope - envelope.mean()
