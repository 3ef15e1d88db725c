"""Choosing and running codecs for the app: the default codec, device choice, GPU fallback, codec reuse."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np

from codec.devices import resolve_device
from codec.registry import CodecEntry, get_codec, list_codecs, takes_option
from codec.spec import CodecSpec, parse_chain
from workbench.clip_model import RoundTripInfo

# Shown first when no LFSC checkpoint is configured: real bitstreams at low bitrates that run everywhere.
REFERENCE_DEFAULTS = ("opus-6k", "codec2-3200", "codec2-2400", "identity")
DEVICES = ("auto", "cpu", "cuda")
# Offered for the codec's input (codec.conditions); any other spec, chains with '@' included, can be typed.
INPUT_CONDITIONS = ("", "white20", "white10", "white0", "pink10", "reverb0.3", "reverb0.8", "tel", "level-36", "level-16")


def codec_entries() -> list[CodecEntry]:
    """Every registered codec, in registry order."""
    return list_codecs()


def default_codec(last: str = "") -> str:
    """`last` when still available, else LFSC when a checkpoint makes it available, else a reference codec."""
    available = {e.name for e in codec_entries() if e.available()[0]}
    for name in (last, "lfsc", *REFERENCE_DEFAULTS):
        if name in available:
            return name
    return next(iter(available), "")


def conditioned(codec: str, condition: str) -> str:
    """The codec name that feeds `codec` its input under `condition` ('' or spaces: the clean input); a UserError
    names what is wrong with a typed condition."""
    condition = condition.strip()
    if not condition:
        return codec
    return str(CodecSpec.parse(codec).under(parse_chain(condition)))


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a GPU out-of-memory error (checked without importing torch when it is not loaded)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return "out of memory" in str(exc).lower() and "cuda" in str(exc).lower()


class CodecCache:
    """Builds each (codec, device) once: loading a model checkpoint takes seconds."""

    def __init__(self) -> None:
        self._codecs: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()

    def has(self, name: str, device: str) -> bool:
        """Whether the codec `name` on `device` is built already."""
        with self._lock:
            return (name, device) in self._codecs

    def get(self, name: str, device: str):
        """The codec `name` on `device` ("-" for codecs that have no device option)."""
        with self._lock:
            key = (name, device)
            if key not in self._codecs:
                options = {"device": device} if device != "-" else {}
                self._codecs[key] = get_codec(name, **options)
            return self._codecs[key]

    def clear(self) -> None:
        """Forget built codecs (after the checkpoint changed)."""
        with self._lock:
            self._codecs.clear()


def codec_device(name: str, device_choice: str) -> str:
    """The device codec `name` runs on for a choice such as "auto" ("-" for a codec without a device option): the
    key under which the codec cache holds its build."""
    return resolve_device(device_choice) if takes_option(name, "device") else "-"


def run_roundtrip(
    name: str, samples: np.ndarray, sample_rate: int, device_choice: str, cache: CodecCache, task=None
) -> RoundTripInfo:
    """Round-trip `samples` through codec `name`; a GPU out-of-memory error falls back to the CPU and says so."""
    if task is not None:
        task.report(0, 0, f"preparing {name}")
    device = codec_device(name, device_choice)
    entries = {e.name: e for e in codec_entries()}
    if CodecSpec.parse(name).base not in entries:
        get_codec(CodecSpec.parse(name).base)  # raises the registry's UserError that lists the known codecs
    notices: list[str] = []
    codec, load_seconds = built_codec(name, device, cache, task)
    what = f"encoding and decoding with {name}" + (f" on {device}" if device != "-" else "")

    def progress(fraction: float) -> None:  # after each chunk for LFSC; raises Cancelled once the user cancels
        if task is not None:
            task.report(round(1000 * fraction), 1000, what)

    if task is not None:
        task.report(0, 0, what)
    try:
        result = codec.roundtrip(samples, sample_rate, progress)
    except Exception as exc:
        if device != "cuda" or not is_out_of_memory(exc):
            raise
        torch = sys.modules["torch"]
        torch.cuda.empty_cache()
        notices.append("the GPU ran out of memory, so this round trip ran on the CPU (slower, same result)")
        device = "cpu"
        codec, more = built_codec(name, device, cache, task)
        load_seconds += more
        result = codec.roundtrip(samples, sample_rate, progress)
    if task is not None:
        task.report(1, 1, "done")
    return RoundTripInfo(
        codec=name,
        device=device if device != "-" else "CPU",
        nominal_bitrate=entries[CodecSpec.parse(name).base].nominal_bitrate,
        result=result,
        notices=tuple(notices),
        load_seconds=load_seconds,
    )


def built_codec(name: str, device: str, cache: CodecCache, task=None) -> tuple[object, float]:
    """The codec from `cache`, and the seconds spent loading its model now (0 when it was built already or has no
    model); the first LFSC use reads its checkpoint for many seconds, so the task says so meanwhile."""
    if device == "-" or cache.has(name, device):  # no device option: no model to load
        return cache.get(name, device), 0.0
    if task is not None:
        task.report(0, 0, f"loading the {CodecSpec.parse(name).base} model (first use)")
    start = time.perf_counter()
    codec = cache.get(name, device)
    return codec, time.perf_counter() - start


def render_stimuli(
    clips: dict[str, tuple[np.ndarray, int]], codecs: list[str], device_choice: str, cache: CodecCache, task=None
) -> dict[tuple[str, str], np.ndarray]:
    """Decoded audio of every clip through every codec ("reference" = the clip itself), for a listening test."""
    return {key: audio for key, (audio, _) in _rendered(clips, codecs, device_choice, cache, task).items()}


def render_and_measure(
    clips: dict[str, tuple[np.ndarray, int]], codecs: list[str], device_choice: str, cache: CodecCache, task=None
) -> tuple[dict[tuple[str, str], np.ndarray], dict[tuple[str, str], dict[str, float]]]:
    """The stimuli of `render_stimuli` and their objective metrics (`clip_metrics.stimulus_metrics`), each aligned
    with what its codec heard."""
    from workbench.clip_metrics import stimulus_metrics

    rendered = _rendered(clips, codecs, device_choice, cache, task)
    stimuli = {key: audio for key, (audio, _) in rendered.items()}
    heard = {key: what for key, (_, what) in rendered.items()}
    return stimuli, stimulus_metrics(stimuli, clips, heard, task=task)


def _rendered(
    clips: dict[str, tuple[np.ndarray, int]], codecs: list[str], device_choice: str, cache: CodecCache, task=None
) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray | None]]:
    """Every clip through every codec: the decoded audio, and what the codec heard when it was not the clip."""
    from eval.listening import REFERENCE

    out: dict[tuple[str, str], tuple[np.ndarray, np.ndarray | None]] = {}
    total = len(clips) * len(codecs)
    for clip_id, (samples, sr) in clips.items():
        for codec in codecs:
            if task is not None:
                task.report(len(out), total, f"{clip_id} through {codec}")
            if codec == REFERENCE:
                out[(clip_id, codec)] = samples, None
            else:
                result = run_roundtrip(codec, samples, sr, device_choice, cache).result
                out[(clip_id, codec)] = result.audio, result.heard
    return out
