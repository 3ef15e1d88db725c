"""codec/audio.py: files read block by block give exactly what whole-file reading gives, bad files are named in one
line, and written files appear only when complete."""

import numpy as np
import pytest
import soundfile as sf
import soxr

from codec.audio import (
    fit_blocks, load_audio, open_audio, resample, resample_blocks, resampled_length, save_audio, write_audio,
)
from codec.errors import UserError


@pytest.fixture()
def stereo_44k(tmp_path):
    rng = np.random.default_rng(3)
    n = 44100 * 7 + 321
    left = (0.3 * np.sin(2 * np.pi * 220 * np.arange(n) / 44100) + 0.05 * rng.standard_normal(n)).astype(np.float32)
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([left, -0.5 * left[::-1]], axis=1), 44100, subtype="PCM_24")
    return path


def test_blocks_of_any_size_join_to_the_whole_file_read(stereo_44k):
    data, sr = sf.read(stereo_44k, dtype="float32")
    expected = soxr.resample(data.mean(axis=1), sr, 22050, quality="VHQ")  # independent of our code
    source = open_audio(stereo_44k, 22050)
    assert source.num_samples == len(expected) and source.duration == pytest.approx(len(data) / sr)
    assert any("downmixed" in n for n in source.notices) and any("resampled 44100" in n for n in source.notices)
    for seconds in (0.37, 1.0, 10.0):
        blocks = list(source.blocks(seconds))
        assert len(blocks) > 2 or seconds == 10.0
        assert np.array_equal(np.concatenate(blocks), expected)
    assert np.array_equal(load_audio(stereo_44k, 22050).samples, expected)


@pytest.mark.parametrize("sr_in,sr_out", [(44100, 22050), (16000, 22050), (22050, 48000), (8000, 22050)])
def test_resampling_a_stream_equals_resampling_the_whole(sr_in, sr_out):
    x = np.random.default_rng(0).standard_normal(sr_in * 2 + 77).astype(np.float32)
    whole = resample(x, sr_in, sr_out)
    assert len(whole) == resampled_length(len(x), sr_in, sr_out)
    cuts = [0, 5, 1000, 1001, sr_in, len(x)]
    streamed = np.concatenate(list(resample_blocks((x[a:b] for a, b in zip(cuts, cuts[1:])), sr_in, sr_out)))
    assert np.array_equal(streamed, whole)


def test_fit_blocks_trims_and_pads_like_fit_length():
    blocks = [np.ones(3, np.float32), np.ones(4, np.float32)]
    assert np.array_equal(np.concatenate(list(fit_blocks(blocks, 5))), np.ones(5))
    assert np.array_equal(np.concatenate(list(fit_blocks(blocks, 9))), [1] * 7 + [0, 0])


def test_nan_in_a_late_block_is_named_with_its_time(tmp_path):
    x = np.zeros(16000 * 5, np.float32)
    x[16000 * 3 + 8000] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(UserError, match=r"NaN or infinite samples \(the first at 3.500 s\)"):
        list(open_audio(path).blocks(1.0))


def test_empty_and_unreadable_files_are_user_errors(tmp_path):
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(UserError, match="empty"):
        open_audio(tmp_path / "empty.wav")
    with pytest.raises(UserError, match="not a readable audio file"):
        open_audio(tmp_path / "text.wav")
    sf.write(tmp_path / "cut.flac", np.random.default_rng(0).standard_normal(48000).astype(np.float32) * 0.1, 16000)
    (tmp_path / "cut.flac").write_bytes((tmp_path / "cut.flac").read_bytes()[:20000])  # its header promises more
    with pytest.raises(UserError, match="cut.flac: not a readable audio file"):
        load_audio(tmp_path / "cut.flac")


def test_written_audio_appears_only_when_complete(tmp_path):
    out = tmp_path / "out.wav"
    save_audio(out, np.full(100, 0.5, np.float32), 16000)

    def failing():
        yield np.zeros(50, np.float32)
        raise UserError("the input broke off")

    with pytest.raises(UserError, match="broke off"):
        write_audio(out, failing(), 16000)
    assert np.allclose(sf.read(out)[0], 0.5, atol=1e-4)  # the earlier file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]
    with pytest.raises(UserError, match="cannot write audio as '.xyz'"):
        write_audio(tmp_path / "out.xyz", [np.zeros(10, np.float32)], 16000)
