"""codec/condition_streams.py: input conditions applied block by block, live, are the whole-clip conditions (the
deterministic ones sample for sample, noise and level at their target on speech)."""

from __future__ import annotations

import numpy as np
import pytest

from codec.condition_streams import NOMINAL_SPEECH_DB, TELEPHONE_LOOKAHEAD_S, ConditionStream
from codec.conditions import Condition, parse
from codec.dsp import active_level_db

RATE = 16000


@pytest.fixture(scope="module")
def half_a_minute() -> np.ndarray:
    """Half a minute of one bundled language's utterances back to back: a talker in a live session."""
    from codec.audio import load_audio
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest

    if not default_manifest().exists():
        pytest.skip("bundled speech (assets/speech) is not present")
    clips, total = [], 0
    for utt in (u for u in load_manifest(default_manifest()) if u.lang == "en"):
        clips.append(load_audio(utt.audio_path, sample_rate=RATE).samples.astype(np.float64))
        total += len(clips[-1])
        if total >= 30 * RATE:
            break
    return np.concatenate(clips)


def streamed(stream: ConditionStream, x: np.ndarray, seed: int) -> np.ndarray:
    """`x` pushed in random blocks (1 to 3000 samples), then `delay` zeros; the output with the delay taken off."""
    rng, padded, out, i = np.random.default_rng(seed), np.concatenate([x, np.zeros(stream.delay)]), [], 0
    while i < len(padded):
        size = int(rng.integers(1, 3000))
        block = stream.push(padded[i : i + size])
        assert len(block) == len(padded[i : i + size])  # as many samples out as in, every push
        out.append(block)
        i += size
    return np.concatenate(out)[stream.delay :].astype(np.float64)


@pytest.mark.parametrize("seed", range(3))
def test_the_telephone_band_streamed_in_random_blocks_is_the_whole_clip_band_half_a_second_later(speech, seed):
    x = speech[0][: 4 * speech[1]]
    stream = ConditionStream([parse("tel")], speech[1])
    assert stream.delay == round(TELEPHONE_LOOKAHEAD_S * speech[1])
    # Its zero-phase response is cut at the lookahead: a third of a 16-bit step (1e-6 would take 1 s of lookahead)
    np.testing.assert_allclose(streamed(stream, x, seed), parse("tel").apply(x, speech[1]), rtol=0, atol=1e-5)


@pytest.mark.parametrize("spec", ["reverb0.3", "reverb1.5"])
def test_a_room_streamed_in_random_blocks_is_the_whole_clip_room_up_to_its_power_scale(speech, spec, monkeypatch):
    x, rate = 0.5 * speech[0][: 4 * speech[1]], speech[1]  # kept below clipping, which no scale would undo
    monkeypatch.setattr(Condition, "_rng", lambda self, audio: np.random.default_rng(7))  # the same room for both
    whole = parse(spec).apply(x, rate).astype(np.float64)
    live = streamed(ConditionStream([parse(spec)], rate, np.random.default_rng(7)), x, seed=len(spec))
    scale = np.dot(whole, live) / np.dot(live, live)  # the whole clip scales to its measured power; live cannot
    np.testing.assert_allclose(scale * live, whole, rtol=0, atol=1e-6)
    assert abs(20 * np.log10(scale)) < 1.0


def test_a_chain_streams_each_condition_in_order_with_the_delays_added(half_a_minute):
    x, chain = half_a_minute, [parse("tel"), parse("level-30")]
    stream = ConditionStream(chain, RATE)
    assert stream.delay == round(TELEPHONE_LOOKAHEAD_S * RATE) and stream.description.startswith("the telephone")
    live, whole = streamed(stream, x, seed=5)[-RATE:], chain[1].apply(chain[0].apply(x, RATE), RATE)[-RATE:]
    loud = np.abs(whole) > 1e-2
    gain = live[loud] / whole[loud]  # the level follows the band, as in the whole-clip chain
    assert np.std(gain) < 1e-2 * np.mean(gain) and abs(20 * np.log10(np.mean(gain))) < 1.0


@pytest.mark.parametrize("spec", ["white10", "pink10", "white0", "pink-5"])
def test_noise_streamed_over_half_a_minute_of_speech_is_at_its_snr_within_1_db(half_a_minute, spec):
    x = half_a_minute
    noise = streamed(ConditionStream([parse(spec)], RATE), x, seed=1) - x
    snr = active_level_db(x, RATE) - 10 * np.log10(np.mean(noise**2))
    assert abs(snr - parse(spec).value) < 1.0, snr


@pytest.mark.parametrize("spec", ["level-36", "level-16"])
def test_a_level_streamed_over_half_a_minute_of_speech_reaches_its_level_within_1_db(half_a_minute, spec):
    live = streamed(ConditionStream([parse(spec)], RATE), half_a_minute, seed=2)
    assert abs(active_level_db(live, RATE) - parse(spec).value) < 1.0


def test_before_anyone_speaks_noise_is_set_against_a_nominal_voice_not_the_microphones_hiss():
    stream = ConditionStream([parse("white10")], RATE)
    hiss = 1e-4 * np.random.default_rng(0).standard_normal(RATE)
    noise = stream.push(hiss) - hiss
    assert abs(10 * np.log10(np.mean(noise.astype(np.float64) ** 2)) - (NOMINAL_SPEECH_DB - 10)) < 0.5


def test_the_same_conditions_give_the_same_noise_and_an_empty_block_gives_nothing():
    x = np.random.default_rng(0).standard_normal(4000) * 0.1
    first, second = (ConditionStream([parse("pink10")], RATE).push(x) for _ in range(2))
    np.testing.assert_array_equal(first, second)
    assert len(ConditionStream([parse("tel")], RATE).push(np.zeros(0))) == 0
