"""Speaker similarity: cosine of speaker embeddings, behind a small interface so other models can be plugged in.

The default is resemblyzer's GE2E d-vector at 16 kHz (weights inside the wheel). GE2E is older and weaker than
the WavLM-SV / ECAPA models papers use, so its numbers are reported under its own name (`MODEL.name`) and must
not be compared with published "SECS" values. To plug another model, implement `SpeakerModel` and call
`set_model(...)` (e.g. a local WavLM-SV or ECAPA checkpoint wrapped in a class).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from codec.audio import resample
from codec.devices import default_device


class SpeakerModel(ABC):
    """A speaker-embedding model: mono audio at `sample_rate` -> one embedding vector."""

    name: str  # how reports label the similarity, e.g. "GE2E speaker similarity (resemblyzer 0.1.4)"
    sample_rate: int
    version: str  # part of cache keys

    @abstractmethod
    def embed(self, audio: np.ndarray) -> np.ndarray:
        """Embedding of mono float32 audio at `self.sample_rate`."""


class GE2E(SpeakerModel):
    """resemblyzer's GE2E VoiceEncoder, on the GPU when there is one (its own preprocessing: level
    normalisation and VAD trimming)."""

    name = "GE2E speaker similarity (resemblyzer 0.1.4)"
    sample_rate = 16000
    version = "resemblyzer-0.1.4/1"

    def __init__(self) -> None:
        from resemblyzer import VoiceEncoder

        self._encoder = VoiceEncoder(default_device(), verbose=False)

    def embed(self, audio: np.ndarray) -> np.ndarray:
        """GE2E d-vector (unit norm, 256-d) of 16 kHz audio."""
        from resemblyzer import preprocess_wav

        audio = np.asarray(audio, dtype=np.float32)
        if float(np.max(np.abs(audio), initial=0.0)) < 1e-4:
            raise ValueError("speaker embedding: the audio is silent")
        wav = preprocess_wav(audio, source_sr=self.sample_rate)
        if len(wav) < self.sample_rate // 10:
            raise ValueError("speaker embedding: less than 0.1 s of voiced audio after VAD trimming")
        return self._encoder.embed_utterance(wav)


_model: SpeakerModel | None = None


def set_model(model: SpeakerModel) -> None:
    """Use `model` for every later similarity (the GUI and the runner share it)."""
    global _model
    _model = model


def get_model() -> SpeakerModel:
    """The active speaker model, loading GE2E on first use."""
    global _model
    if _model is None:
        _model = GE2E()
    return _model


def embed(audio: np.ndarray, sr: int) -> np.ndarray:
    """Embedding of `audio` (any rate; resampled explicitly to the model's rate)."""
    model = get_model()
    return model.embed(resample(np.asarray(audio, dtype=np.float32), sr, model.sample_rate))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings."""
    denominator = float(np.linalg.norm(a) * np.linalg.norm(b))
    if denominator == 0.0:
        raise ValueError("speaker embedding is all zeros")
    return float(np.dot(a, b) / denominator)


def similarity(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """Speaker similarity of two signals at rate `sr` with the active model (1.0 = same embedding)."""
    return cosine(embed(ref, sr), embed(deg, sr))


def model_version() -> str:
    """Version string of the active model (GE2E's when none is loaded yet), without loading it."""
    return _model.version if _model is not None else GE2E.version


def describe() -> dict:
    """Name, version, rate (and for GE2E its weights file and sha256) of the active model, without loading it."""
    model = _model if _model is not None else GE2E
    info = {"name": model.name, "version": model.version, "rate": model.sample_rate}
    if isinstance(model, GE2E) or model is GE2E:
        from importlib.util import find_spec

        from codec.hashing import file_sha256

        spec = find_spec("resemblyzer")
        if spec is not None and spec.origin:
            weights = Path(spec.origin).parent / "pretrained.pt"
            if weights.is_file():
                info["weights"] = str(weights)
                info["sha256"] = file_sha256(weights)
    return info
