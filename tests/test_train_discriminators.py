"""Discriminators: NeMo's key names and shapes (spec appendix B), parameter counts, score and feature-map layout."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from train.discriminators import Discriminator, MultiPeriodDiscriminator, MultiResolutionDiscriminatorSTFT
from train.slm import SincResampler, SLMDiscriminator

STFT_RES = [[128, 32, 128], [256, 64, 256], [512, 128, 512], [1024, 256, 1024], [2048, 512, 2048]]
W = ".conv.parametrizations.weight"


def test_stft_and_period_discriminators_have_nemo_keys_and_sizes():
    disc = Discriminator([MultiResolutionDiscriminatorSTFT(STFT_RES), MultiPeriodDiscriminator()])
    state = disc.state_dict()
    stft, mpd = "discriminators.0.discriminators.", "discriminators.1.discriminators."
    assert state[f"{stft}0.window"].shape == (128,)
    assert state[f"{stft}4.window"].shape == (2048,)
    assert state[f"{stft}0.conv_layers.0{W}.original1"].shape == (32, 2, 3, 9)
    assert state[f"{stft}0.conv_layers.4{W}.original1"].shape == (32, 32, 3, 3)
    assert state[f"{stft}0.conv_post{W}.original0"].shape == (1, 1, 1, 1)
    assert state[f"{mpd}0.conv_layers.0{W}.original1"].shape == (32, 1, 5, 1)
    assert state[f"{mpd}4.conv_layers.4{W}.original1"].shape == (1024, 1024, 5, 1)
    assert state[f"{mpd}4.conv_post{W}.original1"].shape == (1, 1024, 3, 1)
    # Spec section 2: 5 x 94,498 and 5 x 8,221,154 parameters.
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(disc.discriminators[0]) == 472_490
    assert count(disc.discriminators[1]) == 41_105_770


class _FakeBackbone(torch.nn.Module):
    """A two-layer frozen 'speech model' for shape tests (16 kHz, 20 ms frames, 4 states of width 8)."""

    sample_rate, num_states, hidden_size = 16000, 4, 8

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Conv1d(1, 8, 320, stride=320)

    def forward(self, audio):
        x = self.proj(audio[:, None]).transpose(1, 2)
        return [x, x.tanh(), x.sin(), x.cos()]


def test_scores_and_feature_maps_per_sub_discriminator():
    torch.manual_seed(0)
    disc = Discriminator([
        MultiResolutionDiscriminatorSTFT(STFT_RES[:2]), MultiPeriodDiscriminator((2, 3)), SLMDiscriminator(_FakeBackbone()),
    ])
    real, gen = torch.randn(2, 4096) * 0.1, torch.randn(2, 4096) * 0.1
    scores_real, scores_gen, fmaps_real, fmaps_gen = disc(real, gen)
    assert len(scores_real) == len(scores_gen) == len(fmaps_real) == 5
    assert [len(f) for f in fmaps_gen] == [6, 6, 6, 6, 3]
    assert scores_real[0].shape == (2, 128 // 2 // 8 + 1, 4096 // 32 + 1)  # [B, freq', frames]
    assert scores_real[2].shape[:2] == (2, 2)  # period 2: [B, period, frames]
    assert scores_real[4].shape == (2, 1, math.ceil(4096 * 16000 / 22050) // 320)
    # Running real and generated audio as one batch gives what two separate passes give.
    alone, _ = disc.discriminators[1](gen)
    torch.testing.assert_close(scores_gen[2], alone[0])


def test_slm_discriminator_head_shapes_and_frozen_backbone():
    backbone = _FakeBackbone()
    slm = SLMDiscriminator(backbone, initial_channel=64)
    keys = {k: v.shape for k, v in slm.state_dict().items()}
    assert keys["pre.parametrizations.weight.original1"] == (64, 4 * 8, 1)
    assert keys["convs.2.parametrizations.weight.original1"] == (256, 256, 5)
    assert keys["conv_post.parametrizations.weight.original1"] == (1, 256, 3)
    gen = (torch.randn(1, 4096) * 0.1).requires_grad_()
    scores, _ = slm(gen)
    scores[0].sum().backward()
    assert gen.grad.abs().sum() > 0, "gradients must reach the generated audio through the frozen model"
    assert all(p.grad is None and not p.requires_grad for p in backbone.parameters())
    slm.train()
    assert not backbone.training


def test_wavlm_backbone_with_tiny_random_config():
    pytest.importorskip("transformers")
    from transformers import WavLMConfig

    from train.slm import WavLMBackbone

    torch.manual_seed(0)
    config = WavLMConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                         conv_dim=(8,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    backbone = WavLMBackbone(config=config)
    slm = SLMDiscriminator(backbone)
    assert slm.state_dict()["pre.parametrizations.weight.original1"].shape == (64, 16 * 3, 1)
    gen = (torch.randn(1, 8192) * 0.1).requires_grad_()
    scores, fmaps = slm(gen)
    frames = scores[0].shape[-1]
    assert scores[0].shape == (1, 1, frames) and frames == 18  # 8192 samples -> 5944 at 16 kHz -> 18 WavLM frames
    scores[0].sum().backward()
    assert gen.grad.abs().sum() > 0


def test_wavlm_backbone_from_a_local_folder(tmp_path):
    pytest.importorskip("transformers")
    from transformers import WavLMConfig, WavLMModel

    from train.slm import WavLMBackbone

    config = WavLMConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                         conv_dim=(8,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    WavLMModel(config).save_pretrained(tmp_path)
    backbone = WavLMBackbone(tmp_path)
    assert (backbone.num_states, backbone.hidden_size) == (2, 16)


def test_resampler_matches_an_analytic_sine():
    resample = SincResampler(22050, 16000)
    x = torch.sin(2 * math.pi * 440 * torch.arange(22050) / 22050)[None]
    y = resample(x)
    assert y.shape == (1, 16000)
    expected = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert np.abs(y[0, 100:-100].numpy() - expected[100:-100]).max() < 1e-3
