"""'hf:' codecs: tiny random-weight EnCodec, DAC, Mimi and X-codec models saved with save_pretrained and named by
their folder code a bundled clip with the model's own tokens and decoding, as long as the input, in the bytes the
codes need."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf

from codec.audio import load_audio
from codec.bitstream import decode_file, unpack_frames
from codec.bundled_speech import first_clip
from codec.cli import main
from codec.errors import UserError
from codec.registry import get_codec

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

RATE = 8000
# Tiny configs at 8 kHz: frame sizes 8, 8, 16 and 8 samples, 64-code codebooks (6 bits), 3 codebooks (EnCodec: 1 or
# 3 only), 4 and 4 (X-codec: 1, 2 or 4, at 6, 12 and 24 kbit/s).
CONFIGS = {
    "encodec": ("EncodecModel", "EncodecConfig", {
        "target_bandwidths": [6.0, 18.0], "sampling_rate": RATE, "hidden_size": 16, "num_filters": 4,
        "upsampling_ratios": [4, 2], "num_lstm_layers": 1, "codebook_size": 64, "codebook_dim": 16}),
    "dac": ("DacModel", "DacConfig", {
        "encoder_hidden_size": 4, "downsampling_ratios": [2, 4], "decoder_hidden_size": 16, "n_codebooks": 3,
        "codebook_size": 64, "codebook_dim": 4, "sampling_rate": RATE}),
    "mimi": ("MimiModel", "MimiConfig", {
        "sampling_rate": RATE, "hidden_size": 16, "num_filters": 4, "upsampling_ratios": [4, 2], "codebook_size": 64,
        "codebook_dim": 16, "num_quantizers": 4, "vector_quantization_hidden_dimension": 16, "upsample_groups": 16,
        "num_hidden_layers": 1, "intermediate_size": 32, "num_attention_heads": 2, "num_key_value_heads": 2,
        "head_dim": 8, "sliding_window": 16, "max_position_embeddings": 512}),
    # X-codec: a DAC and a one-layer HuBERT whose convolutions take 8 samples a frame too (receptive field 12: one
    # frame from the input padded by half a frame each side, as the acoustic path gives).
    "xcodec": ("XcodecModel", "XcodecConfig", {
        "sample_rate": RATE, "target_bandwidths": [6.0, 12.0, 24.0], "codebook_size": 64,
        "acoustic_model_config": {"model_type": "dac", "encoder_hidden_size": 4, "downsampling_ratios": [2, 4],
                                  "upsampling_ratios": [4, 2], "decoder_hidden_size": 16, "hidden_size": 8,
                                  "n_codebooks": 1, "codebook_size": 8, "codebook_dim": 4},
        "semantic_model_config": {"model_type": "hubert", "hidden_size": 16, "num_hidden_layers": 1,
                                  "num_attention_heads": 2, "intermediate_size": 32, "conv_dim": [8, 8],
                                  "conv_kernel": [4, 5], "conv_stride": [2, 4], "num_conv_pos_embeddings": 16,
                                  "num_conv_pos_embedding_groups": 2}}),
}
SAMPLES_PER_FRAME = {"encodec": 8, "dac": 8, "mimi": 16, "xcodec": 8}
MOST_CODEBOOKS = {"encodec": 3, "dac": 3, "mimi": 4, "xcodec": 4}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Each family's random-weight model, saved in save_pretrained layout."""
    torch.manual_seed(0)
    saved = {}
    for family, (model_name, config_name, options) in CONFIGS.items():
        folder = tmp_path_factory.mktemp(family)
        model = getattr(transformers, model_name)(getattr(transformers, config_name)(**options))
        # EnCodec's, Mimi's and X-codec's codebooks start all zero (one code for everything): random ones, and
        # EnCodec's first drawn from its encoder's frames (as its k-means initialisation does), whose spread is far
        # below 1.
        for name, buffer in model.named_buffers():
            if name.endswith((".embed", ".embed_sum")):
                buffer.normal_(std=0.01 if family == "encodec" else 0.1)
        if family == "encodec":
            with torch.no_grad():
                frames = model.encoder(torch.randn(1, 1, 64 * 8))[0].T
            model.quantizer.layers[0].codebook.embed.copy_(frames)
        model.save_pretrained(folder)
        saved[family] = str(folder)
    return saved


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, int]:
    """0.3 s of a bundled English clip at 16 kHz (the codecs resample it to their 8 kHz)."""
    audio = load_audio(first_clip("en"), 16000)
    start = len(audio.samples) // 3
    return audio.samples[start:start + 4801], 16000


def _model_codes_and_audio(
    folder: str, family: str, audio: np.ndarray, codebooks: int
) -> tuple[np.ndarray, np.ndarray]:
    """The transformers model called directly: its codes of `audio` zero-padded to whole frames, and its decoding."""
    model = getattr(transformers, CONFIGS[family][0]).from_pretrained(folder).eval()
    spf = SAMPLES_PER_FRAME[family]
    padded = np.zeros(math.ceil(len(audio) / spf) * spf, dtype=np.float32)
    padded[:len(audio)] = audio
    x = torch.from_numpy(padded)[None, None]
    with torch.inference_mode():
        if family == "encodec":  # 6 kbit/s a codebook: 1000 frames/s of 64 codes
            codes = model.encode(x, bandwidth=6.0 * codebooks).audio_codes[0]
            decoded = model.decode(codes[None], [None]).audio_values
        elif family == "xcodec":  # the same 6 kbit/s a codebook
            codes = model.encode(x, bandwidth=6.0 * codebooks).audio_codes
            decoded = model.decode(codes).audio_values
        elif family == "dac":
            codes = model.encode(x, n_quantizers=codebooks).audio_codes
            decoded = model.decode(audio_codes=codes).audio_values
        else:
            codes = model.encode(x, num_quantizers=codebooks).audio_codes
            decoded = model.decode(codes).audio_values
    return codes[0].numpy(), decoded.numpy().reshape(-1)[:len(audio)]


@pytest.mark.parametrize("family", list(CONFIGS))
def test_folder_codec_round_trips_with_the_models_own_tokens_and_decoding(folders, clip, family):
    audio, rate = clip
    codec = get_codec(f"hf:{folders[family]}", device="cpu")
    assert (codec.sample_rate, codec.codebooks) == (RATE, MOST_CODEBOOKS[family])
    trip = codec.roundtrip(audio, rate)
    assert (len(trip.audio), trip.sample_rate) == (len(audio), rate)

    native = load_audio(first_clip("en"), RATE).samples
    native = native[len(native) // 3:][:1201]
    payload = codec.encode(native)
    frames = math.ceil(len(native) / SAMPLES_PER_FRAME[family])
    bits = math.ceil(math.log2(64 ** codec.codebooks))
    assert len(payload) == math.ceil(frames * bits / 8)
    assert trip.payload_bytes == math.ceil(math.ceil(len(audio) / 2 / SAMPLES_PER_FRAME[family]) * bits / 8)
    codes, decoded = _model_codes_and_audio(folders[family], family, native, codec.codebooks)
    assert min(len(np.unique(row)) for row in codes) > 1  # tokens that say something, so equality proves something
    np.testing.assert_array_equal(unpack_frames(payload, frames, codec.codebooks, 64), codes)
    np.testing.assert_allclose(codec.decode(payload, len(native)), decoded, atol=1e-6)


@pytest.mark.parametrize("family", list(CONFIGS))
def test_fewer_codebooks_cost_fewer_bits_by_the_formula(folders, family):
    full = get_codec(f"hf:{folders[family]}", device="cpu")
    one = get_codec(f"hf:{folders[family]}:1", device="cpu")
    frame_rate = RATE / SAMPLES_PER_FRAME[family]
    assert full.nominal_bitrate == pytest.approx(MOST_CODEBOOKS[family] * 6 * frame_rate)
    assert one.nominal_bitrate == pytest.approx(6 * frame_rate)
    samples = np.random.default_rng(1).normal(0, 0.1, 1600).astype(np.float32)
    for codec in (full, one):  # 0.2 s: whole frames in whole bytes, so the measured bitrate is the nominal one
        assert len(codec.encode(samples)) * 8 / 0.2 == pytest.approx(codec.nominal_bitrate)
    assert one.name != full.name and one.settings != full.settings  # eval's rows and cache tell them apart
    codes, _ = _model_codes_and_audio(folders[family], family, samples, 1)
    np.testing.assert_array_equal(one.tokens(samples), codes)


def test_lfsc_codec_codes_an_xcodec_folder_at_two_codebooks_into_a_file_that_decodes_to_the_round_trip(
        folders, clip, tmp_path, capsys):
    audio, rate = clip
    source, coded, decoded, trip = (tmp_path / name for name in ("in.wav", "x.lfsc", "d.wav", "rt.wav"))
    sf.write(source, audio, rate)
    codec = ["--codec", f"hf:{folders['xcodec']}:2", "--device", "cpu"]
    assert main(["encode", str(source), str(coded), *codec]) == 0
    assert main(["decode", str(coded), str(decoded), *codec]) == 0
    assert main(["roundtrip", str(source), str(trip), *codec]) == 0
    capsys.readouterr()
    layout = decode_file(coded.read_bytes())[0]
    assert (layout.model.codec, layout.sample_rate, layout.samples_per_frame, layout.levels) == ("hf", RATE, 8, (64,))
    assert (layout.num_codebooks, layout.num_frames, layout.bits_per_frame) == (2, 301, 12)  # 2401 samples at 8 kHz
    samples, decoded_rate = sf.read(decoded, dtype="int16")
    assert (decoded_rate, len(samples)) == (rate, len(audio)) and np.abs(samples).max() > 0
    np.testing.assert_array_equal(samples, sf.read(trip, dtype="int16")[0])


def test_a_damaged_payload_is_a_user_error(folders):
    codec = get_codec(f"hf:{folders['dac']}", device="cpu")
    payload = codec.encode(np.zeros(800, dtype=np.float32))
    with pytest.raises(UserError, match="damaged"):
        codec.decode(payload[:-1], 800)


@pytest.mark.parametrize("name, options, message", [
    ("hf:/no/such/folder", {}, "no such folder"),
    ("hf:", {}, "give the model"),
    ("hf:FAMILY:9", {}, "codebooks must be 1..3"),
    ("hf:FAMILY:0", {}, "codebooks must be 1..3, not 0"),
    ("hf:ENCODEC:2", {}, "encodec codes with 1, 3 codebooks only"),
    ("hf:XCODEC:3", {}, "xcodec codes with 1, 2, 4 codebooks only \\(at its target bandwidths\\), not 3"),
    ("hf:BERT", {}, "model type 'bert' is not a codec"),
    ("hf:FAMILY", {"codebooks": 2}, "has no option codebooks"),
])
def test_what_cannot_be_built_is_a_one_line_user_error(folders, tmp_path, name, options, message):
    bert = tmp_path / "bert"
    transformers.BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1).save_pretrained(bert)
    name = name.replace("FAMILY", folders["dac"]).replace("ENCODEC", folders["encodec"]).replace("BERT", str(bert))
    name = name.replace("XCODEC", folders["xcodec"])
    with pytest.raises(UserError, match=message) as caught:
        get_codec(name, device="cpu", **options)
    assert "\n" not in str(caught.value)


def test_a_hub_id_is_looked_up_in_the_cache_then_the_hub_and_else_is_a_one_line_user_error(monkeypatch):
    tries = []

    def unreachable(model, local_files_only):
        tries.append((model, local_files_only))
        raise OSError("We couldn't connect to 'https://huggingface.co'\nmore lines")

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", unreachable)
    with pytest.raises(UserError, match="not in the Hugging Face cache and the hub cannot be reached") as caught:
        get_codec("hf:someone/codec-v1.5:4")
    assert tries == [("someone/codec-v1.5", True), ("someone/codec-v1.5", False)]
    assert "\n" not in str(caught.value)


def test_token_diagnostics_take_a_hugging_face_codec_with_its_own_layout(folders, tmp_path):
    import json

    from eval.cli import main

    out = tmp_path / "tokens"
    assert main(["tokens", "--codec", f"hf:{folders['dac']}:2", "--limit", "4", "--out", str(out)]) == 0
    summary = json.loads((out / "tokens.json").read_text())
    assert summary["codec"] == f"hf:{folders['dac']}:2" and summary["settings"]["codebooks"] == 2
    assert set(summary["groups"]) == {"all", "en"} and not summary["skipped"] and (out / "tokens.md").is_file()
    from codec.registry import get_codec
    from eval.tokens import token_layout

    codec = get_codec(f"hf:{folders['dac']}:2")
    codebooks, size, rate = token_layout(codec)
    assert (codebooks, size) == (2, codec.codebook_size) and rate == codec.sample_rate / codec.samples_per_frame
