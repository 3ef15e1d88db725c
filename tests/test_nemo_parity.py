"""Our LFSC against NeMo 3.0.0 itself: same tokens, latents and audio on real speech (fixture made by
tools/make_nemo_fixture.py in the NeMo environment; see docs/nemo_fixture.md)."""

import numpy as np
import pytest
import torch

from codec.lfsc.checkpoint import load_lfsc
from conftest import NEMO_FIXTURE

pytestmark = pytest.mark.nemo
TOL = 1e-5


@pytest.fixture(scope="module", params=[False, True], ids=["weight-norm", "folded"])
def model(request):
    return load_lfsc(NEMO_FIXTURE / "lfsc_small.nemo", device="cpu", fold_weight_norm=request.param)


def test_fixture_is_not_degenerate(reference):
    assert len(np.unique(reference["tokens"])) > 200
    assert reference["decoded"].std() > 1e-3


@pytest.mark.parametrize("prefix", ["", "single_"])
def test_encode_matches_nemo(model, reference, prefix):
    audio = torch.from_numpy(reference[prefix + "audio"])
    audio_len = torch.from_numpy(reference[prefix + "audio_len"])
    encoded, encoded_len = model.encode_audio(audio=audio, audio_len=audio_len)
    assert torch.equal(encoded_len, torch.from_numpy(reference[prefix + "encoded_len"]))
    assert np.abs(encoded.numpy() - reference[prefix + "encoded"]).max() < TOL
    tokens, tokens_len = model.encode(audio=audio, audio_len=audio_len)
    assert tokens.dtype == torch.int32 and tokens_len.dtype == torch.int64
    assert np.array_equal(tokens.numpy(), reference[prefix + "tokens"])


@pytest.mark.parametrize("prefix", ["", "single_"])
def test_dequantize_and_decode_match_nemo(model, reference, prefix):
    tokens = torch.from_numpy(reference[prefix + "tokens"])
    tokens_len = torch.from_numpy(reference[prefix + "tokens_len"])
    latent = model.dequantize(tokens=tokens, tokens_len=tokens_len)
    assert np.abs(latent.numpy() - reference[prefix + "dequantized"]).max() < TOL
    audio, audio_len = model.decode(tokens=tokens, tokens_len=tokens_len)
    assert np.array_equal(audio_len.numpy(), reference[prefix + "decoded_len"])
    assert np.abs(audio.numpy() - reference[prefix + "decoded"]).max() < TOL
