"""Training end to end on CPU with a reduced-width LFSC: loss goes down, resume is exact, exports load, bad input."""

from __future__ import annotations

import csv
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from codec.errors import UserError
from train.config import build_config
from train.data import ManifestSpec
from train.loop import Trainer
from train.run_folder import RunSpec

# Reduced width (encoder 4, decoder 32 channels), short crops, small batches: seconds per run on two cores.
SMALL = {
    "generator.encoder.base_channels": 4,
    "generator.decoder.base_channels": 32,
    "batch_size": 2,
    "n_samples": 4096,
    "epoch_items": 4,
    "num_workers": 0,
    "use_discriminator": False,
    "val_count": 1,
    "val_max_seconds": 2.0,
    "log_every": 1,
    "sample_every": 1000,
    "checkpoint_every": 1000,
    "export_every": 100000,
}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def utterance() -> Path:
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest

    if not default_manifest().exists():
        pytest.skip("bundled speech (assets/speech) is not present")
    return next(u for u in load_manifest(default_manifest()) if u.lang == "en").audio_path


def manifest(folder: Path, *paths: Path, duration: float | None = None) -> Path:
    """A NeMo-style manifest of `paths` (absolute)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "train.jsonl"
    lines = [json.dumps({"audio_filepath": str(p), **({"duration": duration} if duration else {})}) for p in paths]
    path.write_text("\n".join(lines) + "\n")
    return path


def train(out: Path, manifest_path: Path | None, resume: bool = False, **overrides) -> Trainer:
    spec = RunSpec(out, [ManifestSpec(manifest_path)] if manifest_path else [], resume=resume,
                   init_from=overrides.pop("init_from", None), freeze_encoder=overrides.pop("freeze_encoder", False))
    base = {} if resume else {k: v for k, v in SMALL.items() if not (spec.init_from and k.startswith("generator."))}
    trainer = Trainer(spec, {**base, **overrides})
    trainer.fit()
    return trainer


def rows(out: Path) -> list[dict]:
    with open(out / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_a_few_hundred_steps_halve_the_reconstruction_loss(tmp_path, utterance):
    # From scratch with the data-dependent init, the recipe's lr; one fresh 16-frame crop per step (epoch = 1 item,
    # so no per-epoch lr decay); validation on the whole utterance (77 frames).
    out = tmp_path / "run"
    trainer = train(out, manifest(tmp_path, utterance), max_steps=300, batch_size=1, n_samples=16384, epoch_items=1,
                    lr_decay=1.0, sample_every=100, log_every=100, val_max_seconds=10.0)
    c = trainer.config
    recon = lambda mel, stft: c.mel_loss_l1_scale * mel + c.stft_loss_scale * stft  # noqa: E731  the recipe's
    curve = [(int(r["step"]), recon(float(r["val_mel_l1"]), float(r["val_stft"])), float(r["val_loss"]))
             for r in rows(out) if r["val_loss"]]
    audio = torch.from_numpy(trainer.val_audio[0])[None]
    audio, length = trainer.models.generator.pad_audio(audio, torch.tensor([audio.shape[1]]))
    silent = torch.zeros_like(audio)
    step = trainer.train_step
    silence = recon(step.mel_loss(audio, silent, length).item(), step.stft_loss(audio, silent, length).item())
    trainer.models.generator.eval()
    with torch.no_grad():
        tokens = trainer.models.generator(audio, length)[2][0]
    distinct = len(torch.unique(tokens.T, dim=0))
    print(f"reconstruction loss (mel L1 + 20 STFT L1, NeMo val_loss) by step: {curve}; silent output: {silence:.3f}; "
          f"distinct tokens {distinct} of {tokens.shape[1]} frames")
    assert curve[0][0] == 0 and curve[-1][0] == 300
    assert curve[-1][1] <= 0.5 * curve[0][1]
    # More than turning the initial noise down: clearly better than outputting silence.
    assert curve[-1][1] <= 0.95 * silence
    # The degenerate random init coded every frame alike; the trained encoder still tells the frames apart.
    assert distinct >= tokens.shape[1] // 2


def test_resume_continues_the_same_curve(tmp_path, utterance):
    data = manifest(tmp_path, utterance)
    settings = dict(use_discriminator=True, slm_backbone="none", stft_disc_resolutions=[[128, 32, 128]], mpd_periods=[2, 3])
    whole = train(tmp_path / "whole", data, max_steps=5, **settings)
    train(tmp_path / "split", data, max_steps=3, **settings)  # stops mid-epoch (2 batches per epoch)
    resumed = train(tmp_path / "split", None, resume=True, max_steps=5)
    assert resumed.progress.step == 5 and resumed.progress.epoch == whole.progress.epoch
    for (name, a), b in zip(whole.models.generator.state_dict().items(), resumed.models.generator.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    for (name, a), b in zip(whole.models.discriminator.state_dict().items(), resumed.models.discriminator.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    curve = lambda out: [(r["step"], r["g_loss"], r["d_loss"]) for r in rows(out) if r["g_loss"]]  # noqa: E731
    whole_curve, split_curve = curve(tmp_path / "whole"), curve(tmp_path / "split")
    assert [s for s, _, _ in split_curve] == ["1", "2", "3", "4", "5"]
    np.testing.assert_allclose(
        [float(g) for _, g, _ in split_curve], [float(g) for _, g, _ in whole_curve], rtol=1e-5
    )
    assert whole.models.opt_g.param_groups[0]["lr"] == pytest.approx(resumed.models.opt_g.param_groups[0]["lr"])


def test_exported_nemo_loads_in_our_codec_with_the_same_output(tmp_path, utterance):
    from codec.lfsc.checkpoint import load_lfsc

    trainer = train(tmp_path / "run", manifest(tmp_path, utterance), max_steps=2)
    path = tmp_path / "run" / "model.nemo"
    loaded = load_lfsc(path, device="cpu", fold_weight_norm=False)
    folded = load_lfsc(path, device="cpu")
    audio = torch.from_numpy(trainer.val_audio[0])[None]
    length = torch.tensor([audio.shape[1]])
    trainer.models.generator.eval()
    with torch.no_grad():
        expected, _, tokens = trainer.models.generator(audio, length)
        got, _, got_tokens = loaded(audio, length)
        got_folded, _, _ = folded(audio, length)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert torch.equal(got_tokens, tokens)
    torch.testing.assert_close(got_folded, expected, rtol=1e-4, atol=1e-5)
    with tarfile.open(path) as tar:
        config = yaml.safe_load(tar.extractfile("./model_config.yaml"))
    assert config["target"] == "nemo.collections.tts.models.audio_codec.AudioCodecModel"
    assert config["optim"]["sched"] == {"name": "ExponentialLR", "gamma": 0.998}
    assert config["audio_decoder"]["base_channels"] == 32


def test_fine_tune_with_frozen_encoder(tmp_path, utterance):
    data = manifest(tmp_path, utterance)
    base = train(tmp_path / "base", data, max_steps=1)
    tuned = train(tmp_path / "tuned", data, max_steps=2, init_from=tmp_path / "base" / "model.nemo", freeze_encoder=True)
    before, after = base.models.generator.state_dict(), tuned.models.generator.state_dict()
    enc = [k for k in before if k.startswith("audio_encoder.")]
    dec = [k for k in before if k.startswith("audio_decoder.") and "original1" in k]
    assert all(torch.equal(before[k], after[k]) for k in enc)
    assert any(not torch.equal(before[k], after[k]) for k in dec)
    # The run resumes: its config.yaml holds the checkpoint's generator sizes.
    assert train(tmp_path / "tuned", None, resume=True, max_steps=3).progress.step == 3


def test_training_step_with_the_whisper_slm_discriminator(tmp_path, utterance):
    pytest.importorskip("ctranslate2")
    trainer = train(tmp_path / "run", manifest(tmp_path, utterance), max_steps=1, use_discriminator=True,
                    slm_backbone="whisper", stft_disc_resolutions=[[128, 32, 128]], mpd_periods=[2])
    row = [r for r in rows(tmp_path / "run") if r["g_loss"]][-1]
    assert all(row[k] for k in ("d_loss", "gen_adv", "feature")), row
    assert all(p.grad is None for p in trainer.models.discriminator.discriminators[2].slm_model.parameters())
    with tarfile.open(tmp_path / "run" / "model.nemo") as tar:
        config = yaml.safe_load(tar.extractfile("./model_config.yaml"))
    # NeMo has no Whisper SLM discriminator: the exported config lists the STFT and period discriminators only.
    assert [d["_target_"].rsplit(".", 1)[1] for d in config["discriminator"]["discriminators"]] == [
        "MultiResolutionDiscriminatorSTFT", "MultiPeriodDiscriminator"]


def test_unreadable_files_are_skipped_with_a_count(tmp_path, utterance, caplog):
    broken = tmp_path / "broken.wav"
    broken.write_text("not audio")
    data = manifest(tmp_path, utterance, broken, duration=3.0)
    with open(data, "a") as f:
        f.write(json.dumps({"audio_filepath": str(tmp_path / "missing.wav")}) + "\n")  # no duration: checked up front
    with caplog.at_level("INFO", logger="lfsc-train"):
        trainer = train(tmp_path / "run", data, max_steps=4, epoch_items=6)
    assert trainer.progress.skipped > 0
    assert int([r for r in rows(tmp_path / "run") if r["skipped"]][-1]["skipped"]) == trainer.progress.skipped
    assert "skipped unreadable training file" in caplog.text and "broken.wav" in caplog.text
    assert "1 unreadable skipped" in caplog.text


def test_unknown_config_key_is_an_error_naming_it():
    with pytest.raises(UserError, match="unknown config key 'batch_sise'"):
        build_config({"batch_sise": 8})
    with pytest.raises(UserError, match="unknown config key 'generator.decoder.channels'"):
        build_config({"generator.decoder.channels": 8})
    with pytest.raises(UserError, match="batch_size='eight'"):
        build_config({"batch_size": "eight"})
    assert build_config({"lr": 1}).lr == 1.0


def test_cli_reports_errors_on_one_line(tmp_path, capsys):
    from train.cli import main

    assert main(["--manifest", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o"), "batch_sise=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "batch_sise" in err
    assert main(["--out", str(tmp_path / "o"), "--resume"]) == 2
    assert "holds no training state" in capsys.readouterr().err


def test_resume_with_another_architecture_is_an_error(tmp_path, utterance):
    train(tmp_path / "run", manifest(tmp_path, utterance), max_steps=1)
    with pytest.raises(UserError, match="another architecture"):
        Trainer(RunSpec(tmp_path / "run", [], resume=True), {"generator.decoder.base_channels": 64})
    with pytest.raises(UserError, match="already holds a training run"):
        Trainer(RunSpec(tmp_path / "run", [ManifestSpec(tmp_path / "train.jsonl")]), SMALL)
