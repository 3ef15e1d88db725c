"""codec/lfsc/inference.py: the unmasked path is bit-exact, chunks match whole-file coding, buckets match one by
one, and reduced precision stays within measured bounds (the NeMo fixture model on real speech)."""

import numpy as np
import pytest
import torch

from codec.errors import UserError
from codec.lfsc.checkpoint import load_lfsc
from codec.lfsc.inference import LFSCInference, buckets, receptive_field, windows
from codec.lfsc.model import LFSCModel
from conftest import NEMO_FIXTURE, small_config

TOL = 1e-5


@pytest.fixture(scope="module")
def model():
    return load_lfsc(NEMO_FIXTURE / "lfsc_small.nemo", device="cpu")


@pytest.fixture(scope="module")
def long_speech(reference):
    """About 8 s of real speech: the fixture's two clips, forwards and reversed."""
    a = reference["audio"][0, : int(reference["audio_len"][0])]
    b = reference["single_audio"][0]
    return np.concatenate([a, b, a[::-1], b[::-1]])


def snr_db(ref: np.ndarray, deg: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((ref - deg).astype(np.float64) ** 2)))


def test_receptive_field_matches_autograd():
    """The layer walk gives the same context as the input steps autograd finds an output frame depends on."""
    torch.manual_seed(0)
    model = LFSCModel(small_config())
    from codec.lfsc.model import decoder_full, encoder_full

    spf, frames, mid = 1024, 32, 16
    audio = torch.randn(1, frames * spf, requires_grad=True)
    (grad,) = torch.autograd.grad(encoder_full(model, audio)[..., mid].sum(), audio)
    used = torch.nonzero(grad[0]).flatten()
    enc = max(mid * spf - int(used.min()), int(used.max()) - (mid + 1) * spf + 1)
    latent = torch.randn(1, 32, frames, requires_grad=True)
    (grad,) = torch.autograd.grad(decoder_full(model, latent)[:, mid * spf : (mid + 1) * spf].sum(), latent)
    used = torch.nonzero(grad[0].abs().sum(0)).flatten()
    assert receptive_field(model) == (-(-enc // spf), max(mid - int(used.min()), int(used.max()) - mid)) == (6, 13)


@pytest.mark.parametrize("frames,core,context", [(5, 10, 3), (16, 10, 3), (17, 10, 3), (100, 7, 13), (431, 430, 6)])
def test_windows_tile_with_context(frames, core, context):
    spans = windows(frames, core, context)
    assert [a for _, _, a, _ in spans] == list(range(0, frames, core)) or len(spans) == 1
    assert spans[-1][3] == frames and all(spans[i][3] == spans[i + 1][2] for i in range(len(spans) - 1))
    assert len({end - start for start, end, _, _ in spans}) == 1
    for start, end, a, b in spans:
        assert 0 <= start and end <= frames
        assert start <= max(a - context, 0) and end >= min(b + context, frames)


def test_buckets_group_equal_lengths():
    assert buckets([5, 3, 5, 4, 5, 3], 2) == [[1, 5], [3], [0, 2], [4]]


def test_full_length_path_is_bit_identical_to_the_model(model, reference):
    """Skipping the length masks changes nothing when every item is full length (batch of two equal clips)."""
    clip = reference["single_audio"][0]
    clip = clip[: len(clip) // 1024 * 1024]
    x = torch.from_numpy(np.stack([clip, clip[::-1].copy()]))
    tokens, tokens_len = model.encode(audio=x, audio_len=torch.tensor([x.shape[1]] * 2))
    fast = LFSCInference(model)
    assert torch.equal(fast.encode_frames(x), tokens)
    decoded, _ = model.decode(tokens=tokens, tokens_len=tokens_len)
    assert torch.equal(fast.decode_frames(tokens), decoded)


def test_matches_nemo_fixture(model, reference):
    fast = LFSCInference(model)
    tokens = fast.encode(reference["single_audio"][0])
    assert np.array_equal(tokens, reference["single_tokens"][0])
    decoded = fast.decode(reference["single_tokens"][0])
    assert np.abs(decoded - reference["single_decoded"][0]).max() < TOL


def test_chunked_equals_whole_file(model, long_speech):
    """1 s chunks (8 windows) give the whole-file tokens, and decoded audio within float rounding."""
    whole = LFSCInference(model, chunk_seconds=1000.0)
    chunked = LFSCInference(model, chunk_seconds=1.0)
    assert len(windows(len(long_speech) // 1024 + 1, chunked.chunk_frames, chunked.encoder_context)) >= 8
    tokens = whole.encode(long_speech)
    assert len(np.unique(tokens)) > 300
    assert np.array_equal(chunked.encode(long_speech), tokens)
    assert np.abs(chunked.decode(tokens) - whole.decode(tokens)).max() < TOL


def test_bucketed_batches_equal_one_by_one(model, long_speech):
    """Clips of equal and unequal frame counts (one long enough to be chunked): batching changes nothing."""
    starts_lengths = [(0, 20000), (5000, 20400), (9000, 19500), (20000, 30000), (1000, 4000), (3000, 90000)]
    clips = [long_speech[s : s + n] for s, n in starts_lengths]
    one = LFSCInference(model, chunk_seconds=1.0)
    batched = LFSCInference(model, chunk_seconds=1.0, batch_size=4)
    expected = [one.encode(c) for c in clips]
    got = batched.encode_many(clips)
    assert all(np.array_equal(g, e) for g, e in zip(got, expected))
    decoded = batched.decode_many(expected)
    for tokens, audio in zip(expected, decoded):
        assert np.abs(audio - one.decode(tokens)).max() < TOL


# bf16 runs packed on CPUs with oneDNN bf16 (see test_packed.py), fp16 under autocast.
@pytest.mark.parametrize("precision,min_agreement,min_snr", [("bf16", 0.9, 15.0), ("fp16", 0.95, 30.0)])
def test_reduced_precision_deviation_is_bounded(model, reference, precision, min_agreement, min_snr):
    clip = reference["single_audio"][0]
    exact, fast = LFSCInference(model), LFSCInference(model, precision=precision)
    tokens = exact.encode(clip)
    agreement = float(np.mean(fast.encode(clip) == tokens))
    snr = snr_db(exact.decode(tokens), fast.decode(tokens))
    assert agreement >= min_agreement and snr >= min_snr, (agreement, snr)
    assert agreement < 1.0 or snr < 100.0  # the option really changes the arithmetic


def test_unknown_precision_is_a_user_error(model):
    with pytest.raises(UserError, match="precision"):
        LFSCInference(model, precision="int4")


def test_lfsc_codec_codes_long_input_in_chunks(small_nemo, long_speech):
    """LFSCCodec goes through the chunked path: with 1 s chunks it gives the whole-file tokens and audio."""
    from codec.lfsc_codec import LFSCCodec

    chunked = LFSCCodec(checkpoint=small_nemo, device="cpu", chunk_seconds=1.0)
    whole = LFSCCodec(checkpoint=small_nemo, device="cpu", chunk_seconds=1000.0)
    tokens = whole.tokens(long_speech)
    assert np.array_equal(chunked.tokens(long_speech), tokens)
    assert np.abs(chunked.synthesize(tokens, len(long_speech)) - whole.synthesize(tokens, len(long_speech))).max() < TOL
    with pytest.raises(UserError, match="precision"):
        LFSCCodec(checkpoint=small_nemo, device="cpu", precision="fp8")


def test_streamed_blocks_give_the_whole_file_result_holding_one_window(model, long_speech):
    """Audio fed in odd-sized blocks gives encode()'s tokens, and is read as it goes: when the first tokens are
    done, only the blocks the first window needs have been taken. Decoded blocks join to decode()'s audio."""
    chunked = LFSCInference(model, chunk_seconds=1.0)
    sizes = [1, 700, 5000, 3333] * 40
    cuts = np.minimum(np.cumsum([0] + sizes), len(long_speech))
    taken, seen_at_first_step = [], []

    def blocks():
        for a, b in zip(cuts, cuts[1:]):
            if a < b:
                taken.append(b)
                yield long_speech[a:b]

    def progress(frames):
        seen_at_first_step.append(taken[-1])

    tokens = chunked.encode_blocks(blocks(), len(long_speech), progress)
    assert np.array_equal(tokens, chunked.encode(long_speech))
    first_window_end = chunked.encoder_window * chunked.spf
    assert first_window_end <= seen_at_first_step[0] < first_window_end + max(sizes)
    assert len(seen_at_first_step) == len(windows(tokens.shape[1], chunked.chunk_frames, chunked.encoder_context))
    blocks_out = list(chunked.decode_blocks(tokens, len(long_speech) - 100))
    assert len(blocks_out) > 3
    assert np.array_equal(np.concatenate(blocks_out), chunked.decode(tokens, len(long_speech) - 100))
    with pytest.raises(ValueError, match="ended after"):
        chunked.encode_blocks([long_speech[:5000]], len(long_speech))


@pytest.mark.parametrize("length", [1, 700, 1024, 5000, "window-1", "window+1", "3 windows+5"])
def test_streamed_chunks_equal_one_direct_window_at_edge_lengths(model, long_speech, length):
    """Lengths around a frame, the model's minimum and the window edges, fed in odd blocks (with samples past
    `num_samples` that must be ignored): chunked, streamed coding gives the tokens of one direct model call."""
    chunked, whole = LFSCInference(model, chunk_seconds=0.5), LFSCInference(model, chunk_seconds=1000.0)
    window = chunked.encoder_window * chunked.spf
    n = {"window-1": window - 1, "window+1": window + 1, "3 windows+5": 3 * window + 5}.get(length, length)
    audio = np.resize(long_speech, n + 3000)
    blocks = [audio[i : i + 2999] for i in range(0, len(audio), 2999)]
    tokens = whole.encode_frames(torch.from_numpy(whole.pad_to_frames(audio[:n]))[None])[0].numpy()
    assert np.array_equal(chunked.encode_blocks(blocks, n), tokens)


def test_a_round_trip_reports_each_chunk_and_stops_when_progress_raises(small_nemo, long_speech):
    """Codec.roundtrip tells `progress` the fraction done after every LFSC chunk (rising to 1.0); a progress that
    raises (the app's cancel) stops the work there. A codec without chunks reports the end of each step."""
    from codec.lfsc_codec import LFSCCodec
    from codec.registry import get_codec

    codec = LFSCCodec(checkpoint=small_nemo, device="cpu", chunk_seconds=1.0)
    heard = []
    result = codec.roundtrip(long_speech, 22050, heard.append)
    inference = codec.inference
    steps = len(windows(inference.frames_for(len(long_speech)), inference.chunk_frames, inference.encoder_context))
    assert len(heard) >= 2 * 8 and heard == sorted(heard) and heard[-1] == 1.0 and heard[0] > 0
    assert np.array_equal(result.audio, codec.roundtrip(long_speech, 22050).audio)  # reporting changes nothing

    class Stop(Exception):
        pass

    calls = []

    def cancel_at_third(fraction):
        calls.append(fraction)
        if len(calls) == 3:
            raise Stop

    with pytest.raises(Stop):
        codec.roundtrip(long_speech, 22050, cancel_at_third)
    assert len(calls) == 3 and calls[-1] < 0.5 and steps > 3  # stopped inside encoding, chunks left undone
    heard.clear()
    get_codec("identity").roundtrip(long_speech, 22050, heard.append)
    assert heard == [0.5, 1.0]
