"""LFSC's NeMo relatives (Audio Codec 22/44 kHz, NanoCodec, Mel Codec 22/44 kHz) through the one .nemo loader, against NeMo 3.0.0 itself:
same tokens, latents and audio on real speech, with weight norm spelt either way (fixtures made by
tools/make_nemo_fixture.py; see docs/nemo_fixture.md)."""

import io
import tarfile

import numpy as np
import pytest
import torch

from codec.lfsc.checkpoint import load_lfsc
from conftest import NEMO_FIXTURE
from tar_members import tar_bytes

pytestmark = pytest.mark.nemo
TOL = 1e-5
# name: (sample rate, samples per frame, codebooks, codebook size, causal decoder)
FAMILY = {
    "audio_codec_22khz": (22050, 256, 8, 1000, False),
    "audio_codec_44khz": (44100, 512, 8, 1000, False),
    "nanocodec_21fps": (22050, 1024, 8, 2016, True),
    "nanocodec_12fps": (22050, 1764, 13, 4032, True),
    "mel_codec_22khz": (22050, 256, 8, 1000, False),
    "mel_codec_44khz": (44100, 512, 8, 1000, False),
}
MEL_CODECS = [name for name in FAMILY if name.startswith("mel_codec")]


def legacy_spelling(path, tmp_path):
    """A copy of the .nemo at `path` with weight norm spelt as torch.nn.utils.weight_norm did (weight_g, weight_v)."""
    with tarfile.open(path, "r:") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    name = next(n for n in members if n.endswith("model_weights.ckpt"))
    state = torch.load(io.BytesIO(members[name]), weights_only=True)
    renamed = {k.replace(".parametrizations.weight.original0", ".weight_g")
                .replace(".parametrizations.weight.original1", ".weight_v"): v for k, v in state.items()}
    assert renamed.keys() != state.keys()
    buffer = io.BytesIO()
    torch.save(renamed, buffer)
    members[name] = buffer.getvalue()
    out = tmp_path / path.name
    out.write_bytes(tar_bytes(list(members.items())))
    return out


# The 44 kHz Mel Codec differs from the 22 kHz one only in its sizes (its filterbank is checked fast, below).
@pytest.fixture(scope="module", params=[pytest.param(n, marks=pytest.mark.slow) if n == "mel_codec_44khz" else n
                                        for n in FAMILY])
def member(request):
    return request.param, dict(np.load(NEMO_FIXTURE / f"{request.param}.npz"))


@pytest.mark.parametrize("spelling", ["parametrizations", "weight_g/weight_v"])
def test_family_matches_nemo(member, spelling, tmp_path):
    name, ref = member
    path = NEMO_FIXTURE / f"{name}.nemo"
    legacy = spelling != "parametrizations"
    model = load_lfsc(legacy_spelling(path, tmp_path) if legacy else path, device="cpu", fold_weight_norm=legacy)
    rate, spf, codebooks, size, causal = FAMILY[name]
    assert (model.sample_rate, model.samples_per_frame, model.num_codebooks, model.codebook_size) == \
        (rate, spf, codebooks, size)
    assert model.config.decoder.causal is causal
    for prefix in ("", "single_"):
        audio, audio_len = torch.from_numpy(ref[prefix + "audio"]), torch.from_numpy(ref[prefix + "audio_len"])
        encoded, encoded_len = model.encode_audio(audio=audio, audio_len=audio_len)
        assert np.array_equal(encoded_len.numpy(), ref[prefix + "encoded_len"])
        assert np.abs(encoded.numpy() - ref[prefix + "encoded"]).max() < TOL
        # encode is encode_audio then quantize (as NeMo's): the encoder runs once
        assert np.array_equal(model.quantize(encoded=encoded, encoded_len=encoded_len).numpy(), ref[prefix + "tokens"])
        tokens, tokens_len = torch.from_numpy(ref[prefix + "tokens"]), torch.from_numpy(ref[prefix + "tokens_len"])
        assert np.abs(model.dequantize(tokens=tokens, tokens_len=tokens_len).numpy() - ref[prefix + "dequantized"]).max() < TOL
        decoded, decoded_len = model.decode(tokens=tokens, tokens_len=tokens_len)
        assert np.array_equal(decoded_len.numpy(), ref[prefix + "decoded_len"])
        assert np.abs(decoded.numpy() - ref[prefix + "decoded"]).max() < TOL


@pytest.mark.parametrize("name", [n for n, spec in FAMILY.items() if spec[4]])
def test_causal_decoder_output_does_not_depend_on_later_frames(name):
    model = load_lfsc(NEMO_FIXTURE / f"{name}.nemo", device="cpu")
    tokens = torch.from_numpy(np.load(NEMO_FIXTURE / f"{name}.npz")["single_tokens"])
    n = tokens.shape[-1]
    full, _ = model.decode(tokens=tokens, tokens_len=torch.tensor([n]))
    changed = tokens.clone()
    changed[..., n // 2:] = (changed[..., n // 2:] + 1) % model.codebook_size
    other, _ = model.decode(tokens=changed, tokens_len=torch.tensor([n]))
    cut = (n // 2) * model.samples_per_frame
    assert torch.equal(full[:, :cut], other[:, :cut])
    assert not torch.equal(full[:, cut:], other[:, cut:])


# the causal decoder, 1764 samples a frame; the mel encoder, whose STFT reaches past its frame
@pytest.mark.parametrize("name", ["nanocodec_12fps", "mel_codec_22khz"])
def test_nemo_prefix_codes_at_the_checkpoints_own_rate_and_chunks_give_whole_file_results(name):
    from codec.registry import get_codec

    path = NEMO_FIXTURE / f"{name}.nemo"
    rate, spf, codebooks, size, _ = FAMILY[name]
    audio = np.load(NEMO_FIXTURE / f"{name}.npz")["audio"][0]
    whole = get_codec(f"nemo:{path}", device="cpu")
    chunked = get_codec(f"nemo:{path}", device="cpu", chunk_seconds=0.2)
    assert (whole.name, whole.sample_rate, whole.nominal_bitrate) == \
        (f"nemo:{path}", rate, pytest.approx(codebooks * np.log2(size) * rate / spf))
    payload = whole.encode(audio)
    assert payload == chunked.encode(audio)
    decoded = whole.decode(payload, len(audio))
    assert len(decoded) == len(audio) and np.abs(decoded - chunked.decode(payload, len(audio))).max() < 1e-5


def test_nemo_prefix_without_a_path_is_one_line():
    from codec.errors import UserError
    from codec.registry import get_codec

    with pytest.raises(UserError, match="nemo:PATH"):
        get_codec("nemo:")


@pytest.mark.parametrize("name", MEL_CODECS)
def test_mel_codec_filterbank_and_window_computed_here_are_nemos(name):
    from codec.lfsc.model import LFSCModel

    loaded = load_lfsc(NEMO_FIXTURE / f"{name}.nemo", device="cpu")  # its buffers are NeMo's, from the file
    built = LFSCModel(loaded.config)  # ours, computed from the config
    nemo, ours = (m.audio_encoder.mel_processor.preprocessor.featurizer for m in (loaded, built))
    assert nemo.fb.shape == (1, 80, loaded.config.encoder.win_length // 2 + 1)
    assert torch.equal(nemo.fb, ours.fb) and torch.equal(nemo.window, ours.window)


@pytest.mark.parametrize(("change", "message"), [
    (lambda enc: enc.update(mel_bands=[[0, 40], [50, 80]]), "must cover all 80 mel channels"),
    (lambda enc: enc["mel_processor"].update(n_fft=1024), r"mel_processor \(MelSpectrogramProcessor\) has arguments"),
    (lambda enc: enc["mel_processor"].update(hop_length=128), "hop_length must be even, equal samples_per_frame"),
    (lambda enc: enc.update(out_channels=3), "out_channels x the number of mel_bands must equal"),
])
def test_mel_codec_config_errors_are_one_line(change, message):
    import yaml

    from codec.errors import UserError
    from codec.lfsc.checkpoint import config_from_dict

    with tarfile.open(NEMO_FIXTURE / "mel_codec_22khz.nemo", "r:") as tar:
        config = yaml.safe_load(tar.extractfile("./model_config.yaml"))
    config_from_dict(config)  # as saved: accepted
    change(config["audio_encoder"])
    with pytest.raises(UserError, match=message) as error:
        config_from_dict(config)
    assert "\n" not in str(error.value)


def test_mel_codec_saved_by_save_nemo_loads_back_with_the_same_config_and_tokens(tmp_path):
    from codec.lfsc.checkpoint import save_nemo

    name = "mel_codec_22khz"
    model = load_lfsc(NEMO_FIXTURE / f"{name}.nemo", device="cpu", fold_weight_norm=False)
    again = load_lfsc(save_nemo(tmp_path / "saved.nemo", model), device="cpu")
    ref = np.load(NEMO_FIXTURE / f"{name}.npz")
    audio, audio_len = torch.from_numpy(ref["single_audio"]), torch.from_numpy(ref["single_audio_len"])
    assert again.config == model.config
    assert np.array_equal(again.encode(audio=audio, audio_len=audio_len)[0].numpy(), ref["single_tokens"])
