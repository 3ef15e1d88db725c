"""Data-dependent weight-norm initialisation: NeMo's random init is degenerate, the init fixes it on one batch."""

from __future__ import annotations

import pytest
import torch

from codec.lfsc.model import LFSCModel
from codec.lfsc.nn import Conv1dNorm, ConvTranspose1dNorm
from train.config import build_config, generator_config
from train.weight_norm_init import LATENT_STD, data_dependent_init


pytestmark = pytest.mark.usefixtures("one_thread")


def small_generator() -> LFSCModel:
    config = build_config({"generator.encoder.base_channels": 4, "generator.decoder.base_channels": 32})
    torch.manual_seed(1234)
    return LFSCModel(generator_config(config.generator))


@pytest.fixture(scope="module")
def speech() -> torch.Tensor:
    """Two 16-frame crops of bundled speech at 22.05 kHz, [2, 16384]."""
    from codec.audio import load_audio
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest

    if not default_manifest().exists():
        pytest.skip("bundled speech (assets/speech) is not present")
    path = next(u for u in load_manifest(default_manifest()) if u.lang == "en").audio_path
    x = torch.from_numpy(load_audio(path, 22050).samples)
    return torch.stack([x[10_000:26_384], x[40_000:56_384]])


def outputs(model: LFSCModel, audio: torch.Tensor) -> dict[torch.nn.Module, torch.Tensor]:
    """Every weight-normed conv's (masked) output for `audio`, and the tokens under key 'tokens'."""
    seen = {}
    hooks = [m.register_forward_hook(lambda m, i, o: seen.__setitem__(m, o))
             for m in model.modules() if isinstance(m, (Conv1dNorm, ConvTranspose1dNorm))]
    with torch.no_grad():
        _, _, seen["tokens"] = model(audio, torch.full((len(audio),), audio.shape[1]))
    for h in hooks:
        h.remove()
    return seen


def distinct(tokens: torch.Tensor) -> int:
    return len(torch.unique(tokens.transpose(1, 2).reshape(-1, tokens.shape[1]), dim=0))


def test_random_init_is_degenerate(speech):
    model = small_generator()
    seen = outputs(model, speech)
    latent = seen[model.audio_encoder.post_conv]
    assert distinct(seen["tokens"]) == 1  # every frame of both crops gets the same token
    assert latent.std(dim=2).max() < 1e-2 < latent.abs().mean()  # a constant, barely varying in time
    assert seen[model.audio_decoder.post_conv].std() < 1e-3  # the decoded audio is (nearly) constant


def test_data_dependent_init_normalises_every_conv_on_the_batch(speech):
    model = small_generator()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    report = data_dependent_init(model, speech, torch.full((2,), speech.shape[1]))
    seen = outputs(model, speech)
    enc_post, dec_post = model.audio_encoder.post_conv, model.audio_decoder.post_conv
    for module, out in seen.items():
        if module == "tokens":
            continue
        mean, std = out.mean(dim=(0, 2)), out.std(dim=(0, 2), unbiased=False)
        torch.testing.assert_close(mean, torch.zeros_like(mean), atol=1e-3 * std.max().item(), rtol=0)
        if isinstance(module, ConvTranspose1dNorm):  # one gain for all channels: the channels' rms is the target
            assert std.pow(2).mean().sqrt().item() == pytest.approx(1.0, rel=1e-3)
        elif module is dec_post:
            assert std.item() == pytest.approx(speech.std(unbiased=False).item(), rel=1e-3)
        else:
            target = LATENT_STD if module is enc_post else 1.0
            torch.testing.assert_close(std, torch.full_like(std, target), rtol=1e-3, atol=0)
    assert distinct(seen["tokens"]) >= 30  # of 32 frames
    assert report["distinct_tokens_before"] == 1 and report["distinct_tokens"] == distinct(seen["tokens"])
    assert report["frames"] == 32 and report["layers"] == sum(isinstance(m, (Conv1dNorm, ConvTranspose1dNorm))
                                                               for m in model.modules())
    # Only gains and biases change; the weight-norm directions and the quantizer buffers are the random init's.
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.endswith(("original0", ".bias")) for k in changed)
