"""codec/audio.py: files read block by block give exactly what whole-file reading gives, bad files are named in one
line, and written files appear only when complete."""

import numpy as np
import pytest
import soundfile as sf
import soxr

from codec.audio import load_audio, open_audio, resample, resample_blocks, resampled_length, save_audio, write_audio
from codec.blocks import fit_blocks, frames_of, join_blocks
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


@pytest.mark.parametrize("sr_in,sr_out,n", [
    (44100, 22050, 88277), (16000, 22050, 32077), (22050, 48000, 44177), (8000, 22050, 16077),
    (48000, 22050, 480), (48000, 22050, 480480), (96000, 22050, 960960),  # exact halves soxr rounds down
])
def test_resampling_a_stream_equals_resampling_the_whole(sr_in, sr_out, n):
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    whole = resample(x, sr_in, sr_out)
    assert len(whole) == resampled_length(len(x), sr_in, sr_out)
    cuts = sorted({0, min(5, n), min(1000, n), min(1001, n), min(sr_in, n), n})
    streamed = np.concatenate(list(resample_blocks((x[a:b] for a, b in zip(cuts, cuts[1:])), sr_in, sr_out)))
    assert np.array_equal(streamed, whole)


def test_a_48k_file_of_a_length_soxr_rounds_down_loads_whole(tmp_path):
    x = (0.1 * np.random.default_rng(1).standard_normal(480480)).astype(np.float32)
    sf.write(tmp_path / "a.wav", x, 48000, subtype="FLOAT")
    assert np.array_equal(load_audio(tmp_path / "a.wav", 22050).samples, resample(x, 48000, 22050))


def test_fit_blocks_trims_and_pads_like_fit_length():
    blocks = [np.ones(3, np.float32), np.ones(4, np.float32)]
    assert np.array_equal(np.concatenate(list(fit_blocks(blocks, 5))), np.ones(5))
    assert np.array_equal(np.concatenate(list(fit_blocks(blocks, 9))), [1] * 7 + [0, 0])


@pytest.mark.parametrize("cuts", [[0, 1, 2, 3], [0, 5, 5, 17, 40], [0, 160, 320], [0, 40]])
def test_frames_of_cuts_any_blocks_into_the_frames_of_the_whole(cuts):
    x = np.arange(cuts[-1], dtype=np.int16) + 1
    frames = list(frames_of((x[a:b] for a, b in zip(cuts, cuts[1:])), 16))
    padded = np.pad(x, (0, -len(x) % 16))
    assert all(len(f) == 16 and f.dtype == np.int16 for f in frames)
    assert np.array_equal(np.concatenate(frames) if frames else padded, padded)
    assert list(frames_of([], 16)) == []


def test_join_blocks_fills_one_array_and_refuses_a_wrong_count():
    blocks = [np.arange(3, dtype=np.float32), np.arange(3, 7, dtype=np.float32)]
    assert np.array_equal(join_blocks(iter(blocks), 7), np.arange(7))
    for wrong in (6, 8):
        with pytest.raises(ValueError, match="7" if wrong == 8 else "more than"):
            join_blocks(iter(blocks), wrong)


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
    with pytest.raises(UserError, match="cut.flac: its header promises 3.00 s but reading failed"):
        load_audio(tmp_path / "cut.flac")
    if "MP3" in sf.available_formats():  # libsndfile with MPEG support: its header keeps the uncut length
        sf.write(tmp_path / "cut.mp3", np.random.default_rng(0).standard_normal(48000).astype(np.float32) * 0.1, 16000)
        data = (tmp_path / "cut.mp3").read_bytes()
        (tmp_path / "cut.mp3").write_bytes(data[: len(data) // 2])
        with pytest.raises(UserError, match=r"cut.mp3: its header promises 3.00 s but only 1\.\d+ s can be read"):
            load_audio(tmp_path / "cut.mp3")


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
    for suffix in ("xyz", "raw"):
        with pytest.raises(UserError, match=f"cannot write audio as '.{suffix}'"):
            write_audio(tmp_path / f"out.{suffix}", [np.zeros(10, np.float32)], 16000)
