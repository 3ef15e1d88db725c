"""Intrusive signal metrics (reference vs decoded), one function each, every one at its own declared rate.

Each function takes the reference and the degraded signal at one common rate `sr` (the sanity step brings the
decoded audio to the reference's rate and aligns it), resamples BOTH explicitly with `codec.audio.resample`
(soxr VHQ, the project's one resampler) to the metric's own rate, and returns one float. A metric that cannot
be computed raises `MetricError` with the reason; callers record it as missing, never as a fake value.

The GUI, the CLI and the batch runner all call `compute(name, ref, deg, sr)`; `METRICS` describes each one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from codec.audio import resample
from eval import native_calls
from eval.interruptible import checkpoint


def package_version(package: str) -> str:
    """The installed version of a distribution package, or "not installed" (cache keys and run manifests)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


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


def _require_sound(x: np.ndarray, what: str, signal: str = "reference") -> None:
    # PESQ, STOI and DistillMOS return meaningless numbers (not errors) on silence
    if len(x) == 0 or float(np.max(np.abs(x))) < 1e-4:
        raise MetricError(f"{what}: the {signal} is silent (peak below -80 dBFS)")


PESQ_PIECE_S = 30.0  # ITU-T P.862.3 §7.1: reference files of 8 to 30 s; the C code holds at most 50 utterances
PESQ_CUT_FRAME_S = 0.1  # pieces are cut in the middle of the reference's quietest 100 ms


def _pesq_pieces(ref: np.ndarray, rate: int) -> list[tuple[int, int]]:
    """(start, end) of the pieces PESQ scores one by one: the whole signal up to `PESQ_PIECE_S`; a longer one is
    cut into pieces of half to all of that length, each cut in the quietest 100 ms of the reference (a pause)."""
    n, limit, frame = len(ref), int(PESQ_PIECE_S * rate), int(PESQ_CUT_FRAME_S * rate)
    cuts = [0]
    while n - cuts[-1] > limit:
        lo = cuts[-1] + limit // 2
        hi = max(min(cuts[-1] + limit, n - limit // 2), lo + frame)  # the rest is at least about half a piece
        energy = np.convolve(np.square(ref[lo:hi]), np.ones(frame), mode="valid")
        cuts.append(lo + int(np.argmin(energy)) + frame // 2)
    return list(zip(cuts, [*cuts[1:], n]))


def _pesq(ref: np.ndarray, deg: np.ndarray, sr: int, rate: int, mode: str) -> float:
    """MOS-LQO of the pair; beyond `PESQ_PIECE_S` the duration-weighted mean over pieces cut at pauses, as
    P.862.3 §10.1 averages files (pieces of a long clip that are silent or hold no utterance are left out)."""
    from pesq import NoUtterancesError, PesqError, pesq

    ref_r, deg_r = _pair(ref, deg, sr, rate)
    if len(ref_r) < rate // 4:
        raise MetricError(f"PESQ needs at least 0.25 s of audio, got {len(ref_r) / rate:.3f} s")
    _require_sound(ref_r, "PESQ")
    pieces = _pesq_pieces(ref_r, rate)
    values, weights = [], []
    for start, end in pieces:
        checkpoint()
        if len(pieces) > 1 and float(np.max(np.abs(ref_r[start:end]))) < 1e-4:
            continue
        try:
            with np.errstate(all="ignore"):
                values.append(float(native_calls.call(pesq, rate, ref_r[start:end], deg_r[start:end], mode)))
            weights.append(end - start)
        except PesqError as exc:  # e.g. NoUtterancesError on silence
            if len(pieces) == 1 or not isinstance(exc, NoUtterancesError):
                raise MetricError(f"PESQ failed: {type(exc).__name__}") from None
    if not values:
        raise MetricError("PESQ: no piece of the clip holds an utterance")
    return float(np.average(values, weights=weights))


def pesq_wb(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """PESQ wide-band (ITU-T P.862.2) MOS-LQO at 16 kHz via the `pesq` package."""
    return _pesq(ref, deg, sr, 16000, "wb")


def pesq_nb(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """PESQ narrow-band (ITU-T P.862 + P.862.1 mapping) MOS-LQO at 8 kHz via the `pesq` package."""
    return _pesq(ref, deg, sr, 8000, "nb")


STOI_MIN_SAMPLES = 30 * 128 + 256  # 30 frames (its intelligibility window) of 256 samples, hop 128, at 10 kHz


def _stoi(ref: np.ndarray, deg: np.ndarray, sr: int, extended: bool) -> float:
    from eval.stoi import stoi as bounded_stoi

    ref_r, deg_r = _pair(ref, deg, sr, 10000)
    if len(ref_r) < STOI_MIN_SAMPLES:
        raise MetricError(f"STOI needs at least {STOI_MIN_SAMPLES / 10000:.2f} s of audio, got {len(ref_r) / 10000:.3f} s")
    _require_sound(ref_r, "STOI")
    value = bounded_stoi(ref_r, deg_r, extended=extended)
    if value is None:
        raise MetricError("STOI: too few non-silent frames (needs about 0.4 s of speech)")
    return value


def stoi(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """Short-time objective intelligibility (Taal 2011), pystoi's in bounded memory (eval.stoi), at 10 kHz."""
    return _stoi(ref, deg, sr, extended=False)


def estoi(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """Extended STOI (Jensen & Taal 2016), pystoi's in bounded memory (eval.stoi), at 10 kHz."""
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


@lru_cache(maxsize=None)
def _nemo_losses(device: str = "cpu"):
    """NeMo's mel and STFT reconstruction losses, the very modules training uses, in float64 on `device`."""
    from codec.lfsc.spectral_losses import NEMO_MEL_DIMS, NEMO_RESOLUTIONS, MultiResolutionMelLoss, MultiResolutionSTFTLoss

    mel = MultiResolutionMelLoss(22050, NEMO_RESOLUTIONS, NEMO_MEL_DIMS, log_guard=1.0).double().to(device)
    return mel, MultiResolutionSTFTLoss(NEMO_RESOLUTIONS, log_guard=1.0).double().to(device)


SPECTRAL_CHUNK = 2**20  # samples (47 s at 22.05 kHz) whose frames the mel/STFT distances compute at once
_SPECTRAL: dict[str, tuple[float, float]] = {}  # the last few pairs' (mel, STFT) distances, by content digest


def _log_spectrograms(i: int, device: str) -> tuple[Callable, Callable]:
    """|STFT| [1, bins, frames] -> the log spectrograms of NeMo's mel and STFT losses at resolution i."""
    import torch

    mel, stft = _nemo_losses(device)
    fb = getattr(mel, f"fb_{i}")
    return (lambda mag: torch.log(fb @ mag + mel.log_guard)), (lambda mag: torch.log(mag + stft.log_guard))


def _frames_l1(i: int, ref, deg) -> tuple[float, float]:
    """Both losses' masked L1 at resolution i (mean over frames of the mean |difference| over bins), from one
    magnitude spectrogram per signal (the two losses' windows are equal), its centred frames computed
    `SPECTRAL_CHUNK` samples at a time: each chunk of frames gets n_fft samples of context on both sides (and the
    signal's own reflected edges at its ends), so every frame is the whole signal's."""
    from codec.lfsc.spectral_losses import magnitude

    mel = _nemo_losses(ref.device.type)[0]
    n_fft, hop, _ = mel.resolutions[i]
    window = getattr(mel, f"window_{i}")
    n = ref.shape[-1]
    frames, step = n // hop + 1, SPECTRAL_CHUNK // hop
    totals = [0.0, 0.0]
    for f0 in range(0, frames, step):
        checkpoint()
        f1 = min(f0 + step, frames)
        a, b = max(0, f0 * hop - n_fft), min(n, (f1 - 1) * hop + n_fft)
        first = f0 - a // hop
        mag_deg, mag_ref = (magnitude(x[None, a:b], n_fft, hop, window) for x in (deg, ref))
        for k, spectrogram in enumerate(_log_spectrograms(i, ref.device.type)):
            diff = spectrogram(mag_deg)[0, :, first:first + f1 - f0] - spectrogram(mag_ref)[0, :, first:first + f1 - f0]
            totals[k] += float(diff.abs().mean(dim=0).sum())
    return totals[0] / frames, totals[1] / frames


def _spectral_device() -> str:
    """Where the spectral distances run: the GPU when there is one."""
    return "cuda" if on_gpu("mel_distance") else "cpu"


def _spectral_distances(ref: np.ndarray, deg: np.ndarray, sr: int) -> tuple[float, float]:
    """NeMo's multi-resolution mel and STFT distances of a pair at 22.05 kHz, computed together (both take the same
    magnitude spectrograms), on the GPU when there is one (`on_gpu`); kept for the last 4 pairs (by digest, not holding the audio), so that the second of
    the two metrics reads what the first computed."""
    import torch

    ref_r, deg_r = _pair(ref, deg, sr, 22050)
    if len(ref_r) <= 1024:  # the 2048-point resolution reflect-pads by 1024 samples
        raise MetricError("too short for the 2048-point resolution (needs more than 1024 samples at 22.05 kHz)")
    key = "".join(hashlib.blake2b(x.data, digest_size=16).hexdigest() for x in (ref_r, deg_r))
    if key not in _SPECTRAL:
        device = _spectral_device()
        count = len(_nemo_losses(device)[0].resolutions)
        with torch.inference_mode():
            ref_t, deg_t = (torch.from_numpy(x).to(device) for x in (ref_r, deg_r))
            per_resolution = [_frames_l1(i, ref_t, deg_t) for i in range(count)]
        _SPECTRAL[key] = (sum(m for m, _ in per_resolution) / count, sum(s for _, s in per_resolution) / count)
    distances = _SPECTRAL[key]
    while len(_SPECTRAL) > 4:  # the app's threads may evict at once
        _SPECTRAL.pop(next(iter(_SPECTRAL), None), None)
    return distances


def mel_distance(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """NeMo's multi-resolution log-mel L1 loss (LFSC training, lfsc_spec.md §5.1) at 22.05 kHz, unweighted."""
    return _spectral_distances(ref, deg, sr)[0]


def stft_distance(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """NeMo's multi-resolution log-magnitude STFT L1 loss (lfsc_spec.md §5.1) at 22.05 kHz, without the 20x weight."""
    return _spectral_distances(ref, deg, sr)[1]


def speaker_sim(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """Cosine similarity of speaker embeddings from the active eval.speaker model (GE2E by default), at 16 kHz."""
    from eval.speaker import similarity

    try:
        return similarity(ref, deg, sr)
    except ValueError as exc:
        raise MetricError(str(exc)) from None


def distill_mos_many(degs: list[tuple[np.ndarray, int]]) -> list[dict]:
    """`distill_mos` of each decoded clip (samples, rate) as {"value": x} or {"missing": why}, the clips rated
    together (eval.mos.predict_many: batched on a GPU)."""
    from eval import mos

    out: list[dict] = [{} for _ in degs]
    audios: dict[int, np.ndarray] = {}
    for i, (deg, sr) in enumerate(degs):
        audio = _at(deg, sr, mos.SAMPLE_RATE)
        try:
            _require_sound(audio, "DistillMOS", "decoded audio")
            audios[i] = audio
        except MetricError as exc:
            out[i] = {"missing": str(exc)}
    try:
        values = mos.predict_many(list(audios.values()))
    except ModuleNotFoundError as exc:  # DistillMOS is an optional install
        return [{"missing": str(exc)} if i in audios else result for i, result in enumerate(out)]
    for i, value in zip(audios, values):
        out[i] = {"value": value} if np.isfinite(value) else {"missing": f"{METRICS['distill_mos'].label} is not finite"}
    return out


def on_gpu(name: str) -> bool:
    """Whether metric `name` runs on a GPU here: it is one of `GPU_METRICS` and PyTorch sees a GPU."""
    from codec.devices import default_device

    return name in GPU_METRICS and default_device() == "cuda"


def distill_mos(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """No-reference MOS (1 to 5) of the decoded audio by DistillMOS at 16 kHz; `ref` is not used."""
    from eval import mos

    audio = _at(deg, sr, mos.SAMPLE_RATE)
    _require_sound(audio, "DistillMOS", "decoded audio")
    try:
        return mos.predict(audio)
    except ModuleNotFoundError as exc:
        raise MetricError(str(exc)) from None


PITCH_RATE = 16000
PITCH_HOP = 160  # 10 ms frames
PITCH_RANGE = (50.0, 600.0)  # Hz: low male to high child voices
PITCH_GRID = 0.2  # semitones between pYIN's pitch candidates: 20 cents, 3x faster than its default 0.1
PITCH_WINDOW_S = 30.0  # pYIN's Viterbi decodes a whole track at once: a longer signal is tracked a window at a time
PITCH_OVERLAP_S = 4.0  # consecutive windows share this; each gives up the half of it nearer the other
# another librosa may track otherwise; /2: signals longer than a window are tracked in windows
PITCH_VERSION = f"pyin-librosa-{package_version('librosa')}-grid{PITCH_GRID}-window{PITCH_WINDOW_S:g}s/2"
MIN_VOICED_FRAMES = 10  # F0 RMSE and correlation need this many frames voiced in both signals


_PITCH_TRACKS: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # the last few signals' tracks, by content digest


def _pyin(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pYIN (librosa) of all of `x`: F0 in Hz (NaN where unvoiced) and voiced flags, one frame per hop."""
    import librosa

    from eval import pitch_viterbi, pyin_trough_prior

    pitch_viterbi.install()  # librosa's Viterbi, bit for bit, about 10x faster and without the GIL
    pyin_trough_prior.install()  # scipy's per-frame prior, bit for bit, from a table
    f0, voiced, _ = librosa.pyin(x, fmin=PITCH_RANGE[0], fmax=PITCH_RANGE[1], sr=PITCH_RATE, frame_length=1024,
                                 hop_length=PITCH_HOP, resolution=PITCH_GRID)
    return f0, voiced


def _windowed_pyin(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pYIN of `x` with memory bounded by one window: a signal up to `PITCH_WINDOW_S` is tracked whole (exactly
    as pYIN tracks it); a longer one in windows overlapping by `PITCH_OVERLAP_S`, each decoded alone, starting on
    the hop grid (so its frames are the whole track's frames) and kept up to the middle of each overlap, where
    every frame lies at least half an overlap from a window's edge. Voicing and F0 then differ from one Viterbi
    pass over the whole track only on a few frames near the joins."""
    window = round(PITCH_WINDOW_S * PITCH_RATE) // PITCH_HOP * PITCH_HOP
    step = round((PITCH_WINDOW_S - PITCH_OVERLAP_S) * PITCH_RATE) // PITCH_HOP * PITCH_HOP
    if len(x) <= window:
        return _pyin(x)
    margin = (window - step) // 2 // PITCH_HOP  # frames a window gives up to each neighbour
    f0s, flags = [], []
    for start in range(0, len(x), step):
        checkpoint()
        f0, voiced = _pyin(x[start:start + window])
        last = start + window >= len(x)
        keep = slice(0 if start == 0 else margin, len(f0) if last else step // PITCH_HOP + margin)
        f0s.append(f0[keep])
        flags.append(voiced[keep])
        if last:
            break
    return np.concatenate(f0s), np.concatenate(flags)


def _pitch_track(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F0 in Hz on a 20-cent grid, NaN where unvoiced; voiced flags) of float64 audio at 16 kHz by pYIN (librosa),
    windowed beyond `PITCH_WINDOW_S`. Kept for the last 4 signals (by digest, not holding the audio), so a pair's
    three pitch metrics and a reference met again for the next codec are tracked once."""
    key = hashlib.blake2b(np.ascontiguousarray(x).data, digest_size=16).hexdigest()  # no copy of x
    if key not in _PITCH_TRACKS:
        _PITCH_TRACKS[key] = _windowed_pyin(x)
    track = _PITCH_TRACKS[key]
    while len(_PITCH_TRACKS) > 4:  # the app's threads may evict at once
        _PITCH_TRACKS.pop(next(iter(_PITCH_TRACKS), None), None)
    return track


def _pitch_pair(ref: np.ndarray, deg: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pitch tracks of both signals, frame-aligned: (f0 ref, f0 deg, voiced ref, voiced deg)."""
    ref_r, deg_r = _pair(ref, deg, sr, PITCH_RATE)
    if len(ref_r) < 1024:
        raise MetricError("pitch tracking needs at least 64 ms of audio")
    if not (np.all(np.isfinite(ref_r)) and np.all(np.isfinite(deg_r))):
        raise MetricError("pitch tracking: a signal holds NaN or infinite samples")
    _require_sound(ref_r, "F0")
    (f_ref, v_ref), (f_deg, v_deg) = _pitch_track(ref_r), _pitch_track(deg_r)
    return f_ref, f_deg, v_ref, v_deg


def _both_voiced(ref: np.ndarray, deg: np.ndarray, sr: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    f_ref, f_deg, v_ref, v_deg = _pitch_pair(ref, deg, sr)
    both = v_ref & v_deg
    if np.count_nonzero(both) < MIN_VOICED_FRAMES:
        raise MetricError(f"{what}: fewer than {MIN_VOICED_FRAMES} frames are voiced in both signals")
    return f_ref[both], f_deg[both]


def f0_rmse(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """RMS pitch error in cents over the frames voiced in both signals (pYIN at 16 kHz, 10 ms frames, a 20-cent
    grid: errors below about 10 cents are not resolved; beyond 30 s tracked in windows, see `_windowed_pyin`)."""
    f_ref, f_deg = _both_voiced(ref, deg, sr, "F0 RMSE")
    return float(np.sqrt(np.mean((1200.0 * np.log2(f_deg / f_ref)) ** 2)))


def f0_corr(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """Pearson correlation of the F0 contours over the frames voiced in both signals (Codec-SUPERB's F0corr)."""
    f_ref, f_deg = _both_voiced(ref, deg, sr, "F0 correlation")
    if np.std(f_ref) == 0 or np.std(f_deg) == 0:
        raise MetricError("F0 correlation: a pitch contour is flat")
    return float(np.corrcoef(f_ref, f_deg)[0, 1])


def vuv_error(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """Fraction of frames whose voiced/unvoiced decision differs between the signals (pYIN)."""
    _, _, v_ref, v_deg = _pitch_pair(ref, deg, sr)
    return float(np.mean(v_ref != v_deg))


def _spec(name, label, rate, rng, hib, fn, version, description, needs_model=False) -> MetricSpec:
    return MetricSpec(name, label, rate, rng, hib, fn, needs_model, version, description)


METRICS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        _spec("pesq_wb", "PESQ-WB", 16000, (1.04, 4.64), True, pesq_wb, "pesq-0.0.4/2", "ITU-T P.862.2 wide-band MOS-LQO"),
        _spec("pesq_nb", "PESQ-NB", 8000, (1.02, 4.55), True, pesq_nb, "pesq-0.0.4/2", "ITU-T P.862 narrow-band MOS-LQO"),
        _spec("stoi", "STOI", 10000, (0.0, 1.0), True, stoi, "pystoi-0.4.1/2", "short-time objective intelligibility"),
        _spec("estoi", "ESTOI", 10000, (0.0, 1.0), True, estoi, "pystoi-0.4.1/2", "extended STOI"),
        _spec("si_sdr", "SI-SDR (dB)", 22050, (-np.inf, np.inf), True, si_sdr, "1", "scale-invariant signal-to-distortion ratio (unbounded)"),
        _spec("mel_distance", "Mel distance", 22050, (0.0, 5.0), False, mel_distance, "nemo-mel-l1/1",
              "NeMo multi-resolution log-mel L1 loss (7 resolutions), as on the LFSC model card"),
        _spec("stft_distance", "STFT distance", 22050, (0.0, 5.0), False, stft_distance, "nemo-stft-l1/1",
              "NeMo multi-resolution log-magnitude STFT L1 loss (7 resolutions), as on the LFSC model card"),
        _spec("f0_rmse", "F0 RMSE (cents)", PITCH_RATE, (0.0, np.inf), False, f0_rmse, PITCH_VERSION,
              "pitch error of the frames voiced in both signals (pYIN, 20-cent grid), in cents (unbounded)"),
        _spec("f0_corr", "F0 correlation", PITCH_RATE, (-1.0, 1.0), True, f0_corr, PITCH_VERSION,
              "Pearson correlation of the pitch contours over the frames voiced in both signals"),
        _spec("vuv_error", "V/UV error", PITCH_RATE, (0.0, 1.0), False, vuv_error, PITCH_VERSION,
              "fraction of 10 ms frames whose voicing decision differs"),
        _spec("speaker_sim", "Speaker similarity", 16000, (0.0, 1.0), True, speaker_sim, "ge2e/1",
              "cosine of speaker embeddings (GE2E, resemblyzer 0.1.4, unless another model is plugged in); GE2E's "
              "embeddings are non-negative, so 0..1, and two different speakers already score about 0.6: read it "
              "against the report's same- and different-speaker levels on the run's own set", needs_model=True),
        _spec("distill_mos", "DistillMOS", 16000, (1.0, 5.0), True, distill_mos, "distillmos-0.9.1-v7/1",
              "no-reference MOS predicted by DistillMOS from the decoded audio alone (needs no alignment)"),
    )
}

# Metrics that compare waveforms sample by sample: meaningless where the decoded waveform cannot match the input's
# (a parametric codec, codec.registry.Codec.waveform_matching, or a pair aligned only by its energy envelope).
WAVEFORM_METRICS: tuple[str, ...] = ("si_sdr",)

# The intrusive signal metrics: they compare aligned signals (so a refused alignment refuses them) and need no model.
FAST_METRICS: tuple[str, ...] = ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "mel_distance", "stft_distance",
                                 "f0_rmse", "f0_corr", "vuv_error")


# Metrics that run on a GPU when PyTorch sees one (the spectral distances' STFTs; DistillMOS batched across clips):
# the runner then computes them with the models (eval.unit.Scorer.run_models), off the CPU metrics' cores. Their values differ from the CPU's in
# the last bits, so their cache keys and versions say so (eval.identity.metric_key).
GPU_METRICS: tuple[str, ...] = ("mel_distance", "stft_distance", "distill_mos")


def compute(name: str, ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """Compute metric `name` on an aligned (ref, deg) pair at rate `sr`; raises MetricError with the reason."""
    spec = METRICS.get(name)
    if spec is None:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    value = spec.function(ref, deg, sr)
    if not np.isfinite(value):
        raise MetricError(f"{spec.label} is not finite")
    return value
