"""Intrusive signal metrics (reference vs decoded), one function each, every one at its own declared rate.

Each function takes the reference and the degraded signal at one common rate `sr` (the sanity step brings the
decoded audio to the reference's rate and aligns it), resamples BOTH explicitly with `codec.audio.resample`
(soxr VHQ, the project's one resampler) to the metric's own rate, and returns one float. A metric that cannot
be computed raises `MetricError` with the reason; callers record it as missing, never as a fake value.

The GUI, the CLI and the batch runner all call `compute(name, ref, deg, sr)`; `METRICS` describes each one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from codec.audio import resample


class MetricError(Exception):
    """A metric could not be computed for this pair of signals; the message is the reason recorded in reports."""


@dataclass(frozen=True)
class MetricSpec:
    """What a metric measures and how to read it."""

    name: str
    label: str
    rate: int  # both signals are resampled to this rate before the metric runs
    range: tuple[float, float]  # the metric's possible (or practical, for unbounded ones) range
    higher_is_better: bool
    function: Callable[[np.ndarray, np.ndarray, int], float]
    needs_model: bool
    version: str  # bump when the computation changes, so cached values are recomputed
    description: str


def _at(x: np.ndarray, sr: int, rate: int) -> np.ndarray:
    return resample(np.asarray(x, dtype=np.float32), sr, rate).astype(np.float64)


def _pair(ref: np.ndarray, deg: np.ndarray, sr: int, rate: int) -> tuple[np.ndarray, np.ndarray]:
    ref_r, deg_r = _at(ref, sr, rate), _at(deg, sr, rate)
    n = min(len(ref_r), len(deg_r))
    if n == 0:
        raise MetricError("empty signal")
    return ref_r[:n], deg_r[:n]


def _require_sound(ref: np.ndarray, what: str) -> None:
    # PESQ and STOI return meaningless numbers (not errors) on a silent reference
    if float(np.max(np.abs(ref))) < 1e-4:
        raise MetricError(f"{what}: the reference is silent (peak below -80 dBFS)")


def _pesq(ref: np.ndarray, deg: np.ndarray, sr: int, rate: int, mode: str) -> float:
    from pesq import pesq
    from pesq import PesqError

    ref_r, deg_r = _pair(ref, deg, sr, rate)
    if len(ref_r) < rate // 4:
        raise MetricError(f"PESQ needs at least 0.25 s of audio, got {len(ref_r) / rate:.3f} s")
    _require_sound(ref_r, "PESQ")
    try:
        with np.errstate(all="ignore"):
            return float(pesq(rate, ref_r, deg_r, mode))
    except PesqError as exc:  # e.g. NoUtterancesError on silence
        raise MetricError(f"PESQ failed: {type(exc).__name__}") from None


def pesq_wb(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """PESQ wide-band (ITU-T P.862.2) MOS-LQO at 16 kHz via the `pesq` package."""
    return _pesq(ref, deg, sr, 16000, "wb")


def pesq_nb(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """PESQ narrow-band (ITU-T P.862 + P.862.1 mapping) MOS-LQO at 8 kHz via the `pesq` package."""
    return _pesq(ref, deg, sr, 8000, "nb")


def _stoi(ref: np.ndarray, deg: np.ndarray, sr: int, extended: bool) -> float:
    from pystoi import stoi as pystoi_stoi

    ref_r, deg_r = _pair(ref, deg, sr, 10000)
    _require_sound(ref_r, "STOI")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(pystoi_stoi(ref_r, deg_r, 10000, extended=extended))
    # pystoi returns a placeholder 1e-5 (with a warning) when too few non-silent frames remain
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        raise MetricError("STOI: too few non-silent frames (needs about 0.4 s of speech)")
    return value


def stoi(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """Short-time objective intelligibility (Taal 2011) via `pystoi`, at its native 10 kHz."""
    return _stoi(ref, deg, sr, extended=False)


def estoi(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """Extended STOI (Jensen & Taal 2016) via `pystoi`, at its native 10 kHz."""
    return _stoi(ref, deg, sr, extended=True)


def si_sdr(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """Scale-invariant SDR in dB (Le Roux 2019, zero-mean signals) at 22.05 kHz, the LFSC model card's rate."""
    ref_r, deg_r = _pair(ref, deg, sr, 22050)
    ref_r = ref_r - ref_r.mean()
    deg_r = deg_r - deg_r.mean()
    energy = float(np.dot(ref_r, ref_r))
    if energy <= 1e-12:
        raise MetricError("SI-SDR: the reference is silent")
    target = (np.dot(deg_r, ref_r) / energy) * ref_r
    noise = deg_r - target
    noise_energy = max(float(np.dot(noise, noise)), 1e-20)
    return float(10.0 * np.log10(max(float(np.dot(target, target)), 1e-20) / noise_energy))


# NeMo LFSC training resolutions [n_fft, hop, win] and mel bins (lfsc_spec.md §5.1)
RESOLUTIONS = ((32, 8, 32), (64, 16, 64), (128, 32, 128), (256, 64, 256), (512, 128, 512), (1024, 256, 1024), (2048, 512, 2048))
MEL_BINS = (5, 10, 20, 40, 80, 160, 320)
_MAG_GUARD = 1e-5  # NeMo adds it under the square root of |X|^2 in both losses


def _magnitude(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT| as torch.stft(center=True, pad_mode='reflect', symmetric Hann, onesided): [frames, bins]."""
    pad = n_fft // 2
    if len(x) <= pad:
        x = np.pad(x, (0, pad + 1 - len(x)))
    padded = np.pad(x, (pad, pad), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    spec = np.fft.rfft(frames * np.hanning(n_fft), axis=1)
    return np.sqrt(spec.real**2 + spec.imag**2 + _MAG_GUARD)


def _hz_to_slaney_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's auditory-toolbox mel scale (librosa's default, htk=False): linear below 1 kHz, log above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    logstep = np.log(6.4) / 27.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / logstep, linear)


def _slaney_mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    logstep = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(logstep * (mel - 15.0)), mel * (200.0 / 3))


@lru_cache(maxsize=None)
def _mel_basis(n_fft: int, n_mels: int) -> np.ndarray:
    """librosa.filters.mel(sr=22050, n_fft, n_mels, fmin=0, fmax=11025, htk=False, norm=None), in NumPy.

    Re-derived here because importing librosa costs seconds in every worker process; a test checks equality.
    """
    fft_freqs = np.linspace(0.0, 22050 / 2, 1 + n_fft // 2)
    mel_freqs = _slaney_mel_to_hz(np.linspace(_hz_to_slaney_mel(0.0), _hz_to_slaney_mel(11025.0), n_mels + 2))
    fdiff = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    return np.maximum(0.0, np.minimum(lower, upper)).astype(np.float32)


def mel_distance(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """NeMo's multi-resolution log-mel L1 loss (LFSC training, lfsc_spec.md §5.1) at 22.05 kHz, unweighted."""
    ref_r, deg_r = _pair(ref, deg, sr, 22050)
    total = 0.0
    for (n_fft, hop, _), n_mels in zip(RESOLUTIONS, MEL_BINS):
        basis = _mel_basis(n_fft, n_mels)
        mel_ref = np.log(_magnitude(ref_r, n_fft, hop) @ basis.T + 1.0)
        mel_deg = np.log(_magnitude(deg_r, n_fft, hop) @ basis.T + 1.0)
        total += float(np.mean(np.abs(mel_ref - mel_deg)))
    return total / len(RESOLUTIONS)


def stft_distance(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """NeMo's multi-resolution log-magnitude STFT L1 loss (lfsc_spec.md §5.1) at 22.05 kHz, without the 20x weight."""
    ref_r, deg_r = _pair(ref, deg, sr, 22050)
    total = 0.0
    for n_fft, hop, _ in RESOLUTIONS:
        log_ref = np.log(_magnitude(ref_r, n_fft, hop) + 1.0)
        log_deg = np.log(_magnitude(deg_r, n_fft, hop) + 1.0)
        total += float(np.mean(np.abs(log_ref - log_deg)))
    return total / len(RESOLUTIONS)


def speaker_sim(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """Cosine similarity of speaker embeddings from the active eval.speaker model (GE2E by default), at 16 kHz."""
    from eval.speaker import similarity

    try:
        return similarity(ref, deg, sr)
    except ValueError as exc:
        raise MetricError(str(exc)) from None


def _spec(name, label, rate, rng, hib, fn, version, description, needs_model=False) -> MetricSpec:
    return MetricSpec(name, label, rate, rng, hib, fn, needs_model, version, description)


METRICS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        _spec("pesq_wb", "PESQ-WB", 16000, (1.04, 4.64), True, pesq_wb, "pesq-0.0.4/1", "ITU-T P.862.2 wide-band MOS-LQO"),
        _spec("pesq_nb", "PESQ-NB", 8000, (1.02, 4.55), True, pesq_nb, "pesq-0.0.4/1", "ITU-T P.862 narrow-band MOS-LQO"),
        _spec("stoi", "STOI", 10000, (0.0, 1.0), True, stoi, "pystoi-0.4.1/1", "short-time objective intelligibility"),
        _spec("estoi", "ESTOI", 10000, (0.0, 1.0), True, estoi, "pystoi-0.4.1/1", "extended STOI"),
        _spec("si_sdr", "SI-SDR (dB)", 22050, (-np.inf, np.inf), True, si_sdr, "1", "scale-invariant signal-to-distortion ratio (unbounded)"),
        _spec("mel_distance", "Mel distance", 22050, (0.0, 5.0), False, mel_distance, "nemo-mel-l1/1",
              "NeMo multi-resolution log-mel L1 loss (7 resolutions), as on the LFSC model card"),
        _spec("stft_distance", "STFT distance", 22050, (0.0, 5.0), False, stft_distance, "nemo-stft-l1/1",
              "NeMo multi-resolution log-magnitude STFT L1 loss (7 resolutions), as on the LFSC model card"),
        _spec("speaker_sim", "Speaker similarity", 16000, (-1.0, 1.0), True, speaker_sim, "ge2e/1",
              "cosine of speaker embeddings (GE2E, resemblyzer 0.1.4, unless another model is plugged in)", needs_model=True),
    )
}

FAST_METRICS: tuple[str, ...] = ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "mel_distance", "stft_distance")


def compute(name: str, ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """Compute metric `name` on an aligned (ref, deg) pair at rate `sr`; raises MetricError with the reason."""
    spec = METRICS.get(name)
    if spec is None:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    value = spec.function(ref, deg, sr)
    if not np.isfinite(value):
        raise MetricError(f"{spec.label} is not finite")
    return value
