"""Speaker similarity: cosine of speaker embeddings, behind a small interface so other models can be plugged in.

The default is resemblyzer's GE2E d-vector at 16 kHz (weights inside the wheel). GE2E is older and weaker than
the WavLM-SV / ECAPA models papers use, so its numbers are reported under its own name (`MODEL.name`) and must
not be compared with published "SECS" values. To plug another model, implement `SpeakerModel` and call
`set_model(...)` (e.g. a local WavLM-SV or ECAPA checkpoint wrapped in a class).

Many clips at once (`embed_many`, for the model actors of `--engine ray`): on a GPU, GE2E runs the partial
utterances of all the clips through its network together, `PARTIALS_PER_CALL` at a time. A batch's values differ
from one-by-one values in the last float bits (up to 9e-8 measured on CPU), so the model's version says so
("+batched", part of the cache keys); on the CPU `embed_many` embeds one clip at a time and its values are
bit-identical to `embed`'s.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import numpy as np

from codec.audio import resample
from codec.devices import default_device

# Partial utterances (1.6 s of 40-band mels each) per GE2E forward in `embed_many`: 256 is about 200 s of audio,
# 6.5 MB of mels and some 0.2 GB of LSTM activations in inference (3 layers x 160 steps x 256 x 4 gates, float32)
# - enough rows to fill a GPU's LSTM kernels, and a bound on memory whatever the number of clips (an estimate
# from the shapes: not yet measured on a GPU).
PARTIALS_PER_CALL = 256
PARTIAL_RATE = 1.3  # resemblyzer's VoiceEncoder.embed_utterance defaults: partials per second of audio
PARTIAL_MIN_COVERAGE = 0.75  # and the share of a last partial that must be audio for it to count


class SpeakerModel(ABC):
    """A speaker-embedding model: mono audio at `sample_rate` -> one embedding vector."""

    name: str  # how reports label the similarity, e.g. "GE2E speaker similarity (resemblyzer 0.1.4)"
    sample_rate: int
    version: str  # part of cache keys

    @abstractmethod
    def embed(self, audio: np.ndarray) -> np.ndarray:
        """Embedding of mono float32 audio at `self.sample_rate`."""

    def embed_many(self, audios: list[np.ndarray]) -> list[np.ndarray | str]:
        """Each clip's embedding (audio at `self.sample_rate`), or the message of the ValueError `embed` raised."""
        return [_or_message(self.embed, audio) for audio in audios]


class GE2E(SpeakerModel):
    """resemblyzer's GE2E VoiceEncoder, on the GPU when there is one (its own preprocessing: level
    normalisation and VAD trimming)."""

    name = "GE2E speaker similarity (resemblyzer 0.1.4)"
    sample_rate = 16000
    version = "resemblyzer-0.1.4/1"

    def __init__(self, device: str | None = None) -> None:
        from resemblyzer import VoiceEncoder

        self.device = device or default_device()
        self._encoder = VoiceEncoder(self.device, verbose=False)

    def embed(self, audio: np.ndarray) -> np.ndarray:
        """GE2E d-vector (unit norm, 256-d) of 16 kHz audio."""
        return self._encoder.embed_utterance(self._voiced(audio))

    def embed_many(self, audios: list[np.ndarray], batch: bool | None = None) -> list[np.ndarray | str]:
        """Each 16 kHz clip's d-vector or the message of `embed`'s ValueError; with `batch` (default: `batches()`)
        the partials of all clips go through the network together, `PARTIALS_PER_CALL` at a time."""
        if not (self.batches() if batch is None else batch):
            return super().embed_many(audios)
        cut = [_or_message(lambda a: self._partial_mels(self._voiced(a)), audio) for audio in audios]
        mels = [c for c in cut if not isinstance(c, str)]
        if not mels:
            return cut
        stacked = np.concatenate(mels)
        partials = np.concatenate([self._forward(stacked[i: i + PARTIALS_PER_CALL])
                                   for i in range(0, len(stacked), PARTIALS_PER_CALL)])
        per_clip = iter(np.split(partials, np.cumsum([len(m) for m in mels])[:-1]))
        return [c if isinstance(c, str) else _mean_direction(next(per_clip)) for c in cut]

    def batches(self) -> bool:
        """Whether `embed_many` batches across clips by default: on a CUDA device."""
        return self.device.startswith("cuda")

    def _voiced(self, audio: np.ndarray) -> np.ndarray:
        """resemblyzer's preprocessing of 16 kHz audio; a ValueError when it is silent or too little is voiced."""
        from resemblyzer import preprocess_wav

        audio = np.asarray(audio, dtype=np.float32)
        if float(np.max(np.abs(audio), initial=0.0)) < 1e-4:
            raise ValueError("speaker embedding: the audio is silent")
        wav = preprocess_wav(audio, source_sr=self.sample_rate)
        if len(wav) < self.sample_rate // 10:
            raise ValueError("speaker embedding: less than 0.1 s of voiced audio after VAD trimming")
        return wav

    def _partial_mels(self, wav: np.ndarray) -> np.ndarray:
        """The mel spectrograms of a preprocessed clip's partial utterances, cut and padded as
        `VoiceEncoder.embed_utterance` cuts them: (partials, frames, bands)."""
        from resemblyzer import audio

        wav_slices, mel_slices = self._encoder.compute_partial_slices(len(wav), PARTIAL_RATE, PARTIAL_MIN_COVERAGE)
        if wav_slices[-1].stop >= len(wav):
            wav = np.pad(wav, (0, wav_slices[-1].stop - len(wav)), "constant")
        mel = audio.wav_to_mel_spectrogram(wav)
        return np.array([mel[s] for s in mel_slices])

    def _forward(self, mels: np.ndarray) -> np.ndarray:
        """The partial embeddings of a stack of partial mels, from one forward of the network."""
        import torch

        with torch.no_grad():
            return self._encoder(torch.from_numpy(mels).to(self._encoder.device)).cpu().numpy()


def _or_message(embed: Callable[[np.ndarray], np.ndarray], audio: np.ndarray) -> np.ndarray | str:
    """`embed(audio)`, or the message of the ValueError it raised (a clip that has no embedding)."""
    try:
        return embed(audio)
    except ValueError as exc:
        return str(exc)


def _mean_direction(partials: np.ndarray) -> np.ndarray:
    """The unit-norm mean of a clip's partial embeddings (how `embed_utterance` combines them)."""
    raw = np.mean(partials, axis=0)
    return raw / np.linalg.norm(raw, 2)


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


def embed_many(audios: list[np.ndarray], sr: int) -> list[np.ndarray | str]:
    """Each clip's embedding (any rate, resampled as `embed` does), or the message of the ValueError `embed` would
    raise for it (silent, too little voiced audio); batched across clips when `batched()`."""
    model = get_model()
    return model.embed_many([resample(np.asarray(a, dtype=np.float32), sr, model.sample_rate) for a in audios])


def batched() -> bool:
    """Whether `embed_many` batches across clips: the active model (GE2E when none is loaded yet, which would load
    on the default device) is GE2E on a CUDA device. Loads no model."""
    if _model is None:
        return default_device() == "cuda"
    return isinstance(_model, GE2E) and _model.batches()


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
    """Version string of the active model (GE2E's when none is loaded yet), "+batched" when `embed_many` batches
    across clips (its values differ in the last bits), without loading it."""
    version = _model.version if _model is not None else GE2E.version
    return f"{version}+batched" if batched() else version


def describe() -> dict:
    """Name, version, rate (and for GE2E its weights file and sha256) of the active model, without loading it."""
    model = _model if _model is not None else GE2E
    info = {"name": model.name, "version": model_version(), "rate": model.sample_rate}
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
