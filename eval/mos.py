"""No-reference quality: DistillMOS (Stahl and Gamper, ICASSP 2025), a MOS predictor distilled from XLS-R SQA.

It rates the decoded audio alone, so it also scores what reference metrics must refuse (audio that cannot be
aligned with its reference). Installed by tools/setup.sh with `pip install --no-deps distillmos==0.9.1
xls-r-sqa==0.1.0`; its weights ship inside the wheel, so it works offline.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import sys
import types

import numpy as np

SAMPLE_RATE = 16000
INSTALL = "pip install --no-deps distillmos==0.9.1 xls-r-sqa==0.1.0 (tools/setup.sh does)"


@functools.lru_cache(maxsize=1)
def _model():
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
        return distillmos.ConvTransformerSQAModel().eval()


def predict(audio: np.ndarray) -> float:
    """MOS (1 to 5) of mono float audio at 16 kHz."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]
    with torch.inference_mode():
        return float(_model()(x)[0])
