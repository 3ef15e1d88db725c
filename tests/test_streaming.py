"""Live streams (codec.streaming): LFSC with its whole receptive field as lookahead gives whole-file coding's tokens
and audio for any push sizes, at its own rate and at a device's; the latency a stream reports is the input it holds
back; identity streams sample for sample; codecs without a stream say so in one line."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from codec.audio import resample
from codec.errors import UserError
from codec.lfsc import packed
from codec.lfsc.inference import split_lookahead
from codec.streaming import PassThrough, ResampledStream

from tests.conftest import NEMO_FIXTURE
from stream_pushes import push_all

TOL = 1e-5  # as tests/test_inference.py: float rounding between conv widths; the tokens are equal


@pytest.fixture(scope="module")
def lfsc():
    import torch

    from codec.lfsc_codec import LFSCCodec

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine's cores are shared
    yield LFSCCodec(checkpoint=NEMO_FIXTURE / "lfsc_small.nemo", device="cpu")
    torch.set_num_threads(threads)


def _noise_speech(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Noise shaped like speech's level changes, so that tokens and audio vary over time."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    envelope = 0.05 + 0.2 * np.abs(np.sin(np.arange(n) * 3.0 / rate))
    return (rng.standard_normal(n) * envelope).astype(np.float32)


@settings(max_examples=4, deadline=None)
@given(sizes=st.lists(st.integers(1, 2500), min_size=1, max_size=5), hop=st.integers(1, 5))
def test_full_lookahead_lfsc_is_whole_file_coding(lfsc, sizes, hop):
    audio = _noise_speech(1.3, lfsc.sample_rate)
    sent = []
    stream = lfsc.native_stream(None, hop, sent=sent.append)
    decoded, held = push_all(stream, audio, sizes)
    assert np.array_equal(np.concatenate(sent, axis=1), lfsc.tokens(audio))
    whole = lfsc.roundtrip(audio, lfsc.sample_rate).audio
    assert len(decoded) == len(audio) and np.abs(decoded - whole).max() < TOL
    assert held <= stream.latency


@pytest.mark.parametrize("hop", [1, 4])
def test_full_lookahead_latency_is_what_the_stream_holds_back_at_most(lfsc, hop):
    """Pushed a sample at a time, the most input ever without output is the latency the stream reports; the layers
    run incrementally, so it is the receptive field's true reach plus a step, below the windowed stream's
    (19 + hop) frames."""
    stream = lfsc.native_stream(None, hop)
    _, held = push_all(stream, _noise_speech(2.0, lfsc.sample_rate), [1])
    assert held == stream.latency < (19 + hop) * 1024 - 1


def test_full_lookahead_at_a_device_rate_is_the_round_trip(lfsc):
    audio = resample(_noise_speech(1.2, lfsc.sample_rate, seed=1), lfsc.sample_rate, 48000)[:-7]
    stream = lfsc.stream(sample_rate=48000)
    decoded, held = push_all(stream, audio, [480, 1999, 2400])  # 10 ms, odd, 50 ms: no frame's multiple
    whole = lfsc.roundtrip(audio, 48000).audio
    assert len(decoded) == len(audio) and np.abs(decoded - whole).max() < TOL
    assert held <= stream.latency


def test_lfsc_latency_is_the_input_held_back(lfsc):
    """Nothing comes back until `latency` samples are in; the next sample completes the first step."""
    stream = lfsc.native_stream(2, 3)
    assert len(stream.push(_noise_speech(1.0, lfsc.sample_rate)[: stream.latency])) == 0
    assert len(stream.push(np.zeros(1, np.float32))) == 3 * 1024
    assert stream.latency == (2 + 3) * 1024 - 1


def test_less_lookahead_less_latency_other_tokens(lfsc):
    audio = _noise_speech(1.3, lfsc.sample_rate, seed=2)
    sent = []
    stream = lfsc.native_stream(0, 1, sent=sent.append)
    decoded, held = push_all(stream, audio, [700])
    assert stream.latency == 1023 and held <= 1023 and len(decoded) == len(audio)
    agreement = np.mean(np.concatenate(sent, axis=1) == lfsc.tokens(audio))
    assert agreement < 0.9  # random weights: the missing future changes most tokens


def test_lookahead_split_follows_the_receptive_fields():
    assert split_lookahead(None, 6, 13) == split_lookahead(20, 6, 13) == (6, 13)
    assert split_lookahead(0, 6, 13) == (0, 0)
    assert split_lookahead(4, 6, 13) == (1, 3)
    with pytest.raises(UserError, match="0 or more"):
        split_lookahead(-1, 6, 13)


def test_resampler_delay_is_the_latency_of_an_identity_path():
    """A pass-through at 22.05 kHz fed at 48 kHz: the output is the two whole-file resamplings, and the most it holds
    back, pushed a sample at a time, is what it reports."""
    audio = _noise_speech(0.6, 48000, seed=3)
    stream = ResampledStream(PassThrough(22050), 48000)
    decoded, held = push_all(stream, audio, [1])
    expected = resample(resample(audio, 48000, 22050), 22050, 48000)[: len(audio)]
    assert np.array_equal(decoded[: len(expected)], expected)
    # The bound adds each resampler's worst moment; they need not coincide, so the measured delay may fall a little short
    # (67 samples at 48 kHz).
    assert stream.latency - 100 <= held <= stream.latency


def test_identity_streams_sample_for_sample():
    from codec.registry import get_codec

    audio = _noise_speech(0.3, 44100, seed=4)
    stream = get_codec("identity").stream(sample_rate=44100)
    decoded, held = push_all(stream, audio, [441, 13])
    assert stream.latency == held == 0 and np.array_equal(decoded, audio)
    with pytest.raises(UserError, match="fixed frame"):
        get_codec("identity").stream(lookahead_frames=4)


def test_a_codec_without_a_stream_says_so():
    from codec.registry import get_codec

    with pytest.raises(UserError, match="cannot code live"):
        get_codec("lowpass-3.5k").stream(sample_rate=48000)


def test_a_flushed_stream_takes_no_more():
    stream = PassThrough(16000)
    assert len(stream.push(np.ones(5, np.float32))) == 5 and len(stream.flush()) == 0
    with pytest.raises(UserError, match="flushed"):
        stream.push(np.ones(1, np.float32))
    with pytest.raises(UserError, match="mono"):
        PassThrough(16000).push(np.ones((2, 2), np.float32))


@pytest.mark.skipif(not packed._native_bf16_cpu(), reason="no native bf16 on this CPU")
def test_full_lookahead_in_packed_bf16_is_whole_file_bf16_coding():
    """The packed twin's oneDNN kernels, blocked for the stream's steps, give whole-file bf16's tokens, and its audio
    to within one bf16 step per sample (kernels for other widths round a last bit otherwise, now and then)."""
    from codec.lfsc_codec import LFSCCodec

    bf16 = LFSCCodec(checkpoint=NEMO_FIXTURE / "lfsc_small.nemo", device="cpu", precision="bf16")
    audio = _noise_speech(2.0, bf16.sample_rate, seed=3)
    sent = []
    stream = bf16.native_stream(None, 4, sent=sent.append)
    assert stream.inference.packed
    decoded, _ = push_all(stream, audio, [441])
    assert np.array_equal(np.concatenate(sent, axis=1), bf16.tokens(audio))
    whole = bf16.roundtrip(audio, bf16.sample_rate).audio
    assert np.all(np.abs(decoded - whole) <= 2.0**-7 * np.abs(whole) + 1e-6)


@pytest.mark.parametrize("fixture", ["nanocodec_21fps", "audio_codec_22khz"])
def test_lfsc_relatives_stream_exactly_and_a_causal_decoder_waits_for_nothing(fixture):
    """NanoCodec (replicate-padded encoder, causal decoder) and the Audio Codec (half-snake activations) run layer by
    layer too: whole-file coding's tokens and audio. NanoCodec's decoder needs no future, so its latency is the
    encoder's reach and a step, not the windowed stream's whole (6 + 24 frames) context."""
    from codec.lfsc_codec import nemo_codec

    codec = nemo_codec(NEMO_FIXTURE / f"{fixture}.nemo", device="cpu")
    audio = _noise_speech(2.0, codec.sample_rate, seed=4)
    sent = []
    stream = codec.native_stream(None, 2, sent=sent.append)
    decoded, held = push_all(stream, audio, [441, 1000])
    assert np.array_equal(np.concatenate(sent, axis=1), codec.tokens(audio))
    assert np.abs(decoded - codec.roundtrip(audio, codec.sample_rate).audio).max() < TOL and held <= stream.latency
    if codec.model.config.decoder.causal:
        frame = codec.model.samples_per_frame
        assert stream.latency <= (stream.inference.encoder_context + 2) * frame - 1
