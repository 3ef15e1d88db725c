"""Loading .nemo checkpoints without NeMo: spellings, foreign keys, bad files, trust."""

import argparse
import tarfile

import pytest
import torch
import yaml

from codec.errors import UserError
from codec.lfsc.checkpoint import config_to_dict, load_lfsc
from codec.lfsc.model import LFSCModel
from conftest import small_config


def write_nemo(path, config: dict, state: dict, mode: str = "w:") -> str:
    torch.save(state, path.parent / "model_weights.ckpt")
    (path.parent / "model_config.yaml").write_text(yaml.safe_dump(config))
    with tarfile.open(path, mode) as tar:
        tar.add(path.parent / "model_config.yaml", arcname="./model_config.yaml")
        tar.add(path.parent / "model_weights.ckpt", arcname="./model_weights.ckpt")
    return str(path)


@pytest.fixture(scope="module")
def reference():
    torch.manual_seed(1)
    model = LFSCModel(small_config()).eval()
    audio = torch.randn(1, 4500) * 0.1
    tokens, _ = model.encode(audio=audio, audio_len=torch.tensor([4500]))
    return model, audio, tokens


def legacy_spelling(state: dict) -> dict:
    return {
        k.replace(".parametrizations.weight.original0", ".weight_g").replace(".parametrizations.weight.original1", ".weight_v"): v
        for k, v in state.items()
    }


@pytest.mark.parametrize("spelling", ["parametrizations", "legacy"])
@pytest.mark.parametrize("mode", ["w:", "w:gz"])
def test_both_weight_norm_spellings_and_gzip_load(tmp_path, reference, spelling, mode):
    model, audio, tokens = reference
    state = model.state_dict()
    if spelling == "legacy":
        state = legacy_spelling(state)
        assert any(k.endswith("weight_g") for k in state)
    path = write_nemo(tmp_path / "m.nemo", config_to_dict(model.config), state, mode)
    loaded = load_lfsc(path, device="cpu")
    assert torch.equal(loaded.encode(audio=audio, audio_len=torch.tensor([4500]))[0], tokens)


def test_folded_weight_norm_gives_identical_output(tmp_path, reference):
    model, audio, tokens = reference
    path = write_nemo(tmp_path / "m.nemo", config_to_dict(model.config), model.state_dict())
    folded, unfolded = load_lfsc(path, device="cpu"), load_lfsc(path, device="cpu", fold_weight_norm=False)
    assert not any(k.endswith("original0") for k in folded.state_dict())
    a = folded.decode(tokens=tokens, tokens_len=torch.tensor([5]))[0]
    b = unfolded.decode(tokens=tokens, tokens_len=torch.tensor([5]))[0]
    assert torch.equal(a, b)


def test_discriminator_and_loss_keys_are_ignored(tmp_path, reference):
    model, audio, tokens = reference
    state = dict(model.state_dict())
    state["discriminator.discriminators.0.discriminators.0.window"] = torch.ones(128)
    state["mel_loss_fn.mel_features.0.fb"] = torch.ones(1, 5, 17)
    path = write_nemo(tmp_path / "m.nemo", config_to_dict(model.config), state)
    assert torch.equal(load_lfsc(path, device="cpu").encode(audio=audio, audio_len=torch.tensor([4500]))[0], tokens)


def test_unexpected_and_missing_generator_keys_are_named(tmp_path, reference):
    model = reference[0]
    state = dict(model.state_dict())
    state["audio_decoder.extra.weight"] = torch.ones(1)
    with pytest.raises(UserError, match="audio_decoder.extra.weight"):
        load_lfsc(write_nemo(tmp_path / "a.nemo", config_to_dict(model.config), state))
    state = dict(model.state_dict())
    del state["audio_encoder.pre_conv.conv.bias"]
    with pytest.raises(UserError, match=r"missing 1 keys \(audio_encoder.pre_conv.conv.bias\)"):
        load_lfsc(write_nemo(tmp_path / "b.nemo", config_to_dict(model.config), state))
    state = dict(model.state_dict())
    state["speaker_encoder.w"] = torch.ones(1)
    with pytest.raises(UserError, match="unexpected keys for LFSC: speaker_encoder.w"):
        load_lfsc(write_nemo(tmp_path / "c.nemo", config_to_dict(model.config), state))


def test_other_widths_load_from_their_config_and_wrong_shapes_are_refused(tmp_path, reference):
    model = reference[0]
    config = config_to_dict(model.config)
    config["audio_decoder"]["base_channels"] = 64  # config says another width than the weights hold
    with pytest.raises(UserError, match="do not match"):
        load_lfsc(write_nemo(tmp_path / "w.nemo", config, model.state_dict()))


def test_other_architectures_are_refused(tmp_path, reference):
    model = reference[0]
    config = config_to_dict(model.config)
    config["audio_encoder"]["_target_"] = "nemo.collections.tts.modules.audio_codec_modules.MultiResolutionSTFTEncoder"
    with pytest.raises(UserError, match="another architecture"):
        load_lfsc(write_nemo(tmp_path / "x.nemo", config, model.state_dict()))


def test_corrupt_and_foreign_files_give_clear_errors(tmp_path, small_nemo):
    bad = tmp_path / "bad.nemo"
    bad.write_bytes(b"this is not a tar archive" * 100)
    with pytest.raises(UserError, match="not a readable .nemo archive"):
        load_lfsc(bad)
    truncated = tmp_path / "trunc.nemo"
    truncated.write_bytes(small_nemo.read_bytes()[: small_nemo.stat().st_size // 2])
    with pytest.raises(UserError):
        load_lfsc(truncated)
    with pytest.raises(UserError, match="no such checkpoint"):
        load_lfsc(tmp_path / "missing.nemo")


def test_pickled_objects_need_the_explicit_trust_flag(tmp_path, reference):
    model = reference[0]
    state = {"state_dict": dict(model.state_dict()), "hparams": argparse.Namespace(lr=1)}
    path = write_nemo(tmp_path / "p.nemo", config_to_dict(model.config), state)
    with pytest.raises(UserError, match="--trust-checkpoint"):
        load_lfsc(path)
    assert load_lfsc(path, trust=True, device="cpu").num_codebooks == 8
