"""`lfsc-codec --entropy`: LFSC's tokens entropy-coded losslessly (codec lfsc+ac), and its one-line errors."""

import numpy as np
import pytest
import soundfile as sf

from codec.cli import main
from codec.entropy import read_header
from codec.entropy_models import Prior
from codec.registry import get_codec


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def error_line(code, err):
    assert code == 2 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("notice:")]
    assert len(lines) == 1 and lines[0].startswith("lfsc-codec: error:"), err
    return lines[0]


@pytest.fixture()
def speech_wav(tmp_path):
    rng = np.random.default_rng(1)
    t = np.arange(44100) / 22050
    x = (0.3 * np.sin(2 * np.pi * 180 * t * (1 + 0.3 * np.sin(3 * t))) + 0.02 * rng.standard_normal(len(t)))
    path = tmp_path / "in.wav"
    sf.write(path, x.astype(np.float32), 22050)
    return path


def test_adaptive_coding_decodes_to_the_same_audio_and_tokens_as_fixed_frames(capsys, tmp_path, speech_wav,
                                                                             small_nemo):
    fixed, coded = tmp_path / "a.lfsc", tmp_path / "b.lfsc-ac"
    assert run(capsys, "encode", speech_wav, fixed, "--checkpoint", small_nemo)[0] == 0
    assert run(capsys, "encode", speech_wav, coded, "--checkpoint", small_nemo, "--entropy", "adaptive")[0] == 0
    code, out, _ = run(capsys, "info", coded)
    assert code == 0 and "codec payload (lfsc+ac)" in out and "entropy coding: adaptive" in out
    for name in ("a", "b"):
        src = fixed if name == "a" else coded
        assert run(capsys, "decode", src, tmp_path / f"{name}.wav", "--checkpoint", small_nemo)[0] == 0
    a, b = sf.read(tmp_path / "a.wav")[0], sf.read(tmp_path / "b.wav")[0]
    assert np.array_equal(a, b)
    # the payload says how many frames it holds, and gives back the very tokens
    codec = get_codec("lfsc", checkpoint=small_nemo, device="cpu")
    tokens = codec.tokens(sf.read(speech_wav, dtype="float32")[0])
    ac = get_codec("lfsc+ac", checkpoint=small_nemo, device="cpu")
    payload = ac.encode(sf.read(speech_wav, dtype="float32")[0])
    assert read_header(payload)[0].num_frames == tokens.shape[1]
    assert np.array_equal(ac._unpack(payload, 44100), tokens)


def test_a_prior_coded_file_needs_the_same_prior(capsys, tmp_path, speech_wav, small_nemo):
    codec = get_codec("lfsc", checkpoint=small_nemo, device="cpu")
    tokens = codec.tokens(sf.read(speech_wav, dtype="float32")[0]).T
    mine, other = tmp_path / "mine.lfep", tmp_path / "other.lfep"
    mine.write_bytes(Prior.fit([tokens], "context", 2016).to_bytes())
    other.write_bytes(Prior.fit([tokens[::-1].copy()], "static", 2016).to_bytes())
    coded = tmp_path / "c.bin"
    assert run(capsys, "encode", speech_wav, coded, "--checkpoint", small_nemo, "--entropy", f"context:{mine}")[0] == 0
    out = tmp_path / "c.wav"
    line = error_line(*run(capsys, "decode", coded, out, "--checkpoint", small_nemo)[::2])
    assert "you gave none" in line and "--entropy prior:FILE" in line
    line = error_line(*run(capsys, "decode", coded, out, "--checkpoint", small_nemo, "--entropy", f"prior:{other}")[::2])
    assert "made with prior" in line and not out.exists()
    assert run(capsys, "decode", coded, out, "--checkpoint", small_nemo, "--entropy", f"prior:{mine}")[0] == 0
    line = error_line(*run(capsys, "encode", speech_wav, coded, "--checkpoint", small_nemo, "--entropy",
                           f"context:{other}")[::2])
    assert "static prior, not a context one" in line


@pytest.mark.parametrize("argv, expected", [
    (["--codec", "opus-6k", "--entropy", "adaptive"], "has none: drop --entropy"),
    (["--entropy", "zip"], "unknown entropy coding 'zip'"),
    (["--entropy", "prior:"], "unknown entropy coding"),
])
def test_entropy_choices_that_cannot_work_are_one_line(capsys, tmp_path, speech_wav, small_nemo, argv, expected):
    line = error_line(*run(capsys, "encode", speech_wav, tmp_path / "x.bin", "--checkpoint", small_nemo, *argv)[::2])
    assert expected in line and not (tmp_path / "x.bin").exists()


def test_a_file_that_is_not_a_prior_is_refused_by_name(capsys, tmp_path, speech_wav, small_nemo):
    fake = tmp_path / "fake.lfep"
    fake.write_bytes(b"LFEP" + bytes(40))
    line = error_line(*run(capsys, "encode", speech_wav, tmp_path / "x.bin", "--checkpoint", small_nemo,
                           "--entropy", f"prior:{fake}")[::2])
    assert str(fake) in line


def test_the_prior_is_an_input_the_output_may_not_replace(capsys, tmp_path, speech_wav, small_nemo):
    codec = get_codec("lfsc", checkpoint=small_nemo, device="cpu")
    prior = tmp_path / "p.lfep"
    prior.write_bytes(Prior.fit([codec.tokens(sf.read(speech_wav, dtype="float32")[0]).T], "static", 2016).to_bytes())
    before = prior.read_bytes()
    code, _, err = run(capsys, "encode", speech_wav, prior, "--checkpoint", small_nemo, "--entropy", f"prior:{prior}")
    error_line(code, err)
    assert prior.read_bytes() == before
