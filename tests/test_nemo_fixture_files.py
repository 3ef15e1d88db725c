"""The NeMo reference fixture (tools/make_nemo_fixture.py) is present, self-consistent and not degenerate,
so the parity tests that use it prove something."""

import io
import json
import math
import tarfile

import numpy as np
import pytest
import torch
import yaml

from conftest import NEMO_FIXTURE

FILES = ("lfsc_small.nemo", "io.npz", "full_size_keys.json", "meta.json")
GENERATOR_PREFIXES = ("audio_encoder.", "vector_quantizer.", "audio_decoder.")
SPF = 1024


@pytest.fixture(scope="module")
def ref():
    return dict(np.load(NEMO_FIXTURE / "io.npz"))


@pytest.fixture(scope="module")
def nemo_members():
    with tarfile.open(NEMO_FIXTURE / "lfsc_small.nemo", "r:") as tar:  # plain tar, as NeMo writes it
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_files_present_and_small():
    sizes = {name: (NEMO_FIXTURE / name).stat().st_size for name in FILES}
    assert sum(sizes.values()) < 5_000_000, sizes


@pytest.mark.parametrize("prefix", ["", "single_"])
def test_io_shapes_lengths_and_padding_are_consistent(ref, prefix):
    audio, audio_len = ref[prefix + "audio"], ref[prefix + "audio_len"]
    batch, frames = audio.shape[0], math.ceil(audio.shape[1] / SPF)
    n = -(-audio_len // SPF)  # each item's frame count: its length rounded up to whole frames
    assert audio.dtype == np.float32 and audio_len.dtype == np.int64
    assert ref[prefix + "encoded"].shape == (batch, 32, frames)
    assert ref[prefix + "dequantized"].shape == (batch, 32, frames)
    assert ref[prefix + "tokens"].shape == (batch, 8, frames) and ref[prefix + "tokens"].dtype == np.int32
    assert ref[prefix + "decoded"].shape == (batch, SPF * frames)
    assert np.array_equal(ref[prefix + "encoded_len"], n) and np.array_equal(ref[prefix + "tokens_len"], n)
    assert np.array_equal(ref[prefix + "decoded_len"], SPF * n)
    tokens = ref[prefix + "tokens"]
    assert tokens.min() >= 0 and tokens.max() < 2016
    for i in range(batch):
        assert not audio[i, audio_len[i]:].any()
        assert not tokens[i, :, n[i]:].any() and not ref[prefix + "dequantized"][i, :, n[i]:].any()
        assert not ref[prefix + "decoded"][i, SPF * n[i]:].any()


def test_batch_has_two_lengths_off_the_frame_grid_and_single_is_item_1(ref):
    lengths = ref["audio_len"]
    assert len(set(lengths.tolist())) == 2 and all(lengths % SPF)
    assert np.array_equal(ref["single_audio"][0], ref["audio"][1, : lengths[1]])


def test_dequantized_latent_lies_on_the_fsq_grid(ref):
    # levels [8, 7, 6, 6] per group of 4 channels: codes are multiples of 1/4, 1/3, 1/3, 1/3
    scale = np.tile([4, 3, 3, 3], 8)[None, :, None]
    values = ref["dequantized"] * scale
    assert np.allclose(values, np.round(values), atol=1e-6)


@pytest.mark.parametrize("prefix", ["", "single_"])
def test_outputs_are_not_degenerate(ref, prefix):
    tokens = ref[prefix + "tokens"]
    valid = [tokens[i, :, :n] for i, n in enumerate(ref[prefix + "tokens_len"])]
    assert len(np.unique(np.concatenate([v.ravel() for v in valid]))) > 200
    for i, n in enumerate(ref[prefix + "decoded_len"]):
        assert ref[prefix + "decoded"][i, :n].std() > 1e-2
        assert ref[prefix + "encoded"][i].std() > 0.1


def test_small_nemo_holds_nemo_config_and_generator_weights_only(nemo_members):
    assert set(nemo_members) == {"./model_config.yaml", "./model_weights.ckpt"}
    cfg = yaml.safe_load(nemo_members["./model_config.yaml"])
    assert cfg["sample_rate"] == 22050 and cfg["samples_per_frame"] == SPF
    assert cfg["target"] == "nemo.collections.tts.models.audio_codec.AudioCodecModel"
    for section in ("audio_encoder", "audio_decoder", "vector_quantizer"):
        assert cfg[section]["_target_"].startswith("nemo.collections.tts.modules.audio_codec_modules.")
    state = torch.load(io.BytesIO(nemo_members["./model_weights.ckpt"]), map_location="cpu", weights_only=True)
    assert len(state) == 418 and all(k.startswith(GENERATOR_PREFIXES) for k in state)
    enc, dec = cfg["audio_encoder"]["base_channels"], cfg["audio_decoder"]["base_channels"]
    assert state["audio_encoder.pre_conv.conv.parametrizations.weight.original1"].shape == (enc, 1, 7)
    assert state["audio_decoder.pre_conv.conv.parametrizations.weight.original1"].shape == (dec, 32, 7)
    assert not any(v.any() for k, v in state.items() if k.endswith(".bias"))  # zeroed on purpose


def test_full_size_key_listing_agrees_with_its_counts():
    listing = json.loads((NEMO_FIXTURE / "full_size_keys.json").read_text())
    keys = listing["keys"]
    assert listing["num_keys"] == len(keys) == 418
    assert all(k.startswith(GENERATOR_PREFIXES) for k in keys)
    for part, expected in (("audio_encoder", 57_641_200), ("audio_decoder", 55_056_258)):
        counted = sum(math.prod(shape) for k, shape in keys.items() if k.startswith(part + "."))
        assert counted == listing["parameter_counts"][part] == expected
