"""Checks on a (reference, decoded) pair before any metric: rates, delay, length, clipping, DC, silence, NaN.

`check_pair` brings the decoded audio to the reference's rate (explicitly, with the project's resampler),
estimates the delay by cross-correlation (over the lags up to `MAX_DELAY_S` only, a block at a time, so a long
clip costs a few copies of itself and no more), compensates it when the estimate is trustworthy, and says when
intrusive metrics must be refused instead of computed on misaligned signals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from codec.audio import RESAMPLER, resample

MAX_DELAY_S = 0.25  # codecs in the registry add at most tens of ms; larger lags are not searched
MIN_CORRELATION = 0.6  # waveform cross-correlation needed to trust a waveform lag (waveform codecs >= 0.79, Codec2 <= 0.41)
MIN_ENVELOPE_CORRELATION = 0.5  # same for the log-energy envelope (the fallback for parametric codecs)
ENVELOPE_HOP_S = 0.002
ENVELOPE_TOLERANCE_S = 0.005  # an energy-envelope lag within this of zero counts as "no delay" (Codec2: <= 4 ms)
CLIP_LEVEL = 0.999
CLIP_FRACTION = 0.001  # more than 0.1 % of samples at full scale is reported as clipping
DC_LEVEL = 0.01
SILENCE_DBFS = -60.0


@dataclass
class Sanity:
    """What the checks found for one pair; `refuse` is non-empty when intrusive metrics must not run."""

    ref_rate: int
    deg_rate: int
    resampled: str  # "" or e.g. "22050 -> 16000 Hz (soxr VHQ)"
    ref_samples: int
    deg_samples: int
    length_mismatch_samples: int  # decoded minus reference, at the reference rate, before trimming
    delay_samples: int  # positive: the decoded audio lags the reference
    delay_method: str  # "waveform" or "envelope"
    delay_confidence: float  # peak normalised cross-correlation (of waveforms or envelopes, per delay_method), 0..1
    delay_compensated: bool
    ref_clipped_fraction: float
    deg_clipped_fraction: float
    ref_dc: float
    deg_dc: float
    ref_rms_dbfs: float
    deg_rms_dbfs: float
    ref_silent: bool
    deg_silent: bool
    deg_nonfinite: int
    refuse: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain dict for result rows."""
        return asdict(self)


BLOCK = 2**16  # samples (or envelope frames) handled at once: the checks' memory is a few blocks on any length


def _sum_squares(x: np.ndarray, mean: float = 0.0) -> float:
    """Sum of (x - mean)**2 in float64, a block at a time (no float64 copy of the whole signal)."""
    return float(sum(np.dot(block, block) for block in
                     (x[i:i + BLOCK].astype(np.float64) - mean for i in range(0, len(x), BLOCK))))


def _rms_dbfs(x: np.ndarray) -> float:
    rms = float(np.sqrt(_sum_squares(x) / len(x))) if len(x) else 0.0
    return 20.0 * np.log10(max(rms, 1e-10))


def _xcorr(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[int, float]:
    """Lag of b relative to a (b[n + lag] ~ a[n]), |lag| <= max_lag, maximising the cross-correlation of the
    zero-mean signals, and its normalised peak. Only those lags are computed, a block of `a` at a time against its
    stretch of `b` (zero beyond b's ends, as in a full correlation), so memory stays bounded on any length."""
    from scipy.signal import correlate

    lo_lag, hi_lag = -min(max_lag, len(a) - 1), min(max_lag, len(b) - 1)
    mean_a, mean_b = float(np.mean(a, dtype=np.float64)), float(np.mean(b, dtype=np.float64))
    sums = np.zeros(hi_lag - lo_lag + 1)
    for i in range(0, len(a), BLOCK):
        piece = a[i:i + BLOCK].astype(np.float64) - mean_a
        start, stop = i + lo_lag, i + len(piece) + hi_lag  # b[start:stop] meets this piece at every lag
        stretch = np.zeros(stop - start)
        inside = b[max(start, 0):min(stop, len(b))].astype(np.float64) - mean_b
        stretch[max(start, 0) - start:max(start, 0) - start + len(inside)] = inside
        sums += correlate(stretch, piece, mode="valid", method="fft")
    k = int(np.argmax(np.abs(sums)))
    norm = float(np.sqrt(_sum_squares(a, mean_a) * _sum_squares(b, mean_b)))
    return lo_lag + k, (abs(float(sums[k])) / norm if norm > 0 else 0.0)


def _envelope(x: np.ndarray, hop: int) -> np.ndarray:
    """Log energy of consecutive frames of `hop` samples, computed a block of frames at a time."""
    n, rows = len(x) // hop, max(1, BLOCK // hop)
    out = np.empty(n)
    for r in range(0, n, rows):
        frames = x[r * hop:min(n, r + rows) * hop].reshape(-1, hop).astype(np.float64)
        out[r:r + len(frames)] = np.log10(np.mean(frames**2, axis=1) + 1e-8)
    return out


def estimate_delay(ref: np.ndarray, deg: np.ndarray, sr: int, max_delay_s: float = MAX_DELAY_S) -> tuple[int, float]:
    """Delay of `deg` behind `ref` in samples (same rate) by waveform cross-correlation, and its confidence 0..1."""
    return _xcorr(np.asarray(ref), np.asarray(deg), int(max_delay_s * sr))


def shift(deg: np.ndarray, delay: int) -> np.ndarray:
    """Undo a delay of `delay` samples (positive: deg lags), keeping the length; the gap is zero-filled."""
    if delay == 0:
        return deg
    out = np.zeros_like(deg)
    if delay > 0:
        out[: len(deg) - delay] = deg[delay:]
    else:
        out[-delay:] = deg[: len(deg) + delay]
    return out


@dataclass
class _Alignment:
    """How the decoded audio was aligned: its delay, how it was found, and whether it was compensated."""

    fitted: np.ndarray  # the decoded audio at the reference's rate and length, shifted when compensated
    delay: int = 0
    confidence: float = 0.0
    method: str = "waveform"
    compensated: bool = False
    refuse: str = ""


def check_pair(
    ref: np.ndarray, ref_rate: int, deg: np.ndarray, deg_rate: int, align_to: np.ndarray | None = None
) -> tuple[Sanity, np.ndarray]:
    """Run every check; return the findings and the decoded audio at the reference rate, aligned and trimmed.

    `align_to` (at the reference rate, as long as it): what the decoded audio is aligned with instead of `ref`. A
    codec fed a conditioned input (codec.conditions) is aligned with that input: the conditions add no delay, so
    this finds the codec's own, where heavy noise or reverberation hides it from a comparison with the clean clip.
    """
    ref = np.asarray(ref, dtype=np.float32)
    target = ref if align_to is None else np.asarray(align_to, dtype=np.float32)
    deg = np.asarray(deg, dtype=np.float32)
    warnings: list[str] = []
    nonfinite = int(np.count_nonzero(~np.isfinite(deg)))
    resampled = ""
    if deg_rate != ref_rate:
        resampled = f"{deg_rate} -> {ref_rate} Hz ({RESAMPLER})"
        warnings.append(f"decoded audio at {deg_rate} Hz resampled to the reference's {ref_rate} Hz")
    deg_clean = np.nan_to_num(deg, nan=0.0, posinf=0.0, neginf=0.0) if nonfinite else deg
    deg_at_ref = resample(deg_clean, deg_rate, ref_rate)
    mismatch = len(deg_at_ref) - len(ref)
    if abs(mismatch) > 0.01 * ref_rate:
        warnings.append(f"length differs by {mismatch / ref_rate * 1000:+.0f} ms; decoded audio trimmed/padded")
    deg_fit = np.zeros_like(ref)
    deg_fit[: min(len(ref), len(deg_at_ref))] = deg_at_ref[: len(ref)]

    ref_silent = bool(_rms_dbfs(ref) < SILENCE_DBFS)
    deg_silent = bool(_rms_dbfs(deg_fit) < SILENCE_DBFS)
    if nonfinite:
        aligned = _Alignment(deg_fit, refuse=f"decoded audio holds {nonfinite} NaN/infinite samples")
    elif ref_silent or deg_silent:
        warnings.append("reference is silent" if ref_silent else "decoded audio is silent")
        aligned = _Alignment(deg_fit)
    else:
        aligned = _align(target, deg_fit, ref_rate, "reference" if align_to is None else "codec input", warnings)
    ref_clipped, deg_clipped = _level_warnings(ref, deg_clean, warnings)
    sanity = Sanity(
        ref_rate=int(ref_rate),
        deg_rate=int(deg_rate),
        resampled=resampled,
        ref_samples=len(ref),
        deg_samples=len(deg),
        length_mismatch_samples=int(mismatch),
        delay_samples=int(aligned.delay),
        delay_method=aligned.method,
        delay_confidence=round(aligned.confidence, 4),
        delay_compensated=aligned.compensated,
        ref_clipped_fraction=ref_clipped,
        deg_clipped_fraction=deg_clipped,
        ref_dc=float(np.mean(ref)),
        deg_dc=float(np.mean(deg_clean)),
        ref_rms_dbfs=round(float(_rms_dbfs(ref)), 2),
        deg_rms_dbfs=round(float(_rms_dbfs(aligned.fitted)), 2),
        ref_silent=ref_silent,
        deg_silent=deg_silent,
        deg_nonfinite=nonfinite,
        refuse=aligned.refuse,
        warnings=warnings,
    )
    return sanity, aligned.fitted


def _align(target: np.ndarray, deg_fit: np.ndarray, rate: int, target_name: str, warnings: list[str]) -> _Alignment:
    """Find the decoded audio's delay behind `target` (by waveform, else by energy envelope) and compensate it
    when the estimate is trustworthy; refuse the pair when neither correlates enough."""
    delay, confidence = estimate_delay(target, deg_fit, rate)
    if delay != 0 and confidence >= MIN_CORRELATION:
        warnings.append(f"delay of {delay} samples ({delay / rate * 1000:.1f} ms) compensated")
        return _Alignment(shift(deg_fit, delay), delay, confidence, compensated=True)
    if confidence >= MIN_CORRELATION:
        return _Alignment(deg_fit, delay, confidence)
    # Parametric codecs (Codec2, LFSC) do not keep the waveform: align on the energy envelope instead.
    hop = max(1, int(ENVELOPE_HOP_S * rate))
    env_lag, env_confidence = _xcorr(_envelope(target, hop), _envelope(deg_fit, hop), int(MAX_DELAY_S / ENVELOPE_HOP_S))
    refuse = ""
    if env_confidence < MIN_ENVELOPE_CORRELATION:
        refuse = (f"cannot align the decoded audio with the {target_name} (waveform and envelope correlations "
                  f"{confidence:.2f}/{env_confidence:.2f} too low)")
    delay = env_lag * hop if abs(env_lag * hop) > ENVELOPE_TOLERANCE_S * rate else 0
    if delay and not refuse:
        warnings.append(f"delay of about {delay / rate * 1000:.0f} ms compensated (energy envelope)")
        return _Alignment(shift(deg_fit, delay), delay, env_confidence, "envelope", True)
    return _Alignment(deg_fit, delay, env_confidence, "envelope", refuse=refuse)


def _level_warnings(ref: np.ndarray, deg: np.ndarray, warnings: list[str]) -> tuple[float, float]:
    """Warn of clipping and DC offsets in either signal; the fractions of clipped samples."""
    ref_clipped = float(np.mean(np.abs(ref) >= CLIP_LEVEL))
    deg_clipped = float(np.mean(np.abs(deg) >= CLIP_LEVEL))
    for what, fraction in (("reference", ref_clipped), ("decoded audio", deg_clipped)):
        if fraction > CLIP_FRACTION:
            warnings.append(f"{what} clipped on {fraction:.2%} of samples")
    for what, dc in (("reference", float(np.mean(ref))), ("decoded audio", float(np.mean(deg)))):
        if abs(dc) > DC_LEVEL:
            warnings.append(f"{what} has a DC offset of {dc:+.3f}")
    return ref_clipped, deg_clipped
