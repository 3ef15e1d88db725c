""".lfsc version 3: the tokens of a codec named by its model's path (nemo:PATH, hf:MODEL) with the model named in the
header. The format byte for byte, LFSC's own and other codecs' files unchanged, hypothesis on the new header (round
trip; any truncation, corruption or field value refused in one line, never another exception), and `lfsc-codec
encode`/`decode` end to end with a NeMo-family fixture and a random-weight transformers DAC."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from codec.bitstream import (
    MODEL_CODECS, PAYLOAD_MAGIC, Layout, Model, PayloadFile, decode_file, encode_file, encode_payload_file,
)
from codec.cli import main
from codec.errors import UserError
from codec.hashing import file_sha256
from conftest import NEMO_FIXTURE
from test_payload_properties import U8, U32, check_layout, lengths, parsed_or_refused

NEMO = NEMO_FIXTURE / "audio_codec_22khz.nemo"  # 22050 Hz, 256 samples a frame, 8 codebooks x [8, 5, 5, 5]
OTHER_NEMO = NEMO_FIXTURE / "nanocodec_21fps.nemo"
MODEL = Model("nemo", "0123456789abcdef")
LAYOUT = Layout(22050, 4000, 256, 16, (8, 5, 5, 5), 8, 44100, 8000, MODEL)
FIXED = struct.Struct("<4sBIQIQIIBB")  # as in the module docstring


def run(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def refusal(capsys, *argv) -> str:
    """The one line a refused command prints."""
    code, err = run(capsys, *argv)
    lines = [line for line in err.splitlines() if line.startswith("lfsc-codec")]  # transformers' loading bar aside
    assert code == 2 and len(lines) == 1 and lines[0].startswith("lfsc-codec: error: ") and "Traceback" not in err, err
    return lines[0]


# -- the format ------------------------------------------------------------------------------------------------
def test_version_3_is_version_2_with_wide_levels_and_the_model_after_them():
    payload = bytes(range(LAYOUT.payload_bytes))
    head = FIXED.pack(b"LFSC", 3, 22050, 4000, 44100, 8000, 256, 16, 8, 4) + struct.pack("<4I", 8, 5, 5, 5)
    head += bytes([4]) + b"nemo" + bytes.fromhex("0123456789abcdef")
    assert encode_file(LAYOUT, payload) == head + struct.pack("<I", zlib.crc32(head + payload)) + payload
    assert decode_file(encode_file(LAYOUT, payload)) == (LAYOUT, payload)
    # a codebook that is not FSQ is one level of its size, more than a byte holds
    mimi = Layout(24000, 1920, 1920, 1, (2048,), 8, 24000, 1920, Model("hf", "ff" * 8))
    assert decode_file(encode_file(mimi, bytes(mimi.payload_bytes)))[0] == mimi
    assert mimi.bits_per_frame == 88


def test_registered_codecs_files_are_written_byte_for_byte_as_before():
    """LFSC's own tokens stay version 2 (levels a byte each, no model) and other codecs' payload files version 2
    of their container: the bytes that tests/test_codec_cli.py's size check and older readers expect."""
    lfsc = Layout(22050, 2048, 1024, 2, (8, 7, 6, 6), 8, 16000, 1486)
    payload = bytes(range(22))
    head = FIXED.pack(b"LFSC", 2, 22050, 2048, 16000, 1486, 1024, 2, 8, 4) + bytes([8, 7, 6, 6])
    assert encode_file(lfsc, payload) == head + struct.pack("<I", zlib.crc32(head + payload)) + payload
    item = PayloadFile("opus-6k", 16000, 320, 48000, 960, b"\x01\x02")
    head = PAYLOAD_MAGIC + bytes([2, 7]) + b"opus-6k" + struct.pack("<IQIQ", 16000, 320, 48000, 960)
    assert encode_payload_file(item) == head + struct.pack("<I", zlib.crc32(head + b"\x01\x02")) + b"\x01\x02"


def test_the_codecs_a_file_may_name_are_the_registrys_prefixes():
    from codec.registry import PREFIXED

    assert MODEL_CODECS == tuple(prefix.rstrip(":") for prefix, _, _ in PREFIXED)


# -- hypothesis on the version 3 header ------------------------------------------------------------------------
@st.composite
def model_files(draw) -> tuple[Layout, bytes]:
    """A valid version 3 layout and a payload of its size."""
    levels = draw(st.one_of(st.lists(st.integers(2, 9), min_size=1, max_size=4).map(tuple),
                            st.integers(2, 2**16).map(lambda size: (size,))))
    codebooks = draw(st.integers(1, 64))
    spf = draw(st.sampled_from([1, 256, 1764, 1920]))
    samples = draw(st.integers(1, 20 * spf))
    model = Model(draw(st.sampled_from(MODEL_CODECS)), draw(st.binary(min_size=8, max_size=8)).hex())
    layout = Layout(22050, samples, spf, -(-samples // spf), levels, codebooks, 22050, samples, model)
    return layout, draw(st.binary(min_size=layout.payload_bytes, max_size=layout.payload_bytes))


def refused_in_one_line(data: bytes) -> None:
    with pytest.raises(UserError) as caught:
        decode_file(data, "x.lfsc")
    assert "\n" not in str(caught.value) and str(caught.value).startswith("x.lfsc: ")


@settings(max_examples=200, deadline=None)
@given(model_files(), st.data())
def test_a_version_3_file_round_trips_and_any_cut_or_changed_byte_is_refused(item, data):
    layout, payload = item
    encoded = encode_file(layout, payload)
    assert decode_file(encoded) == (layout, payload)
    refused_in_one_line(encoded[:data.draw(st.integers(0, len(encoded) - 1))])
    changed = bytearray(encoded)
    changed[data.draw(st.integers(0, len(encoded) - 1))] ^= data.draw(st.integers(1, 255))
    refused_in_one_line(bytes(changed))


@settings(max_examples=300, deadline=None)
@given(model_files(), st.data())
def test_any_version_3_header_under_a_valid_checksum_is_sane_or_refused(item, data):
    """Each field of a valid file kept or replaced by any value (the checksum recomputed), so that both the checks
    past the checksum and what they let through are reached."""
    layout, payload = item
    valid = (layout.sample_rate, layout.num_samples, layout.source_rate, layout.source_samples,
             layout.samples_per_frame, layout.num_frames, layout.num_codebooks)
    fields = [data.draw(st.one_of(st.just(value), U8 if position == 6 else U32)) for position, value in enumerate(valid)]
    if data.draw(st.booleans()):
        fields[:4] = data.draw(lengths())
    levels = data.draw(st.one_of(st.just(list(layout.levels)), st.lists(st.one_of(U32, st.integers(0, 70000)),
                                                                          max_size=9)))
    codec = data.draw(st.one_of(st.sampled_from([b"nemo", b"hf"]), st.binary(max_size=6)))
    model = data.draw(st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=10)))
    payload = data.draw(st.one_of(st.just(payload), st.binary(max_size=2 * len(payload) + 2)))
    head = FIXED.pack(b"LFSC", 3, *fields, len(levels)) + struct.pack(f"<{len(levels)}I", *levels)
    head += bytes([len(codec)]) + codec + model
    encoded = head + struct.pack("<I", zlib.crc32(head + payload)) + payload
    result = parsed_or_refused(decode_file, encoded)
    if result is not None:
        check_layout(*result)
        assert result[0].model.codec in MODEL_CODECS and len(result[0].model.sha256) == 16
        assert encode_file(*result) == encoded


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_after_a_version_3_magic_are_refused_or_sane(data):
    if (result := parsed_or_refused(decode_file, b"LFSC\x03" + data)) is not None:
        check_layout(*result)


# -- lfsc-codec end to end -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> str:
    """0.4 s of the NeMo fixture's speech at 16 kHz, so that the codecs resample it there and back."""
    from codec.audio import resample

    audio = np.load(NEMO_FIXTURE / "audio_codec_22khz.npz")["audio"][0]
    path = tmp_path_factory.mktemp("speech") / "in.wav"
    sf.write(path, resample(audio, 22050, 16000)[:6401], 16000)
    return str(path)


def coded_and_decoded(capsys, tmp_path, source: str, codec: str, *decode_with: str):
    """`lfsc-codec encode` with `codec`, the file's layout, its decoding with `decode_with` and the round trip's
    output, as int16 samples (what both wrote)."""
    coded, decoded, trip = tmp_path / "x.lfsc", tmp_path / "d.wav", tmp_path / "rt.wav"
    assert run(capsys, "encode", source, coded, "--codec", codec)[0] == 0
    assert run(capsys, "decode", coded, decoded, *decode_with)[0] == 0
    assert run(capsys, "roundtrip", source, trip, "--codec", codec)[0] == 0
    layout = decode_file(coded.read_bytes())[0]
    return coded, layout, sf.read(decoded, dtype="int16"), sf.read(trip, dtype="int16")[0]


def header_bytes(layout: Layout) -> int:
    return FIXED.size + 4 * len(layout.levels) + 1 + len(layout.model.codec) + 8 + 4


def test_a_nemo_family_file_decodes_to_the_round_trip_with_its_model_and_is_refused_without_it(capsys, tmp_path,
                                                                                               speech_wav):
    coded, layout, (decoded, rate), trip = coded_and_decoded(capsys, tmp_path, speech_wav, f"nemo:{NEMO}",
                                                             "--codec", f"nemo:{NEMO}")
    assert (rate, len(decoded)) == (16000, 6401) and np.array_equal(decoded, trip)
    assert layout.model == Model("nemo", file_sha256(NEMO)[:16])
    assert (layout.sample_rate, layout.samples_per_frame, layout.num_codebooks, layout.levels) == (22050, 256, 8,
                                                                                                 (8, 5, 5, 5))
    assert layout.num_frames == math.ceil(8821 / 256) and layout.bits_per_frame == 80  # 1000^8 < 2^80
    assert len(coded.read_bytes()) == header_bytes(layout) + math.ceil(layout.num_frames * 80 / 8)
    assert run(capsys, "decode", coded, tmp_path / "c.wav", "--checkpoint", NEMO)[0] == 0
    assert np.array_equal(sf.read(tmp_path / "c.wav", dtype="int16")[0], trip)

    kept = tmp_path / "kept.wav"
    kept.write_bytes(b"the user's")
    sha, other = file_sha256(NEMO)[:16], file_sha256(OTHER_NEMO)[:16]
    assert refusal(capsys, "decode", coded, kept) == (f"lfsc-codec: error: {coded}: holds the tokens of the nemo model "
                                                      f"with sha256 {sha}...: give it as --codec nemo:PATH (or "
                                                      "--checkpoint PATH)")
    assert refusal(capsys, "decode", coded, kept, "--codec", "opus-6k").endswith(", not --codec opus-6k")
    assert refusal(capsys, "decode", coded, kept, "--codec", f"nemo:{OTHER_NEMO}") == (
        f"lfsc-codec: error: {coded}: was coded by the nemo model with sha256 {sha}..., but nemo:{OTHER_NEMO} has "
        f"{other}...: give the model that coded it")
    assert kept.read_bytes() == b"the user's"
    assert "tokens of the model with sha256" in run_info(capsys, coded)


def run_info(capsys, path) -> str:
    assert main(["info", str(path)]) == 0
    return capsys.readouterr().out


def test_the_model_a_codec_names_by_its_path_is_never_an_output(capsys, tmp_path, speech_wav):
    model = tmp_path / "model.nemo"
    model.write_bytes(NEMO.read_bytes())
    line = refusal(capsys, "encode", speech_wav, model, "--codec", f"nemo:{model}")
    assert "writing it would replace the input" in line and model.read_bytes() == NEMO.read_bytes()


# The tiny DAC of tests/test_hf_codecs.py: 8 kHz, 8 samples a frame, 3 codebooks of 64 codes.
DAC = {"encoder_hidden_size": 4, "downsampling_ratios": [2, 4], "decoder_hidden_size": 16, "n_codebooks": 3,
       "codebook_size": 64, "codebook_dim": 4, "sampling_rate": 8000}


def saved_dac(folder, seed: int) -> str:
    """A random-weight transformers DAC saved with save_pretrained."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(seed)
    transformers.DacModel(transformers.DacConfig(**DAC)).save_pretrained(folder)
    return str(folder)


def test_a_hugging_face_file_decodes_to_the_round_trip_with_its_model_and_codebooks(capsys, tmp_path, speech_wav):
    dac, other = saved_dac(tmp_path / "dac", 0), saved_dac(tmp_path / "other", 1)
    coded, layout, (decoded, rate), trip = coded_and_decoded(capsys, tmp_path, speech_wav, f"hf:{dac}:2",
                                                             "--codec", f"hf:{dac}:2", "--device", "cpu")
    assert (rate, len(decoded)) == (16000, 6401) and np.array_equal(decoded, trip) and np.abs(trip).max() > 0
    assert (layout.model.codec, layout.levels, layout.num_codebooks, layout.samples_per_frame) == ("hf", (64,), 2, 8)
    assert layout.num_frames == 401 and layout.bits_per_frame == 12  # 3201 samples at 8 kHz; 64^2 = 2^12
    assert len(coded.read_bytes()) == header_bytes(layout) + math.ceil(401 * 12 / 8)

    all_three = refusal(capsys, "decode", coded, tmp_path / "o.wav", "--codec", f"hf:{dac}")
    assert all_three == (f"lfsc-codec: error: {coded}: holds 401 frames of 2 codebooks x 64 codes, 8 samples a "
                         f"frame at 8000 Hz, but hf:{dac} codes 401 frames of 3 codebooks x 64 codes, 8 samples a "
                         "frame at 8000 Hz")
    assert "was coded by the hf model with sha256" in refusal(capsys, "decode", coded, tmp_path / "o.wav",
                                                              "--codec", f"hf:{other}:2")
    assert "give it as --codec hf:MODEL[:N], not --codec nemo:" in refusal(
        capsys, "decode", coded, tmp_path / "o.wav", "--codec", f"nemo:{NEMO}")
    assert not (tmp_path / "o.wav").exists()
