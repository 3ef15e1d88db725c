"""`lfsc-codec` end to end on a small random-weight checkpoint: outputs, notices and one-line errors."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from codec.audio import load_audio, resample, save_audio
from codec.cli import main
from codec.config import write_user_config
from codec.registry import get_codec


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err):
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("notice:")]
    assert len(lines) == 1 and lines[0].startswith("lfsc-codec: error:"), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture()
def stereo_wav(tmp_path):
    rng = np.random.default_rng(0)
    x = (0.2 * np.sin(2 * np.pi * 200 * np.arange(24000) / 16000) + 0.01 * rng.standard_normal(24000)).astype(np.float32)
    path = tmp_path / "in.wav"
    sf.write(path, np.stack([x, 0.5 * x], axis=1), 16000)
    return path


def test_roundtrip_keeps_rate_and_length_and_reports_the_downmix(capsys, tmp_path, stereo_wav, small_nemo):
    out = tmp_path / "out.wav"
    code, _, err = run(capsys, "roundtrip", stereo_wav, out, "--checkpoint", small_nemo)
    assert code == 0, err
    info = sf.info(out)
    assert (info.samplerate, info.frames, info.channels) == (16000, 24000, 1)
    assert "downmixed to mono" in err and "bit/s measured" in err


def test_encode_info_decode(capsys, tmp_path, stereo_wav, small_nemo):
    bitstream = tmp_path / "x.lfsc"
    assert run(capsys, "encode", stereo_wav, bitstream, "--checkpoint", small_nemo)[0] == 0
    code, out, _ = run(capsys, "info", bitstream)
    assert code == 0
    assert "frames: 33 x 8 codebooks of 2016 codes" in out  # 24000 samples at 16 kHz -> 33075 at 22.05 kHz
    assert "payload bitrate: 1894.9 bit/s" in out and "duration: 1.500 s" in out
    assert "input: 24000 samples at 16000 Hz" in out
    assert len(bitstream.read_bytes()) == 4 + 1 + 4 + 8 + 4 + 8 + 4 + 4 + 1 + 1 + 4 + 4 + 33 * 11
    decoded = tmp_path / "d.wav"
    assert run(capsys, "decode", bitstream, decoded, "--checkpoint", small_nemo)[0] == 0
    assert (sf.info(decoded).samplerate, sf.info(decoded).frames) == (16000, 24000)  # the input's
    assert run(capsys, "decode", bitstream, decoded, "--checkpoint", small_nemo, "--rate", "22050")[0] == 0
    assert (sf.info(decoded).samplerate, sf.info(decoded).frames) == (22050, 33075)  # the codec's


def test_checkpoint_comes_from_env_var_then_user_config(capsys, tmp_path, stereo_wav, small_nemo, monkeypatch):
    out = tmp_path / "o.wav"
    code, _, err = run(capsys, "roundtrip", stereo_wav, out)
    assert "LFSC_CHECKPOINT" in one_line_error(code, err) and "--checkpoint" in err
    write_user_config(checkpoint=str(small_nemo))
    assert run(capsys, "roundtrip", stereo_wav, out)[0] == 0
    monkeypatch.setenv("LFSC_CHECKPOINT", str(tmp_path / "elsewhere.nemo"))
    assert "does not exist" in one_line_error(*run(capsys, "roundtrip", stereo_wav, out)[::2])


def test_bad_inputs_give_one_line_errors(capsys, tmp_path, stereo_wav, small_nemo):
    out = tmp_path / "o.wav"
    ck = ["--checkpoint", small_nemo]
    assert "no such file" in one_line_error(*run(capsys, "roundtrip", tmp_path / "nope.wav", out, *ck)[::2])
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all")
    assert "not a readable audio file" in one_line_error(*run(capsys, "roundtrip", text, out, *ck)[::2])
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    assert "empty" in one_line_error(*run(capsys, "roundtrip", empty, out, *ck)[::2])
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full(5000, np.nan, np.float32), 16000, subtype="FLOAT")
    assert "NaN" in one_line_error(*run(capsys, "roundtrip", nan, out, *ck)[::2])
    wrong = tmp_path / "wrong.nemo"
    wrong.write_bytes(b"\0" * 2048)
    assert "wrong.nemo" in one_line_error(*run(capsys, "roundtrip", stereo_wav, out, "--checkpoint", wrong)[::2])


def test_damaged_bitstream_is_an_error_not_audio(capsys, tmp_path, stereo_wav, small_nemo):
    bitstream = tmp_path / "x.lfsc"
    run(capsys, "encode", stereo_wav, bitstream, "--checkpoint", small_nemo)
    data = bytearray(bitstream.read_bytes())
    data[-3] ^= 0xFF
    bitstream.write_bytes(bytes(data))
    line = one_line_error(*run(capsys, "decode", bitstream, tmp_path / "d.wav", "--checkpoint", small_nemo)[::2])
    assert "damaged" in line and not (tmp_path / "d.wav").exists()


def test_a_header_whose_frame_count_does_not_match_its_length_is_refused(capsys, tmp_path, stereo_wav, small_nemo):
    from dataclasses import replace

    from codec.bitstream import decode_file, encode_file

    bitstream = tmp_path / "x.lfsc"
    run(capsys, "encode", stereo_wav, bitstream, "--checkpoint", small_nemo)
    layout, payload = decode_file(bitstream.read_bytes(), "x.lfsc")
    shorter = replace(layout, num_samples=layout.num_samples - 5 * 1024, source_rate=22050,
                      source_samples=layout.num_samples - 5 * 1024)  # 33 frames for 28 frames of samples
    bitstream.write_bytes(encode_file(shorter, payload))
    line = one_line_error(*run(capsys, "decode", bitstream, tmp_path / "d.wav", "--checkpoint", small_nemo)[::2])
    assert "inconsistent .lfsc header (33 frames for 27955 samples" in line and not (tmp_path / "d.wav").exists()
    tiny = replace(layout, num_samples=1000, source_rate=22050, source_samples=1000, num_frames=4)
    bitstream.write_bytes(encode_file(tiny, payload[: tiny.payload_bytes]))  # padded to 4 frames, as LFSC pads
    assert run(capsys, "decode", bitstream, tmp_path / "d.wav", "--checkpoint", small_nemo)[0] == 0
    bitstream.write_bytes(encode_file(replace(tiny, num_frames=5), payload[: replace(tiny, num_frames=5).payload_bytes]))
    line = one_line_error(*run(capsys, "decode", bitstream, tmp_path / "d.wav", "--checkpoint", small_nemo)[::2])
    assert "inconsistent .lfsc header (5 frames for 1000 samples)" in line


def test_baseline_codecs_take_the_same_file_to_file_path(capsys, tmp_path, stereo_wav):
    """`--codec opus-6k`: the round trip's file holds the samples of the app's Codec.roundtrip, and encode then
    decode gives them too."""
    codec = get_codec("opus-6k")
    audio = load_audio(stereo_wav)
    save_audio(tmp_path / "expected.wav", codec.roundtrip(audio.samples, audio.sample_rate).audio, audio.sample_rate)
    expected = sf.read(tmp_path / "expected.wav", dtype="int16")[0]
    code, _, err = run(capsys, "roundtrip", stereo_wav, tmp_path / "out.wav", "--codec", "opus-6k")
    assert code == 0, err
    assert "opus-6k codes at 16000 Hz" not in err  # the input is at 16 kHz already: nothing resampled
    assert np.array_equal(sf.read(tmp_path / "out.wav", dtype="int16")[0], expected)
    assert run(capsys, "encode", stereo_wav, tmp_path / "x.bin", "--codec", "opus-6k")[0] == 0
    assert run(capsys, "decode", tmp_path / "x.bin", tmp_path / "d.wav")[0] == 0
    assert np.array_equal(sf.read(tmp_path / "d.wav", dtype="int16")[0], expected)


def test_a_clip_shorter_than_the_minimum_is_padded_and_trimmed(capsys, tmp_path, small_nemo):
    short = tmp_path / "short.wav"
    sf.write(short, np.full(1000, 0.1, np.float32), 22050)
    out = tmp_path / "o.wav"
    code, _, err = run(capsys, "roundtrip", short, out, "--checkpoint", small_nemo)
    assert code == 0 and "zero-padded" in err
    assert sf.info(out).frames == 1000


def test_wrong_architecture_checkpoint_is_named(capsys, tmp_path, stereo_wav, small_nemo):
    import tarfile

    import yaml

    bad = tmp_path / "other.nemo"
    with tarfile.open(small_nemo) as src, tarfile.open(bad, "w:") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name.endswith("model_config.yaml"):
                config = yaml.safe_load(data)
                config["audio_decoder"]["_target_"] = "nemo.collections.tts.modules.audio_codec_modules.ResNetDecoder"
                data = yaml.safe_dump(config).encode()
            import io

            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    line = one_line_error(*run(capsys, "roundtrip", stereo_wav, tmp_path / "o.wav", "--checkpoint", bad)[::2])
    assert "another architecture" in line and "ResNetDecoder" in line


def test_console_script_prints_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "codec.cli", "roundtrip", str(tmp_path / "missing.flac"), str(tmp_path / "o.wav")],
        capture_output=True, text=True,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr and "no such file" in result.stderr


def test_lfsc_codec_describes_its_checkpoint_for_caches(small_nemo, tmp_path):
    import hashlib
    import shutil

    from codec.registry import get_codec

    settings = get_codec("lfsc", checkpoint=small_nemo).settings
    assert settings["checkpoint_sha256"] == hashlib.sha256(small_nemo.read_bytes()).hexdigest()
    other = tmp_path / "other.nemo"
    shutil.copy(small_nemo, other)
    with open(other, "ab") as f:  # trailing bytes: a different file that still loads
        f.write(b"\0" * 1024)
    assert get_codec("lfsc", checkpoint=other).settings["checkpoint_sha256"] != settings["checkpoint_sha256"]


def test_precision_option_reaches_the_codec(capsys, tmp_path, stereo_wav, small_nemo):
    out = tmp_path / "bf16.wav"
    code, _, err = run(capsys, "roundtrip", stereo_wav, out, "--checkpoint", small_nemo, "--precision", "bf16")
    assert code == 0, err
    exact = tmp_path / "fp32.wav"
    assert run(capsys, "roundtrip", stereo_wav, exact, "--checkpoint", small_nemo, "--codec", "lfsc")[0] == 0
    low, high = sf.read(out, dtype="float32")[0], sf.read(exact, dtype="float32")[0]
    assert len(low) == len(high) == 24000 and not np.array_equal(low, high)  # bf16 arithmetic really ran
    with pytest.raises(SystemExit):
        main(["roundtrip", str(stereo_wav), str(out), "--precision", "int4"])


def test_lfsc_bf16_is_a_codec_of_its_own_that_writes_lfsc_bitstreams(capsys, tmp_path, stereo_wav, small_nemo):
    """Eval rows, caches and the app tell bf16 from fp32 by name; its bitstream is LFSC's and decodes as such."""
    from codec.errors import UserError
    from codec.registry import get_codec

    codec = get_codec("lfsc-bf16", checkpoint=small_nemo)
    assert codec.name == "lfsc-bf16" and codec.settings["precision"] == "bf16"
    assert get_codec("lfsc", checkpoint=small_nemo, precision="bf16").name == "lfsc-bf16"
    with pytest.raises(UserError, match="no option precision"):
        get_codec("lfsc-bf16", checkpoint=small_nemo, precision="fp32")
    bitstream = tmp_path / "x.lfsc"
    assert run(capsys, "encode", stereo_wav, bitstream, "--checkpoint", small_nemo, "--codec", "lfsc-bf16")[0] == 0
    code, out, _ = run(capsys, "info", bitstream)
    assert code == 0 and "frames: 33 x 8 codebooks of 2016 codes" in out
    decoded = tmp_path / "d.wav"
    assert run(capsys, "decode", bitstream, decoded, "--checkpoint", small_nemo)[0] == 0
    assert sf.info(decoded).frames == 24000  # the input's length


@pytest.fixture()
def long_stereo_44k(tmp_path):
    """12.3 s of stereo 44.1 kHz: three 5 s chunks for LFSC once resampled, several read blocks."""
    rng = np.random.default_rng(5)
    n = int(44100 * 12.3)
    x = (0.2 * np.sin(2 * np.pi * 150 * np.arange(n) / 44100 * (1 + np.arange(n) / n)) + 0.02 * rng.standard_normal(n))
    path = tmp_path / "long.flac"
    sf.write(path, np.stack([x, 0.7 * x], axis=1).astype(np.float32), 44100, subtype="PCM_24")
    return path


def test_file_to_file_coding_gives_the_samples_of_the_in_memory_round_trip(capsys, tmp_path, long_stereo_44k, small_nemo):
    """The CLI streams LFSC from file to file in chunks; the output is bit for bit what the app and eval get from
    Codec.roundtrip on the whole clip, and the .lfsc decode gives the samples of synthesize() on the whole clip."""
    codec = get_codec("lfsc", checkpoint=small_nemo, device="cpu")
    assert codec.inference.encoder_window * 1024 < 12.3 * 22050  # really chunked
    audio = load_audio(long_stereo_44k)
    save_audio(tmp_path / "expected.wav", codec.roundtrip(audio.samples, audio.sample_rate).audio, audio.sample_rate)
    out = tmp_path / "out.wav"
    code, _, err = run(capsys, "roundtrip", long_stereo_44k, out, "--checkpoint", small_nemo)
    assert code == 0, err
    assert "downmixed" in err and "resampled 44100" in err
    got, sr = sf.read(out, dtype="int16")
    assert sr == 44100 and np.array_equal(got, sf.read(tmp_path / "expected.wav", dtype="int16")[0])

    native = load_audio(long_stereo_44k, 22050).samples
    reference = resample(codec.synthesize(codec.tokens(native), len(native)), 22050, 44100)
    save_audio(tmp_path / "reference.wav", reference, 44100)
    bitstream, decoded = tmp_path / "x.lfsc", tmp_path / "d.wav"
    assert run(capsys, "encode", long_stereo_44k, bitstream, "--checkpoint", small_nemo)[0] == 0
    assert run(capsys, "decode", bitstream, decoded, "--checkpoint", small_nemo, "--rate", 44100)[0] == 0
    assert np.array_equal(sf.read(decoded, dtype="int16")[0], sf.read(tmp_path / "reference.wav", dtype="int16")[0])


def test_an_unwritable_output_format_fails_before_any_work_and_old_outputs_survive(capsys, tmp_path, stereo_wav, small_nemo):
    line = one_line_error(*run(capsys, "roundtrip", stereo_wav, tmp_path / "o.xyz", "--checkpoint", tmp_path / "none.nemo")[::2])
    assert "cannot write audio as '.xyz'" in line  # said before the (missing) checkpoint is even looked at
    out = tmp_path / "o.wav"
    sf.write(out, np.full(100, 0.25, np.float32), 16000)
    bad = tmp_path / "late_nan.wav"
    x = np.full(22050 * 14, 0.1, np.float32)
    x[22050 * 12] = np.nan  # in a late block, found after the first chunks were coded
    sf.write(bad, x, 22050, subtype="FLOAT")
    assert "12.000 s" in one_line_error(*run(capsys, "roundtrip", bad, out, "--checkpoint", small_nemo)[::2])
    assert np.allclose(sf.read(out)[0], 0.25, atol=1e-4) and sorted(p.name for p in tmp_path.iterdir()) == [
        "in.wav", "late_nan.wav", "o.wav"]


def test_long_files_show_encode_and_decode_progress_on_a_terminal(tmp_path, small_nemo):
    """On a terminal (a pseudo-terminal 100 columns wide here), coding 40 s shows progress bars in audio seconds;
    piped, it prints none."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    source = tmp_path / "forty.wav"
    sf.write(source, (0.1 * np.random.default_rng(0).standard_normal(22050 * 40)).astype(np.float32), 22050)
    argv = [sys.executable, "-m", "codec.cli", "roundtrip", str(source), str(tmp_path / "o.wav"), "--checkpoint", str(small_nemo)]
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of 100 columns, then the CLI
        fcntl.ioctl(2, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        os.execv(sys.executable, argv)
    shown = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    assert os.WEXITSTATUS(os.waitpid(pid, 0)[1]) == 0, shown
    text = shown.decode(errors="replace")
    assert "encode:" in text and "decode:" in text and "/40.0" in text, text
    piped = subprocess.run(argv, capture_output=True, text=True)
    assert piped.returncode == 0 and "encode:" not in piped.stderr


def test_a_48k_file_whose_resampled_length_rounds_down_codes(capsys, tmp_path, small_nemo):
    """480480 samples at 48 kHz resample to 220720 at 22.05 kHz (soxr rounds that half down): the streamed
    coder must expect exactly that many, and the output keeps the input's length."""
    source = tmp_path / "a.wav"
    sf.write(source, (0.1 * np.random.default_rng(2).standard_normal(480480)).astype(np.float32), 48000)
    code, _, err = run(capsys, "roundtrip", source, tmp_path / "o.wav", "--checkpoint", small_nemo)
    assert code == 0, err
    assert sf.info(tmp_path / "o.wav").frames == 480480


def test_a_flac_whose_header_does_not_give_its_length_is_a_one_line_error(capsys, tmp_path):
    path = tmp_path / "streamed.flac"
    sf.write(path, np.zeros(16000, np.float32), 16000)
    data = bytearray(path.read_bytes())
    at = 8 + 13  # STREAMINFO: its 36-bit total-samples field ends the 8 bytes at 8 + 10 (0 = "unknown")
    data[at] &= 0xF0
    data[at + 1 : at + 5] = bytes(4)
    path.write_bytes(bytes(data))
    assert "does not give its length" in one_line_error(*run(capsys, "roundtrip", path, tmp_path / "o.wav", "--codec", "opus-6k")[::2])


def test_any_rate_codecs_code_at_the_input_rate_from_file_to_file(capsys, tmp_path, stereo_wav):
    """identity and the anchors resample nothing: encode then decode is bit-exact at the input's rate."""
    code, _, err = run(capsys, "roundtrip", stereo_wav, tmp_path / "rt.wav", "--codec", "identity")
    assert code == 0 and "codes at" not in err
    assert run(capsys, "encode", stereo_wav, tmp_path / "id.bin", "--codec", "identity")[0] == 0
    assert run(capsys, "decode", tmp_path / "id.bin", tmp_path / "id.wav")[0] == 0
    decoded, rate = sf.read(tmp_path / "id.wav", dtype="int16")
    assert rate == 16000 and np.array_equal(decoded, sf.read(tmp_path / "rt.wav", dtype="int16")[0])
    assert len(decoded) == sf.info(stereo_wav).frames


def test_more_bad_requests_are_one_line_errors_before_any_work(capsys, tmp_path, stereo_wav, small_nemo):
    out = tmp_path / "o.wav"
    line = one_line_error(*run(capsys, "roundtrip", stereo_wav, out, "--checkpoint", small_nemo, "--device", "cuda:7")[::2])
    assert "cuda:7" in line and "not available" in line
    assert "unknown device" in one_line_error(*run(capsys, "roundtrip", stereo_wav, out, "--checkpoint", small_nemo,
                                                   "--device", "gpu")[::2])
    high = tmp_path / "high.wav"
    sf.write(high, np.zeros(9600, np.float32), 96000)
    assert "at 96000 Hz" in one_line_error(*run(capsys, "roundtrip", high, tmp_path / "o.mp3", "--codec", "opus-6k")[::2])
    assert not (tmp_path / "o.mp3").exists()
    very_high = tmp_path / "very_high.wav"
    sf.write(very_high, np.zeros(2560, np.float32), 256000)
    assert "above 192000 Hz" in one_line_error(*run(capsys, "roundtrip", very_high, tmp_path / "o.ogg", "--codec", "identity")[::2])
    from codec.bitstream import PayloadFile, encode_payload_file

    (tmp_path / "empty.bin").write_bytes(encode_payload_file(PayloadFile("opus-6k", 16000, 0, 16000, 0, b"")))
    assert "inconsistent payload header" in one_line_error(*run(capsys, "decode", tmp_path / "empty.bin", out)[::2])
    (tmp_path / "cut.bin").write_bytes(encode_payload_file(PayloadFile("opus-6k", 16000, 16000, 16000, 16000, bytes([200, 1, 2]))))
    assert "damaged" in one_line_error(*run(capsys, "decode", tmp_path / "cut.bin", out)[::2])
    assert "whole number of Hz" in one_line_error(*run(capsys, "decode", tmp_path / "cut.bin", out, "--rate", "-8000")[::2])


@pytest.mark.parametrize("codec", ["lfsc", "opus-6k"])
def test_encode_then_decode_gives_the_round_trip_at_the_input_rate_and_odd_length(capsys, tmp_path, small_nemo, codec):
    """The containers keep the input's rate and length: 44,101 samples at 44.1 kHz come back as 44,101 (they came
    back as 44,102 when only the codec-rate length was stored), equal to the round trip's samples."""
    source = tmp_path / "odd.wav"
    rng = np.random.default_rng(1)
    sf.write(source, (0.1 * rng.standard_normal(44101)).astype(np.float32), 44100)
    options = ["--codec", codec, "--checkpoint", small_nemo]
    assert run(capsys, "roundtrip", source, tmp_path / "rt.wav", *options)[0] == 0
    assert run(capsys, "encode", source, tmp_path / "x.bin", *options)[0] == 0
    assert run(capsys, "decode", tmp_path / "x.bin", tmp_path / "d.wav", *options)[0] == 0
    decoded, rate = sf.read(tmp_path / "d.wav", dtype="int16")
    assert rate == 44100 and len(decoded) == 44101
    assert np.array_equal(decoded, sf.read(tmp_path / "rt.wav", dtype="int16")[0])


def test_version_1_files_are_still_read(tmp_path):
    """A v1 .lfsc (no source fields) decodes at the codec's rate and length, as it did."""
    import struct
    import zlib

    from codec.bitstream import decode_file

    header = struct.pack("<4sBIQIIBB", b"LFSC", 1, 22050, 2000, 1024, 2, 1, 2) + bytes([3, 5])
    payload = bytes([0b01110000])  # two frames of 4 bits (15 codes)
    layout, got = decode_file(header + struct.pack("<I", zlib.crc32(header + payload)) + payload)
    assert (layout.source_rate, layout.source_samples, layout.num_frames, got) == (22050, 2000, 2, payload)


def test_clipping_is_said_and_info_describes_folders_and_downmixed_peaks(capsys, tmp_path):
    loud = tmp_path / "loud.wav"
    x = np.full(8000, 0.5, np.float32)
    x[:10] = 1.5
    sf.write(loud, x, 16000, subtype="FLOAT")
    code, _, err = run(capsys, "roundtrip", loud, tmp_path / "o.wav", "--codec", "identity")
    assert code == 0 and "10 samples beyond full scale were clipped" in err
    assert "is a folder" in one_line_error(*run(capsys, "info", tmp_path)[::2])
    stereo = tmp_path / "opposite.wav"
    sf.write(stereo, np.stack([x, -x], axis=1), 16000, subtype="FLOAT")
    assert "peak: 0.000 (of the mono downmix)" in run(capsys, "info", stereo)[1]
