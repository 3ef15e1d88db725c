"""Build the NeMo reference fixture that proves our pure-PyTorch LFSC matches NeMo exactly.

Runs in the separate NeMo environment, never in the project's .venv or in CI:

    bash tools/nemo_env.sh && .venv-nemo/bin/python tools/make_nemo_fixture.py

It builds NeMo 3.0.0's ``AudioCodecModel`` from the public 22.05 kHz LFSC configuration (the WavLM/SLM
discriminator removed, no dataset or logging sections) and writes, under tests/fixtures/nemo/:

- ``lfsc_small.nemo``: a reduced-width LFSC (same structure, small base_channels) as a plain tar holding
  NeMo's own resolved ``model_config.yaml`` and a ``model_weights.ckpt`` with the generator keys only;
- ``io.npz``: a zero-padded batch of two real-speech clips of different lengths and NeMo's outputs for
  them (continuous latent, tokens, dequantized latent, decoded audio, all lengths), plus the same outputs
  for item 1 run alone (``single_*``), so batched-vs-single behaviour is pinned too;
- ``full_size_keys.json``: the full-size generator's state_dict key -> shape map, key count and the
  encoder/decoder parameter counts;
- ``meta.json``: versions, seed, widths, the de-degeneration gains and the checks' figures.

NeMo's random initialisation is degenerate (every frame gets the same token, decoded audio is constant):
conv biases dominate the tiny latent. So before saving, all conv biases are zeroed and the weight-norm
gains (``parametrizations.weight.original0``) of the encoder's and the decoder's ``post_conv`` are rescaled
so the latent spans the FSQ range and the output varies; the script asserts hundreds of distinct tokens
and non-constant audio.

``--save-full PATH`` also writes a full-size random-weight generator (de-degenerated the same way) as a
.nemo for benchmarks (about 450 MB: keep it out of the repository).

Speech: codec2-examples' 16 kHz Harvard sentences (Debian package, fetched with ``apt-get download``),
resampled to 22050 Hz with soxr (VHQ), or ``--speech WAV``.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "tests" / "fixtures" / "nemo"
SEED = 1234
SAMPLE_RATE = 22050
GENERATOR_PREFIXES = ("audio_encoder.", "vector_quantizer.", "audio_decoder.")
# Two clips (start s, length s) from the Harvard sentences; lengths are not multiples of 1024 samples.
CLIPS = ((0.1, 2.3), (2.8, 1.6))
LATENT_STD = 1.0  # encoder output std after rescaling: spreads the latent over the FSQ levels
PRE_TANH_STD = 0.3  # decoder pre-tanh std after rescaling: a speech-like output level
SMALL_WIDTHS = {"encoder": 4, "decoder": 64}
FULL_WIDTHS = {"encoder": 48, "decoder": 1024}
CODEC2_WAV = "usr/share/codec2/raw/speech_orig_16k.wav"


def lfsc_config(encoder_channels: int, decoder_channels: int) -> dict:
    """The public 22.05 kHz LFSC model config (hyper-parameters per lfsc_spec.md sections 1 and 5).

    The SLM (WavLM) discriminator is left out (it downloads weights) and so are train_ds, validation_ds
    and log_config (they need data); everything the generator is built from is as published.
    """
    mod = "nemo.collections.tts.modules.audio_codec_modules"
    loss = "nemo.collections.tts.losses.audio_codec_loss"
    return {
        "sample_rate": SAMPLE_RATE,
        "samples_per_frame": 1024,
        "mel_loss_l1_scale": 1.0,
        "mel_loss_l2_scale": 0.0,
        "stft_loss_scale": 20.0,
        "time_domain_loss_scale": 0.0,
        "codebook_loss_scale": 0.0,
        "commit_loss_scale": 0.0,
        "disc_updates_per_period": 1,
        "disc_update_period": 2,
        "loss_resolutions": [[32, 8, 32], [64, 16, 64], [128, 32, 128], [256, 64, 256],
                             [512, 128, 512], [1024, 256, 1024], [2048, 512, 2048]],
        "mel_loss_dims": [5, 10, 20, 40, 80, 160, 320],
        "mel_loss_log_guard": 1.0,
        "stft_loss_log_guard": 1.0,
        "feature_loss_type": "absolute",
        "audio_encoder": {
            "_target_": f"{mod}.HiFiGANEncoder",
            "down_sample_rates": [2, 2, 4, 8, 8],
            "encoded_dim": 32,
            "base_channels": encoder_channels,
            "activation": "lrelu",
            "resblock_dilation_sizes": [1],
        },
        "audio_decoder": {
            "_target_": f"{mod}.HiFiGANDecoder",
            "up_sample_rates": [8, 8, 4, 2, 2],
            "input_dim": 32,
            "base_channels": decoder_channels,
            "activation": "lrelu",
            "output_activation": "tanh",
        },
        "vector_quantizer": {
            "_target_": f"{mod}.GroupFiniteScalarQuantizer",
            "num_groups": 8,
            "num_levels_per_group": [8, 7, 6, 6],
        },
        "discriminator": {
            "_target_": f"{mod}.Discriminator",
            "discriminators": [
                {"_target_": "nemo.collections.tts.modules.encodec_modules.MultiResolutionDiscriminatorSTFT",
                 "resolutions": [[128, 32, 128], [256, 64, 256], [512, 128, 512], [1024, 256, 1024],
                                 [2048, 512, 2048]]},
                {"_target_": f"{mod}.MultiPeriodDiscriminator"},
            ],
        },
        "generator_loss": {"_target_": f"{loss}.GeneratorSquaredLoss"},
        "discriminator_loss": {"_target_": f"{loss}.DiscriminatorSquaredLoss"},
        "optim": {"_target_": "torch.optim.Adam", "lr": 2e-4, "betas": [0.8, 0.99],
                  "sched": {"name": "ExponentialLR", "gamma": 0.998}},
    }


# LFSC's relatives, reduced in width: (sample rate, samples per frame, audio_encoder, audio_decoder and
# vector_quantizer arguments beyond _target_). The Audio Codec's are examples/tts/conf/audio_codec/
# audio_codec_{22050,44100}.yaml's; NanoCodec's are written from its model cards (see docs/nemo_fixture.md).
FAMILY_CLIPS = ((0.1, 0.75), (2.8, 0.6))  # shorter than LFSC's: the fixtures stay a few hundred KB
# 64 channels halved at each of 5 stages leaves 2 for the last half-snake (NeMo's HalfSnake fails on 1). The
# 0.6 kbit/s NanoCodec (4 x [9, 8, 8, 7]) differs from the 1.78 kbit/s one only in its group count: not stored.
_NANO_DECODER = {"_target_": "CausalHiFiGANDecoder", "base_channels": 64, "activation": "half_snake",
                 "output_activation": "clamp", "n_groups_equal_to_out_channels": True, "pad_mode": "replicate"}
_NANO_ENCODER = {"_target_": "HiFiGANEncoder", "base_channels": 2, "activation": "lrelu",
                 "resblock_dilation_sizes": [1], "pad_mode": "replicate"}
# The Mel Codec: examples/tts/conf/audio_codec/mel_codec_{22050,44100}.yaml, the ResNets and decoder narrowed.
_MEL_BANDS = [[i, i + 10] for i in range(0, 80, 10)]
_MEL_DECODER = {"_target_": "HiFiGANDecoder", "base_channels": 32, "input_dim": 32}


def _mel_encoder(rate: int, win_length: int, hop_length: int) -> dict:
    return {"_target_": "MultiBandMelEncoder", "mel_bands": _MEL_BANDS, "out_channels": 4, "hidden_channels": 8,
            "filters": 16, "mel_processor": {"_target_": "MelSpectrogramProcessor", "mel_dim": 80,
                                             "sample_rate": rate, "win_length": win_length, "hop_length": hop_length}}


_AUDIO_CODEC_DECODER = {"_target_": "HiFiGANDecoder", "base_channels": 32, "activation": "half_snake",
                        "output_activation": "clamp"}
FAMILY = {
    "audio_codec_22khz": (22050, 256,
                          {"_target_": "HiFiGANEncoder", "base_channels": 2, "activation": "lrelu",
                           "down_sample_rates": [2, 2, 8, 8], "encoded_dim": 32},
                          {**_AUDIO_CODEC_DECODER, "up_sample_rates": [8, 8, 2, 2], "input_dim": 32},
                          {"num_groups": 8, "num_levels_per_group": [8, 5, 5, 5]}),
    "audio_codec_44khz": (44100, 512,
                          {"_target_": "HiFiGANEncoder", "base_channels": 2, "activation": "lrelu",
                           "down_sample_rates": [2, 4, 8, 8], "encoded_dim": 32},
                          {**_AUDIO_CODEC_DECODER, "up_sample_rates": [8, 8, 4, 2], "input_dim": 32},
                          {"num_groups": 8, "num_levels_per_group": [8, 5, 5, 5]}),
    "nanocodec_21fps": (22050, 1024,
                        {**_NANO_ENCODER, "down_sample_rates": [2, 2, 4, 8, 8], "encoded_dim": 32},
                        {**_NANO_DECODER, "up_sample_rates": [8, 8, 4, 2, 2], "input_dim": 32},
                        {"num_groups": 8, "num_levels_per_group": [8, 7, 6, 6]}),
    "nanocodec_12fps": (22050, 1764,
                        {**_NANO_ENCODER, "down_sample_rates": [2, 3, 6, 7, 7], "encoded_dim": 52},
                        {**_NANO_DECODER, "up_sample_rates": [7, 7, 6, 3, 2], "input_dim": 52},
                        {"num_groups": 13, "num_levels_per_group": [9, 8, 8, 7]}),
    "mel_codec_22khz": (22050, 256, _mel_encoder(22050, 1024, 256), {**_MEL_DECODER, "up_sample_rates": [8, 8, 2, 2]},
                        {"num_groups": 8, "num_levels_per_group": [8, 5, 5, 5]}),
    "mel_codec_44khz": (44100, 512, _mel_encoder(44100, 2048, 512), {**_MEL_DECODER, "up_sample_rates": [8, 8, 4, 2]},
                        {"num_groups": 8, "num_levels_per_group": [8, 5, 5, 5]}),
}


def family_config(name: str) -> dict:
    """The model config of one FAMILY member: LFSC's losses and discriminators, the member's generator."""
    mod = "nemo.collections.tts.modules.audio_codec_modules"
    rate, spf, encoder, decoder, quantizer = FAMILY[name]
    config = lfsc_config(1, 1)
    if "mel_processor" in encoder:
        processor = encoder["mel_processor"]
        encoder = {**encoder, "mel_processor": {**processor, "_target_": f"{mod}.{processor['_target_']}"}}
    config.update(sample_rate=rate, samples_per_frame=spf,
                  audio_encoder={**encoder, "_target_": f"{mod}.{encoder['_target_']}"},
                  audio_decoder={**decoder, "_target_": f"{mod}.{decoder['_target_']}"},
                  vector_quantizer={"_target_": f"{mod}.GroupFiniteScalarQuantizer", **quantizer})
    return config


def build_model(widths: dict | None = None, config: dict | None = None):
    """A freshly seeded NeMo AudioCodecModel: LFSC of the given widths, or `config`; fp32, eval mode."""
    from nemo.collections.tts.models import AudioCodecModel
    from omegaconf import OmegaConf

    torch.manual_seed(SEED)
    cfg = OmegaConf.create(config or lfsc_config(widths["encoder"], widths["decoder"]))
    return AudioCodecModel(cfg=cfg).float().eval()


def speech_16k(path: Path | None) -> np.ndarray:
    """The Harvard sentences at 16 kHz: --speech, else extracted from the codec2-examples .deb."""
    if path is None:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["apt-get", "download", "codec2-examples"], cwd=tmp, check=True,
                           stdout=subprocess.DEVNULL)
            deb = next(Path(tmp).glob("codec2-examples_*.deb"))
            subprocess.run(["dpkg", "-x", str(deb), tmp + "/x"], check=True)
            x, sr = sf.read(Path(tmp) / "x" / CODEC2_WAV, dtype="float32")
    else:
        x, sr = sf.read(path, dtype="float32")
    if x.ndim > 1:
        x = x.mean(axis=1)
    assert sr == 16000, f"expected 16 kHz speech, got {sr} Hz"
    return x


def make_batch(speech: np.ndarray, rate: int = SAMPLE_RATE, clips: tuple = CLIPS,
               spf: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Two clips resampled to `rate`, zero-padded into a [2, T] batch, and their lengths."""
    y = soxr.resample(speech, 16000, rate, quality="VHQ").astype(np.float32)
    clips = [y[round(s * rate):round(s * rate) + round(d * rate)] for s, d in clips]
    lengths = [len(c) for c in clips]
    assert all(n % spf for n in lengths), lengths
    batch = np.zeros((len(clips), max(lengths)), dtype=np.float32)
    for i, c in enumerate(clips):
        batch[i, :len(c)] = c
    return torch.from_numpy(batch), torch.tensor(lengths, dtype=torch.int64)


def valid_std(x: torch.Tensor, lengths: torch.Tensor) -> float:
    """Standard deviation over the valid (unpadded) time steps of a [B, C, T] or [B, T] tensor."""
    parts = [x[i, ..., :int(n)].reshape(-1) for i, n in enumerate(lengths)]
    return torch.cat(parts).std().item()


@torch.inference_mode()
def dedegenerate(model, audio: torch.Tensor, audio_len: torch.Tensor) -> dict:
    """Zero conv biases and rescale both post_conv weight-norm gains; returns the gains applied."""
    for name, p in model.named_parameters():
        if name.startswith(("audio_encoder.", "audio_decoder.")) and name.endswith(".bias"):
            p.zero_()
    dec_g = model.audio_decoder.post_conv.conv.parametrizations.weight.original0
    if hasattr(model.audio_encoder, "encoders"):  # the Mel Codec: one ResNet, one codebook per mel band
        enc_gain = dedegenerate_mel_bands(model, audio, audio_len)
    else:
        encoded, encoded_len = model.encode_audio(audio=audio, audio_len=audio_len)
        enc_gain = LATENT_STD / valid_std(encoded, encoded_len)
        # zero biases + LeakyReLU: the encoder is positively homogeneous in this gain
        model.audio_encoder.post_conv.conv.parametrizations.weight.original0.mul_(enc_gain)

    pre_tanh = []
    hook = model.audio_decoder.post_conv.register_forward_hook(lambda m, i, o: pre_tanh.append(o))
    tokens, tokens_len = model.encode(audio=audio, audio_len=audio_len)
    model.decode(tokens=tokens, tokens_len=tokens_len)
    hook.remove()
    dec_gain = PRE_TANH_STD / valid_std(pre_tanh[0].squeeze(1), tokens_len * model.samples_per_frame)
    dec_g.mul_(dec_gain)
    return {"encoder_post_conv_gain": enc_gain, "decoder_post_conv_gain": dec_gain}


@torch.inference_mode()
def dedegenerate_mel_bands(model, audio: torch.Tensor, audio_len: torch.Tensor) -> list[float]:
    """Rescale each band's post_conv gain (the last, linear, layer of its ResNet) so its latent has LATENT_STD."""
    encoded, encoded_len = model.encode_audio(audio=audio, audio_len=audio_len)
    gains = []
    for band, encoder in zip(encoded.chunk(len(model.audio_encoder.encoders), dim=1), model.audio_encoder.encoders):
        gains.append(LATENT_STD / valid_std(band, encoded_len))
        encoder.post_conv.conv.parametrizations.weight.original0.mul_(gains[-1])
    return gains


@torch.inference_mode()
def run_nemo(model, audio: torch.Tensor, audio_len: torch.Tensor) -> dict:
    """NeMo's outputs for one batch, as numpy arrays in NeMo's own dtypes."""
    encoded, encoded_len = model.encode_audio(audio=audio, audio_len=audio_len)
    tokens, tokens_len = model.encode(audio=audio, audio_len=audio_len)
    dequantized = model.dequantize(tokens=tokens, tokens_len=tokens_len)
    decoded, decoded_len = model.decode(tokens=tokens, tokens_len=tokens_len)
    out = {"audio": audio, "audio_len": audio_len, "encoded": encoded, "encoded_len": encoded_len,
           "tokens": tokens, "tokens_len": tokens_len, "dequantized": dequantized,
           "decoded": decoded, "decoded_len": decoded_len}
    return {k: v.detach().cpu().numpy() for k, v in out.items()}


@torch.inference_mode()
def rounding_margin(model, encoded: torch.Tensor, encoded_len: torch.Tensor) -> float:
    """Smallest distance of any valid compressed FSQ value from a rounding boundary (x.5)."""
    margins = []
    groups = encoded.chunk(len(model.vector_quantizer.fsqs), dim=1)
    for fsq, z in zip(model.vector_quantizer.fsqs, groups):
        c = fsq.compress(inputs=z, input_len=encoded_len)
        for i, n in enumerate(encoded_len):
            v = c[i, :, :int(n)]
            margins.append(((v - v.floor()) - 0.5).abs().min().item())
    return min(margins)


def check_outputs(out: dict, label: str, distinct_frames_share: float = 0.9, least_distinct: int = 200) -> dict:
    """Print and assert that the outputs are not degenerate; return the figures. At 86 frames/s the pauses in speech
    repeat frames: the Audio Codec's checks accept a lower `distinct_frames_share`; the Mel Codec's codebooks for
    the mel bands above 8 kHz see next to nothing of the 16 kHz speech, so it accepts fewer `least_distinct`."""
    tokens, n_frames = out["tokens"], out["tokens_len"]
    valid = [out["tokens"][i, :, :int(n)] for i, n in enumerate(n_frames)]
    distinct = len(np.unique(np.concatenate([v.reshape(-1) for v in valid])))
    valid_tokens = sum(v.size for v in valid)
    distinct_per_group = [len(np.unique(np.concatenate([v[g] for v in valid]))) for g in range(tokens.shape[1])]
    frames = np.concatenate([v.T for v in valid])
    distinct_frames = len({tuple(f) for f in frames})
    audio_std = [float(out["decoded"][i, :int(n)].std()) for i, n in enumerate(out["decoded_len"])]
    print(f"{label}: tokens {tokens.shape}, distinct tokens {distinct}, per codebook {distinct_per_group}, "
          f"distinct frames {distinct_frames}/{len(frames)}, decoded std {[round(s, 4) for s in audio_std]}")
    assert distinct > min(least_distinct, valid_tokens // 2), f"{label}: only {distinct} distinct tokens"
    assert distinct_frames >= distinct_frames_share * len(frames), f"{label}: too many repeated frames"
    assert min(audio_std) > 1e-3, f"{label}: decoded audio is (nearly) constant"
    return {"distinct_tokens": distinct, "distinct_tokens_per_codebook": distinct_per_group,
            "distinct_frames": distinct_frames, "frames": len(frames), "decoded_std": audio_std}


def save_generator_nemo(model, path: Path) -> None:
    """Save with NeMo's save_to, then keep only the generator weights (plain tar, NeMo's member names)."""
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full.nemo"
        model.save_to(str(full))
        with tarfile.open(full, "r:") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            config = tar.extractfile(members["model_config.yaml"]).read()
            state = torch.load(tar.extractfile(members["model_weights.ckpt"]), map_location="cpu",
                               weights_only=True)
        assert set(members) == {"model_config.yaml", "model_weights.ckpt"}, sorted(members)
        generator = {k: v for k, v in state.items() if k.startswith(GENERATOR_PREFIXES)}
        weights = io.BytesIO()
        torch.save(generator, weights)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path, "w:") as tar:
            for name, data in (("./model_config.yaml", config), ("./model_weights.ckpt", weights.getvalue())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))


def generator_key_shapes(model) -> dict:
    """Generator state_dict key -> shape, in NeMo's order and spelling."""
    return {k: list(v.shape) for k, v in model.state_dict().items() if k.startswith(GENERATOR_PREFIXES)}


def write_keys_json(path: Path, keys: dict, counts: dict) -> None:
    """Write the key -> shape map as JSON with one key per line, so diffs stay readable."""
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in keys.items()]
    path.write_text(f'{{\n "num_keys": {len(keys)},\n "parameter_counts": {json.dumps(counts)},\n'
                    f' "keys": {{\n' + ",\n".join(lines) + "\n }\n}\n")


def check_restore(path: Path, audio: torch.Tensor, audio_len: torch.Tensor, expected: dict) -> None:
    """Restore the saved .nemo with NeMo and require bit-identical outputs."""
    from nemo.collections.tts.models import AudioCodecModel

    restored = AudioCodecModel.restore_from(str(path), map_location="cpu").float().eval()
    again = run_nemo(restored, audio, audio_len)
    for k in expected:
        assert np.array_equal(again[k], expected[k]), f"restored {path.name}: {k} differs"
    print(f"restored {path.name} with NeMo: identical outputs")


def make_family_member(name: str, speech: np.ndarray, out: Path) -> dict:
    """Build one FAMILY member with NeMo, de-degenerate it, save <name>.nemo and <name>.npz; returns its figures."""
    rate, spf = FAMILY[name][:2]
    audio, audio_len = make_batch(speech, rate, FAMILY_CLIPS, spf)
    single_audio, single_len = audio[1:, :int(audio_len[1])].clone(), audio_len[1:].clone()
    model = build_model(config=family_config(name))
    gains = dedegenerate(model, audio, audio_len)
    batch, single = run_nemo(model, audio, audio_len), run_nemo(model, single_audio, single_len)
    share = 0.75 if spf < 1024 else 0.9
    least = 100 if name.startswith("mel_codec") else 200
    figures = {"batch": check_outputs(batch, f"{name} batch", share, least),
               "single item 1": check_outputs(single, f"{name} single", share, least)}
    margin = min(rounding_margin(model, torch.from_numpy(o["encoded"]), torch.from_numpy(o["encoded_len"]))
                 for o in (batch, single))
    print(f"{name}: smallest FSQ rounding margin {margin:.2e}")
    assert margin > 2e-5, f"{name}: a latent sits too close to a rounding boundary for a robust token comparison"
    save_generator_nemo(model, out / f"{name}.nemo")
    check_restore(out / f"{name}.nemo", audio, audio_len, batch)
    np.savez_compressed(out / f"{name}.npz", **batch, **{f"single_{k}": v for k, v in single.items()})
    return {"sample_rate": rate, "samples_per_frame": spf, "clips_start_length_s": FAMILY_CLIPS,
            "dedegeneration": gains, "checks": figures, "min_fsq_rounding_margin": margin}


def main() -> None:
    """Build the fixture (and optionally the full-size benchmark .nemo)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speech", type=Path, help="16 kHz speech WAV (default: codec2-examples' Harvard sentences)")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--save-full", type=Path, help="also write a full-size random-weight generator .nemo here")
    parser.add_argument("--family", nargs="*", choices=sorted(FAMILY), default=sorted(FAMILY),
                        help="LFSC's relatives to build (default: all; none: only LFSC)")
    parser.add_argument("--family-only", action="store_true", help="skip the LFSC fixture")
    args = parser.parse_args()

    import nemo

    torch.set_num_threads(2)
    if args.family:
        speech = speech_16k(args.speech)
        path = args.out / "family_meta.json"
        meta = json.loads(path.read_text()) if path.exists() else {}
        for name in args.family:
            meta[name] = make_family_member(name, speech, args.out)
        meta = {"nemo_version": nemo.__version__, "torch_version": torch.__version__, "seed": SEED,
                **{k: v for k, v in sorted(meta.items()) if k in FAMILY}}
        path.write_text(json.dumps(meta, indent=1) + "\n")
    if args.family_only:
        return
    audio, audio_len = make_batch(speech_16k(args.speech))
    single_audio, single_len = audio[1:, :int(audio_len[1])].clone(), audio_len[1:].clone()

    small = build_model(SMALL_WIDTHS)
    gains = dedegenerate(small, audio, audio_len)
    batch = run_nemo(small, audio, audio_len)
    single = run_nemo(small, single_audio, single_len)
    figures = {"batch": check_outputs(batch, "batch"), "single item 1": check_outputs(single, "single item 1")}
    margin = min(rounding_margin(small, torch.from_numpy(o["encoded"]), torch.from_numpy(o["encoded_len"]))
                 for o in (batch, single))
    print(f"smallest distance of a compressed FSQ value from a rounding boundary: {margin:.2e}")
    # fp32 latents of two correct implementations differ by ~1e-6 (see batched vs single): far below this
    assert margin > 2e-5, "a latent sits too close to a rounding boundary for a robust token comparison"

    args.out.mkdir(parents=True, exist_ok=True)
    save_generator_nemo(small, args.out / "lfsc_small.nemo")
    check_restore(args.out / "lfsc_small.nemo", audio, audio_len, batch)
    np.savez_compressed(args.out / "io.npz", **batch, **{f"single_{k}": v for k, v in single.items()})

    full = build_model(FULL_WIDTHS)
    keys = generator_key_shapes(full)
    counts = {name: sum(p.numel() for p in getattr(full, name).parameters())
              for name in ("audio_encoder", "audio_decoder")}
    print(f"full size: {len(keys)} generator keys, encoder {counts['audio_encoder']:,}, "
          f"decoder {counts['audio_decoder']:,} parameters")
    assert len(keys) == 418 and counts == {"audio_encoder": 57_641_200, "audio_decoder": 55_056_258}
    write_keys_json(args.out / "full_size_keys.json", keys, counts)
    if args.save_full:
        full_gains = dedegenerate(full, audio, audio_len)
        check_outputs(run_nemo(full, audio, audio_len), "full size")
        save_generator_nemo(full, args.save_full)
        print(f"wrote {args.save_full} (full-size random weights, gains {full_gains})")
    del full

    meta = {
        "nemo_version": nemo.__version__,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "soxr_version": soxr.__version__,
        "seed": SEED,
        "dtype": "float32",
        "widths": SMALL_WIDTHS,
        "speech": f"{args.speech.name if args.speech else 'codec2-examples ' + CODEC2_WAV}"
                  " (Harvard sentences), soxr VHQ 16000 -> 22050 Hz",
        "clips_start_length_s": CLIPS,
        "dedegeneration": {"conv_biases": "zeroed", "target_latent_std": LATENT_STD,
                           "target_pre_tanh_std": PRE_TANH_STD, **gains},
        "checks": figures,
        "min_fsq_rounding_margin": margin,
        "nemo_dtypes": {k: str(v.dtype) for k, v in batch.items()},
        "rerun": "bash tools/nemo_env.sh && .venv-nemo/bin/python tools/make_nemo_fixture.py",
    }
    (args.out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    for f in sorted(args.out.iterdir()):
        print(f"{f.relative_to(ROOT)}: {f.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
