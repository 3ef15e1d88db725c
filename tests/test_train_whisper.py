"""The PyTorch Whisper encoder rebuilt from the bundled CTranslate2 weights, checked against CTranslate2 itself."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from codec.errors import UserError
from train.ct2_reader import read_ct2


@pytest.fixture(scope="module")
def model_dir():
    from codec.whisper_model import bundled_model_dir

    try:
        return bundled_model_dir()
    except RuntimeError as exc:
        pytest.skip(f"bundled Whisper-base model not available: {exc}")


def _speechlike(seconds: float, sr: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    voiced = np.sin(2 * np.pi * 140 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    return (0.1 * voiced + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def test_encoder_matches_ctranslate2(model_dir):
    ctranslate2 = pytest.importorskip("ctranslate2")
    from train.whisper_encoder import WhisperFrontend, load_whisper_encoder

    encoder = load_whisper_encoder(model_dir)
    assert sum(p.numel() for p in encoder.parameters()) == 19_825_664
    mel = WhisperFrontend()(torch.from_numpy(_speechlike(30.0))[None])  # Whisper's 30 s window: [1, 80, 3000]
    with torch.no_grad():
        ours = encoder(mel).numpy()
    reference = ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="float32")
    theirs = np.array(reference.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel.numpy())), to_cpu=True))
    assert theirs.shape == ours.shape == (1, 1500, 512)
    cosine = float(ours.ravel() @ theirs.ravel() / np.linalg.norm(ours) / np.linalg.norm(theirs))
    print(f"max |diff| {np.abs(ours - theirs).max():.2e}, cosine {cosine:.7f}")
    assert np.abs(ours - theirs).max() < 5e-3
    assert cosine > 0.99999


def test_frontend_matches_faster_whisper_features():
    pytest.importorskip("faster_whisper")
    from faster_whisper.feature_extractor import FeatureExtractor

    from train.whisper_encoder import WhisperFrontend

    audio = _speechlike(2.0)
    ours = WhisperFrontend()(torch.from_numpy(audio)[None])[0].numpy()
    theirs = FeatureExtractor()(audio)[:, : ours.shape[1]]
    # The last frame differs: faster-whisper pads the end of the signal with zeros, Whisper reflects.
    assert np.abs(ours[:, :-1] - theirs[:, :-1]).max() < 1e-3


def test_backbone_gives_seven_states_and_gradients(model_dir):
    from train.slm import WhisperBackbone

    backbone = WhisperBackbone(model_dir)
    audio = torch.from_numpy(_speechlike(1.0))[None].requires_grad_()
    states = backbone(audio)
    assert (backbone.num_states, backbone.hidden_size) == (7, 512)
    assert len(states) == 7 and states[0].shape == (1, 50, 512)
    states[-1].sum().backward()
    assert audio.grad.abs().sum() > 0


def test_reader_rejects_other_versions(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(struct.pack("<I", 5) + b"\0" * 16)
    with pytest.raises(UserError, match="version 5"):
        read_ct2(path)
    path.write_bytes(struct.pack("<I", 6) + struct.pack("<H", 40))
    with pytest.raises(UserError, match="not a readable"):
        read_ct2(path)
