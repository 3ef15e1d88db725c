"""`lfsc-codec` against hostile and clumsy input, every subcommand: each bad case is refused in its own process with
exit 2, one line, no traceback and nothing below the test's folder touched (tests/cli_contract.refused); a few
near misses that are fine succeed. File-system faults while writing (a folder that takes no new files, a full disk,
a file-size limit) are one line naming the output, and leave the old output and no partial file. And the cheap check
the app runs on a checkpoint the user picks (codec.lfsc.checkpoint.check_checkpoint), one line for each bad file."""

from __future__ import annotations

import errno
import os
import struct
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cli_contract import REPO, refused, run_tool
from codec.bitstream import Layout, Model, PayloadFile, encode_file, encode_payload_file
from codec.errors import user_message
from tar_members import tar_bytes

RATE = 16000


def speech(folder: Path, name: str = "speech.wav", seconds: float = 1.0) -> Path:
    """A short noise-and-tone clip (WAV, 16 kHz) in `folder`."""
    n = int(RATE * seconds)
    x = 0.2 * np.sin(2 * np.pi * 220 * np.arange(n) / RATE) + 0.02 * np.random.default_rng(0).standard_normal(n)
    path = folder / name
    sf.write(path, x.astype(np.float32), RATE)
    return path


def cut_wav(folder: Path) -> Path:
    """A WAV whose header promises 2 s but that holds 1 s (cut off while copying)."""
    path = speech(folder, "cut.wav", 2.0)
    path.write_bytes(path.read_bytes()[: 44 + 2 * RATE])
    return path


def ogg(folder: Path, name: str) -> tuple[Path, bytes]:
    sf.write(folder / name, (0.1 * np.random.default_rng(1).standard_normal(2 * RATE)).astype(np.float32), RATE)
    return folder / name, (folder / name).read_bytes()


def cut_ogg(folder: Path) -> Path:
    path, data = ogg(folder, "cut.ogg")
    path.write_bytes(data[: len(data) // 2])
    return path


def damaged_ogg(folder: Path) -> Path:
    """An Ogg file with a few bytes changed inside an audio page (libogg skips the page: 1.1 s of 2 s came back)."""
    path, data = ogg(folder, "damaged.ogg")
    damaged = bytearray(data)
    for at in range(len(data) // 3, len(data) // 3 + 40):
        damaged[at] ^= 0x55
    path.write_bytes(bytes(damaged))
    return path


def fifo(folder: Path) -> Path:
    os.mkfifo(folder / "pipe.wav")
    return folder / "pipe.wav"


def link_loop(folder: Path) -> Path:
    (folder / "a.bin").symlink_to(folder / "b.bin")
    (folder / "b.bin").symlink_to(folder / "a.bin")
    return folder / "a.bin"


def payload_file(folder: Path, name: str, codec: str, samples: int, payload: bytes, rate: int = RATE) -> Path:
    (folder / name).write_bytes(encode_payload_file(PayloadFile(codec, rate, samples, rate, samples, payload)))
    return folder / name


def lfsc_file(folder: Path, layout: Layout, payload: bytes) -> Path:
    (folder / "x.lfsc").write_bytes(encode_file(layout, payload))  # a valid checksum over whatever it holds
    return folder / "x.lfsc"


def written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


GARBAGE = np.random.default_rng(7).bytes(531)
LFSC_LAYOUT = Layout(22050, 22050, 1024, 22, (8, 7, 6, 6), 8, 22050, 22050)
# An Audio Codec's tokens (.lfsc version 3), as `lfsc-codec encode --codec nemo:PATH` writes them
NEMO_LAYOUT = Layout(22050, 22050, 256, 87, (8, 5, 5, 5), 8, 22050, 22050, Model("nemo", "0123456789abcdef"))

# (test id, the arguments given the folder of inputs, what the error line must say)
CASES = [
    # -- inputs that are no regular file: refused before they are opened (a FIFO blocked forever) --
    ("encode-fifo", lambda d: ["encode", fifo(d), d / "o.bin", "--codec", "identity"], "is a FIFO"),
    ("decode-fifo", lambda d: ["decode", fifo(d), d / "o.wav"], "is a FIFO"),
    ("roundtrip-fifo", lambda d: ["roundtrip", fifo(d), d / "o.wav", "--codec", "identity"], "is a FIFO"),
    ("info-fifo", lambda d: ["info", fifo(d)], "is a FIFO"),
    ("info-device", lambda d: ["info", "/dev/null"], "is a character device"),
    ("encode-folder", lambda d: ["encode", d, d / "o.bin", "--codec", "identity"], "is a folder"),
    ("decode-folder", lambda d: ["decode", d, d / "o.wav"], "is a folder"),
    ("roundtrip-folder", lambda d: ["roundtrip", d, d / "o.wav", "--codec", "identity"], "is a folder"),
    ("info-folder", lambda d: ["info", d], "is a folder"),
    ("info-missing", lambda d: ["info", d / "nope.wav"], "no such file"),
    # -- outputs that cannot take a new file, or would replace an input --
    ("encode-output-is-input", lambda d: ["encode", speech(d), d / "speech.wav", "--codec", "identity"],
     "would replace the input"),
    ("roundtrip-output-is-input", lambda d: ["roundtrip", speech(d), d / "speech.wav", "--codec", "identity"],
     "would replace the input"),
    ("decode-output-is-input", lambda d: ["decode", payload_file(d, "x.wav", "identity", 10, bytes(40)), d / "x.wav"],
     "would replace the input"),
    ("roundtrip-output-is-input-by-another-name", lambda d: ["roundtrip", speech(d), d / "." / "speech.wav",
                                                             "--codec", "identity"], "would replace the input"),
    ("encode-output-under-a-file", lambda d: ["encode", speech(d), d / "speech.wav" / "o.bin", "--codec", "identity"],
     "is a file, not a folder"),
    ("roundtrip-output-under-a-file", lambda d: ["roundtrip", speech(d), d / "speech.wav" / "o.wav", "--codec",
                                                 "identity"], "is a file, not a folder"),
    ("encode-output-is-a-folder", lambda d: ["encode", speech(d), d, "--codec", "identity"], "is a folder"),
    ("roundtrip-output-is-a-folder", lambda d: ["roundtrip", speech(d), (d / "o.wav").mkdir() or d / "o.wav",
                                                "--codec", "identity"], "is a folder"),
    # A FIFO of the test's own stands for any special file: code that renames over its output (as lfsc-codec did)
    # replaces what is there, and this test, run against such code, must not replace /dev/null.
    ("encode-output-is-a-fifo", lambda d: ["encode", speech(d), fifo(d), "--codec", "identity"], "is a FIFO"),
    ("encode-output-is-a-loop-of-links", lambda d: ["encode", speech(d), link_loop(d), "--codec", "identity"],
     "too many symbolic links"),
    ("info-loop-of-links", lambda d: ["info", link_loop(d)], "too many symbolic links"),
    # -- audio cut off or damaged: refused, saying how much is there, never read as shorter audio --
    ("encode-cut-wav", lambda d: ["encode", cut_wav(d), d / "o.bin", "--codec", "identity"],
     "promises 2.00 s of audio but the file holds only 1.00 s"),
    ("roundtrip-cut-wav", lambda d: ["roundtrip", cut_wav(d), d / "o.wav", "--codec", "opus-6k"],
     "promises 2.00 s of audio but the file holds only 1.00 s"),
    ("info-cut-wav", lambda d: ["info", cut_wav(d)], "promises 2.00 s"),
    ("roundtrip-cut-ogg", lambda d: ["roundtrip", cut_ogg(d), d / "o.wav", "--codec", "identity"],
     "cut off or damaged: the file ends inside the page"),
    ("info-cut-ogg", lambda d: ["info", cut_ogg(d)], "cut off or damaged"),
    ("roundtrip-damaged-ogg", lambda d: ["roundtrip", damaged_ogg(d), d / "o.wav", "--codec", "codec2-3200"],
     "the checksum fails"),
    # -- decode --rate: a sane range in one line (2147483647 segfaulted after 17 GB) --
    ("decode-rate-huge", lambda d: ["decode", payload_file(d, "x.bin", "identity", 10, bytes(40)), d / "o.wav",
                                    "--rate", "2147483647"], "outside the 1000..768000 Hz"),
    ("decode-rate-zero", lambda d: ["decode", payload_file(d, "x.bin", "identity", 10, bytes(40)), d / "o.wav",
                                    "--rate", "0"], "outside the 1000..768000 Hz"),
    ("decode-rate-text", lambda d: ["decode", payload_file(d, "x.bin", "identity", 10, bytes(40)), d / "o.wav",
                                    "--rate", "fast"], "whole number of Hz"),
    # -- .lfsc and payload files: garbage, truncation, and hostile headers with a valid checksum --
    ("decode-garbage", lambda d: ["decode", written(d / "g.lfsc", GARBAGE), d / "o.wav"], "not a codec payload file"),
    ("info-garbage-after-magic", lambda d: ["info", written(d / "g.lfsc", b"LFSC\x02" + GARBAGE)],
     "checksum mismatch"),
    ("decode-truncated-lfsc", lambda d: ["decode", written(d / "t.lfsc", encode_file(
        LFSC_LAYOUT, bytes(LFSC_LAYOUT.payload_bytes))[:-7]), d / "o.wav"],
     "checksum mismatch: the file is damaged or truncated"),
    ("decode-lfsc-claims-2^28-samples", lambda d: ["decode", lfsc_file(d, Layout(
        22050, 22050, 1024, 22, (8, 7, 6, 6), 8, 22050, 2**28), bytes(242)), d / "o.wav"],
     "22050 samples at 22050 Hz from 268435456 at 22050 Hz"),
    ("info-lfsc-claims-2^28-samples", lambda d: ["info", lfsc_file(d, Layout(
        22050, 2**28, 1024, 2**18, (8, 7, 6, 6), 8, 22050, 2**28), bytes(484))], "payload is 484 bytes"),
    ("info-lfsc-zero-frames", lambda d: ["info", lfsc_file(d, Layout(22050, 0, 1024, 0, (8, 7, 6, 6), 8, 22050, 0),
                                                           b"")], "0 samples at 22050 Hz"),
    ("info-lfsc-absurd-rate", lambda d: ["info", lfsc_file(d, Layout(
        2**31, 22050, 1024, 22, (8, 7, 6, 6), 8, 2**31, 22050), bytes(242))], "sample rate 2147483648 Hz"),
    ("info-lfsc-huge-codebooks", lambda d: ["info", lfsc_file(d, Layout(
        22050, 22050, 1024, 22, (255, 255, 255, 255), 255, 22050, 22050), b"")], "255 codebooks"),
    ("info-lfsc-level-zero", lambda d: ["info", lfsc_file(d, Layout(
        22050, 22050, 1024, 22, (8, 0, 6, 6), 8, 22050, 22050), b"")], "codebook levels [8, 0, 6, 6]"),
    ("decode-model-tokens-without-the-model", lambda d: ["decode", lfsc_file(d, NEMO_LAYOUT, bytes(
        NEMO_LAYOUT.payload_bytes)), d / "o.wav"], "holds the tokens of the nemo model"),
    ("info-model-tokens-of-an-unknown-codec", lambda d: ["info", lfsc_file(d, replace(
        NEMO_LAYOUT, model=Model("xyz", "0123456789abcdef")), bytes(NEMO_LAYOUT.payload_bytes))], "xyz"),
    ("decode-payload-claims-2^28-samples", lambda d: ["decode", payload_file(d, "x.bin", "identity", 2**28, bytes(484)),
                                                      d / "o.wav"], "the identity payload is damaged"),
    ("info-payload-zero-samples", lambda d: ["info", payload_file(d, "x.bin", "opus-6k", 0, b"")], "0 samples"),
    ("decode-payload-escape-name", lambda d: ["decode", payload_file(d, "x.bin", "\x1b[2J", 10, bytes(40)),
                                              d / "o.wav"], "codec name"),
    ("decode-identity-nan", lambda d: ["decode", payload_file(d, "x.bin", "identity", 100, np.full(
        100, np.nan, np.float32).tobytes()), d / "o.wav"], "100 NaN or infinite samples"),
    ("decode-amr-unknown-frame-type", lambda d: ["decode", payload_file(d, "x.bin", "amr-nb-4.75", 100, bytes(
        [9 << 3]) * 2, rate=8000), d / "o.wav"], "frame 0 has the unknown type 9"),
    ("decode-opus-too-few-packets", lambda d: ["decode", payload_file(d, "x.bin", "opus-6k", RATE * 60, bytes([
        1, 0x40]) * 3), d / "o.wav"], "it holds 3 packets where 3000 to 3002"),
    ("decode-opus-packet-past-end", lambda d: ["decode", payload_file(d, "x.bin", "opus-6k", 100, bytes([200, 1])),
                                               d / "o.wav"], "packet 0 runs past its end"),
    ("decode-codec2-wrong-size", lambda d: ["decode", payload_file(d, "x.bin", "codec2-3200", 8000, bytes(7),
                                                                   rate=8000), d / "o.wav"], "it is 7 bytes, not"),
]


@pytest.mark.parametrize("build, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_refused_in_one_line_and_touches_nothing(tmp_path, build, expected):
    args = build(tmp_path)
    line = refused("lfsc-codec", *args, watch=[tmp_path], timeout=120)
    assert expected in line, line


def test_near_misses_succeed(tmp_path):
    """A WAV whose data chunk gives no size (streamed: 0xFFFFFFFF) or is a byte short (a writer's rounding) is read
    whole; an output through a symbolic link replaces its target and the link stays."""
    streamed = speech(tmp_path, "streamed.wav")
    data = bytearray(streamed.read_bytes())
    data[40:44] = struct.pack("<I", 0xFFFFFFFF)
    streamed.write_bytes(bytes(data))
    rounded = speech(tmp_path, "rounded.wav")
    data = bytearray(rounded.read_bytes())
    data[40:44] = struct.pack("<I", 2 * RATE + 1)
    rounded.write_bytes(bytes(data))
    target = speech(tmp_path, "old.wav", 0.5)
    (tmp_path / "link.wav").symlink_to(target)
    for source in (streamed, rounded):
        done = run_tool("lfsc-codec", "roundtrip", source, tmp_path / "link.wav", "--codec", "identity")
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "link.wav").is_symlink() and sf.info(target).frames == RATE


def full_disk_open(room: int):
    """`open` for codec.audio whose files for writing take `room` bytes, then fail as a full disk does."""

    class FullDisk:
        def __init__(self, file):
            self.file, self.left = file, room

        def write(self, data):
            if len(data) > self.left:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.left -= len(data)
            return self.file.write(data)

        def __getattr__(self, name):
            return getattr(self.file, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    def fake_open(path, mode="r", *args, **kwargs):
        file = open(path, mode, *args, **kwargs)
        return FullDisk(file) if "w" in mode else file

    return fake_open


@pytest.mark.parametrize("command", ["roundtrip", "decode", "encode"])
def test_a_full_disk_is_one_line_and_the_old_output_survives(tmp_path, monkeypatch, capsys, command):
    from codec.cli import main

    source = speech(tmp_path, seconds=3.0)
    coded = tmp_path / "x.bin"
    assert main(["encode", str(source), str(coded), "--codec", "identity"]) == 0
    out = tmp_path / ("o.bin" if command == "encode" else "o.wav")
    out.write_bytes(b"the old output")
    if command == "encode":  # the payload file is written in one go
        def full(self, data):
            Path.write_text(self, "half")  # the disk filled halfway through
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(Path, "write_bytes", full)
    else:
        monkeypatch.setattr("codec.audio.open", full_disk_open(20000), raising=False)
    capsys.readouterr()
    code = main([command, str(coded if command == "decode" else source), str(out), "--codec", "identity"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith("notice:")]
    assert code == 2 and lines == [f"lfsc-codec: error: {out}: the disk is full: free some space or write elsewhere"]
    assert out.read_bytes() == b"the old output"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["speech.wav", "x.bin", out.name])


def test_a_write_the_kernel_refuses_midway_is_one_line_and_the_old_output_survives(tmp_path):
    """A real failing write(2), deep in libsndfile: the file-size limit (RLIMIT_FSIZE) stops the output at 100 kB."""
    import resource

    source = speech(tmp_path, seconds=5.0)  # 160 kB as 16-bit WAV
    out = tmp_path / "o.wav"
    out.write_bytes(b"the old output")

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    done = subprocess.run([sys.executable, "-m", "codec.cli", "roundtrip", str(source), str(out), "--codec", "identity"],
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120,
                          preexec_fn=limit)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [f"lfsc-codec: error: {out}: the file is too large for this file system: "
                                        "write elsewhere"]
    assert out.read_bytes() == b"the old output" and sorted(p.name for p in tmp_path.iterdir()) == ["o.wav", "speech.wav"]



@pytest.mark.parametrize("command", ["encode", "roundtrip"])
def test_a_folder_that_takes_no_new_files_is_one_line(tmp_path, command):
    """Tests run as root, where chmod makes no folder unwritable; sysfs refuses new files to root too (EACCES)."""
    probe = Path("/sys/.lfsc-codec-probe")
    try:
        probe.touch()
    except OSError as exc:
        refusal = exc
    else:
        probe.unlink()
        pytest.skip("/sys takes new files here")
    out = f"/sys/lfsc-codec-test.{'bin' if command == 'encode' else 'wav'}"
    line = refused("lfsc-codec", command, speech(tmp_path), out, "--codec", "identity", watch=[tmp_path])
    assert line == f"lfsc-codec: error: {user_message(OSError(refusal.errno, refusal.strerror, out))}"


# -- codec.lfsc.checkpoint.check_checkpoint: the cheap check the app runs on a checkpoint the user picks ----------
def test_check_checkpoint_accepts_nemo_checkpoints_without_building_them(small_nemo, monkeypatch):
    from conftest import NEMO_FIXTURE

    from codec.lfsc import checkpoint

    monkeypatch.setattr(checkpoint, "LFSCModel", None)  # building a model would fail
    monkeypatch.setattr(checkpoint.torch, "load", None)  # and so would reading the weights
    checkpoint.check_checkpoint(small_nemo)
    checkpoint.check_checkpoint(NEMO_FIXTURE / "lfsc_small.nemo")  # written by NeMo itself


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    path.write_bytes(tar_bytes(list(members.items())))
    return path


@pytest.mark.parametrize("build, said", [
    (lambda d: d, "is a folder"),
    (lambda d: d / "absent.nemo", "no such checkpoint file"),
    (lambda d: _written(d / "empty.nemo", b""), "the file is empty"),
    (lambda d: _written(d / "text.nemo", b"not a model\n"), "not a readable .nemo archive"),
    (lambda d: _tar(d / "no_config.nemo", {"./model_weights.ckpt": b"PK\x03\x04"}), "missing model_config.yaml"),
    (lambda d: _tar(d / "other.nemo", {"./model_config.yaml": b"sample_rate: 22050\n",
                                       "./model_weights.ckpt": b"PK\x03\x04"}), "lacks 'samples_per_frame'"),
])
def test_check_checkpoint_refuses_what_is_no_lfsc_checkpoint_in_one_line(tmp_path, build, said):
    from codec.errors import UserError
    from codec.lfsc.checkpoint import check_checkpoint

    with pytest.raises(UserError, match=said) as refusal:
        check_checkpoint(build(tmp_path))
    assert "\n" not in str(refusal.value)


def test_check_checkpoint_refuses_weights_in_no_torch_save_format(small_nemo, tmp_path):
    import tarfile

    from codec.errors import UserError
    from codec.lfsc.checkpoint import check_checkpoint

    with tarfile.open(small_nemo) as tar:
        config = tar.extractfile("./model_config.yaml").read()
    bad = _tar(tmp_path / "bad.nemo", {"./model_config.yaml": config, "./model_weights.ckpt": b"random bytes"})
    with pytest.raises(UserError, match="not a PyTorch weights file"):
        check_checkpoint(bad)
