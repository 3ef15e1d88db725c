"""No-reference quality: DistillMOS (Stahl and Gamper, ICASSP 2025), a MOS predictor distilled from XLS-R SQA.

It rates the decoded audio alone, so it also scores what reference metrics must refuse (audio that cannot be
aligned with its reference). Installed by tools/setup.sh with `pip install --no-deps distillmos==0.9.1
xls-r-sqa==0.1.0`; its weights ship inside the wheel, so it works offline.

Long audio, in bounded memory. The model only ever rates windows of 122880 samples (7.68 s at 16 kHz: its
transformer's positional encoding has exactly 384 frames, the length it was trained on). Its own forward pads a
shorter clip with zeros to one window, and cuts a longer one into windows spread evenly from its start to its
end, at most 1 s apart (so neighbours overlap by at least 6.68 s), and returns the plain mean of their MOS. It
does that in ONE batch, all windows at once: about 65 MB of activations per window and one window per second
of audio (36 GB for 10 minutes). `predict` cuts the very same windows (`windows`) and feeds the model `BATCH` of
them at a time, then takes the same mean: the value of the package's own inference on any length, to float
rounding, in memory that no longer grows with the length. A clip up to one window long is fed whole, as before,
so its value is bit-identical. The time still grows with the length: one window per second of audio.

Many clips at once (`predict_many`, for the model actors of `--engine ray`): on a GPU the windows of all the clips
(a short clip zero-padded to one window, as the package's forward pads it) are rated `BATCH_MANY` at a time by a
model of their own on the GPU, and each clip gets the mean of its windows'. Those values differ from one clip at a
time in the last float bits, so the metric's cache key says "+gpu" there (eval.identity.metric_key). `predict` and
its model stay on the CPU: it runs in the `--jobs` processes, which must not touch CUDA.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import sys
import types

import numpy as np

from codec.devices import default_device
from eval.interruptible import checkpoint

SAMPLE_RATE = 16000
INSTALL = "pip install --no-deps distillmos==0.9.1 xls-r-sqa==0.1.0 (tools/setup.sh does)"
WINDOW = 122880  # distillmos.sqa.SEQ_LEN: the samples of one rated window (7.68 s)
MAX_HOP = 16000  # distillmos.sqa.MAX_HOP_LEN: windows start at most 1 s apart
BATCH = 4  # windows per model call: about 65 MB of activations each
# windows per model call in `predict_many`: about 2 GB of activations at 65 MB a window (measured on CPU), small
# beside a GPU's memory, and 32 clips up to 7.68 s long in one call
BATCH_MANY = 32


@functools.lru_cache(maxsize=2)
def _model(device: str):
    import torch  # noqa: F401  (distillmos needs it imported first)

    if importlib.util.find_spec("distillmos") is None:
        raise ModuleNotFoundError(f"DistillMOS is not installed: {INSTALL}")
    # distillmos/sqa.py imports torchaudio at module level for its file-list command line only, and torchaudio has
    # no build for this torch: a placeholder stands in while it imports, and is removed again.
    placeholder = importlib.util.find_spec("torchaudio") is None
    if placeholder:
        sys.modules["torchaudio"] = types.ModuleType("torchaudio")
    try:
        import distillmos
    finally:
        if placeholder:
            sys.modules.pop("torchaudio", None)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints where it loaded its weights from
        return distillmos.ConvTransformerSQAModel().eval().to(device)


def windows(samples: int) -> list[int]:
    """Start samples of the windows DistillMOS rates in a clip of `samples` (its own forward's rule)."""
    overlength = max(samples - WINDOW, 0)
    count = int(np.ceil(overlength / MAX_HOP)) + 1
    return [int(c * overlength) for c in np.linspace(0, 1, count)]


def predict(audio: np.ndarray) -> float:
    """MOS (1 to 5) of mono float audio at 16 kHz: the mean over its windows, rated `BATCH` at a time."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    model = _model("cpu")
    with torch.inference_mode():
        if len(x) <= WINDOW:
            return float(model(x[None])[0])
        starts = windows(len(x))
        scores = []
        for i in range(0, len(starts), BATCH):
            checkpoint()
            scores.append(model(torch.stack([x[s: s + WINDOW] for s in starts[i: i + BATCH]])).flatten())
        return float(torch.cat(scores).mean())


def batched() -> bool:
    """Whether `predict_many` rates the windows of several clips together by default: when torch sees a GPU."""
    return default_device() == "cuda"


def predict_many(audios: list[np.ndarray], batch: bool | None = None) -> list[float]:
    """Each 16 kHz clip's MOS; with `batch` (default: `batched()`) the windows of all clips are rated
    `BATCH_MANY` at a time on the default device, otherwise `predict` rates one clip at a time."""
    import torch

    if not audios or not (batched() if batch is None else batch):
        return [predict(audio) for audio in audios]
    clips = [torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)) for audio in audios]
    pieces = [(i, start) for i, clip in enumerate(clips) for start in windows(len(clip))]
    device = default_device()
    model = _model(device)
    scores = []
    with torch.inference_mode():
        for i in range(0, len(pieces), BATCH_MANY):
            checkpoint()
            x = torch.stack([_window(clips[c], start) for c, start in pieces[i: i + BATCH_MANY]]).to(device)
            scores.append(model(x).flatten().cpu())
    owners = torch.tensor([c for c, _ in pieces])
    rated = torch.cat(scores)
    return [float(rated[owners == c].mean()) for c in range(len(clips))]


def _window(clip, start: int):
    """The window of `clip` (a tensor) from `start`; a clip shorter than a window zero-padded at its end, as
    DistillMOS's own forward pads it (F.pad with zeros)."""
    import torch.nn.functional as F

    return F.pad(clip, (0, WINDOW - len(clip))) if len(clip) < WINDOW else clip[start: start + WINDOW]
