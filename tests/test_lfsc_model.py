"""The LFSC generator: structure, parameter counts, FSQ and NeMo-API shapes."""

import json

import numpy as np
import pytest
import torch

from codec.lfsc.model import LFSCModel, count_parameters
from codec.lfsc.nn import reflect_pad
from codec.lfsc.quantizer import FiniteScalarQuantizer, GroupFiniteScalarQuantizer
from conftest import NEMO_FIXTURE, small_config


@pytest.fixture(scope="module")
def full_model():
    return LFSCModel()


def test_full_size_parameter_counts_match_the_model_card(full_model):
    assert count_parameters(full_model.audio_encoder) == 57_641_200
    assert count_parameters(full_model.audio_decoder) == 55_056_258
    assert len(full_model.state_dict()) == 418


def test_full_size_keys_and_shapes_equal_nemo():
    listing = NEMO_FIXTURE / "full_size_keys.json"
    if not listing.exists():
        pytest.skip("NeMo key listing not generated (tools/make_nemo_fixture.py)")
    nemo = json.loads(listing.read_text())
    keys = nemo["keys"] if "keys" in nemo else nemo
    ours = {k: list(v.shape) for k, v in LFSCModel().state_dict().items()}
    assert ours == {k: list(v) for k, v in keys.items()}


@pytest.mark.parametrize("pad", [0, 1, 3, 15])
def test_reflect_pad_equals_torch_reflect_padding(pad):
    x = torch.randn(2, 3, 16)
    assert torch.equal(reflect_pad(x, pad), torch.nn.functional.pad(x, (pad, pad), mode="reflect"))


def test_fast_padding_leaves_the_generator_bit_identical(monkeypatch):
    """Slice-copy padding must not change what the generator computes (NeMo parity, training curves): not the
    values, and not the memory layout, which would steer the convolutions to other kernels."""
    from codec.lfsc import nn as lfsc_nn
    from codec.lfsc.model import decoder_full, encoder_full

    torch.manual_seed(0)
    model = LFSCModel(small_config()).eval()
    audio = torch.randn(2, 24 * 1024) * 0.1
    layouts = []
    for module in model.modules():
        if isinstance(module, (lfsc_nn.Conv1dNorm, lfsc_nn.ConvTranspose1dNorm)):
            module.register_forward_hook(lambda m, i, out: layouts.append(out.is_contiguous()))

    def run():
        with torch.inference_mode():
            latent = encoder_full(model, audio)
            return latent, decoder_full(model, latent)

    fast = run()
    assert layouts and all(layouts)  # time-contiguous in, time-contiguous out: the kernels F.pad's layout gets
    monkeypatch.setattr(lfsc_nn, "reflect_pad", lambda x, pad: torch.nn.functional.pad(x, (pad, pad), mode="reflect"))
    torch_padded = run()
    assert all(torch.equal(a, b) for a, b in zip(fast, torch_padded))


def test_reflect_pad_keeps_channels_last_input_channels_last():
    x = torch.randn(2, 100, 5).transpose(1, 2)  # [B, C, T] stored time-major, as the packed bf16 path runs
    out = reflect_pad(x, 2)
    assert torch.equal(out, torch.nn.functional.pad(x.contiguous(), (2, 2), mode="reflect"))
    assert out.transpose(1, 2).is_contiguous()


def test_reflect_pad_refuses_inputs_too_short_to_mirror():
    with pytest.raises(ValueError, match="needs more than 3 time steps"):
        reflect_pad(torch.zeros(1, 1, 3), 3)


def test_fsq_every_index_decodes_to_a_distinct_grid_point_and_back():
    fsq = FiniteScalarQuantizer([8, 7, 6, 6])
    indices = torch.arange(2016)[None, :]
    codes = fsq.indices_to_codes(indices)  # [1, 4, 2016]
    points = {tuple(c) for c in codes[0].T.tolist()}
    assert len(points) == 2016
    for d, levels in enumerate([8, 7, 6, 6]):
        values = codes[0, d] * (levels // 2)
        assert torch.equal(values, torch.round(values))  # on the integer grid
        assert values.min() == -(levels // 2) and values.max() == levels - 1 - levels // 2
    assert torch.equal(fsq.codes_to_indices(codes)[0], indices[0].to(torch.int32))


def test_fsq_quantizes_latents_onto_the_grid_and_masks_padding():
    gfsq = GroupFiniteScalarQuantizer(8, [8, 7, 6, 6])
    z = torch.randn(2, 32, 10) * 3
    codes, tokens = gfsq(z, torch.tensor([10, 6]))
    assert tokens.shape == (2, 8, 10) and tokens.dtype == torch.int32
    assert int(tokens.min()) >= 0 and int(tokens.max()) < 2016
    assert torch.all(tokens[1, :, 6:] == 0) and torch.all(codes[1, :, 6:] == 0)
    assert torch.equal(gfsq.decode(tokens, torch.tensor([10, 6])), codes)


def test_nemo_api_shapes_and_dtypes():
    torch.manual_seed(0)
    model = LFSCModel(small_config()).eval()
    audio = torch.randn(2, 5000) * 0.1
    lengths = torch.tensor([5000, 3500])
    tokens, tokens_len = model.encode(audio=audio, audio_len=lengths)
    assert tokens.shape == (2, 8, 5) and tokens.dtype == torch.int32
    assert tokens_len.tolist() == [5, 4]
    latent = model.dequantize(tokens=tokens, tokens_len=tokens_len)
    assert latent.shape == (2, 32, 5) and latent.dtype == torch.float32
    decoded, decoded_len = model.decode(tokens=tokens, tokens_len=tokens_len)
    assert decoded.shape == (2, 5 * 1024) and decoded_len.tolist() == [5120, 4096]
    assert torch.all(decoded[1, 4096:] == 0)
    assert (model.sample_rate, model.samples_per_frame, model.num_codebooks, model.codebook_size) == (22050, 1024, 8, 2016)


def test_roundtrip_resamples_and_trims_to_the_input_length():
    torch.manual_seed(0)
    model = LFSCModel(small_config()).eval()
    x = np.random.default_rng(0).standard_normal(12345).astype(np.float32) * 0.1
    out = model.roundtrip(x, 16000)
    assert out.shape == x.shape and out.dtype == np.float32 and np.all(np.isfinite(out))
