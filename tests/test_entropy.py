"""Entropy coding of token frames (codec.entropy, issue #22): exact round trips for every model over random and
adversarial arrays, rates below the fixed 88 bits and near the source's entropy, damaged payloads and prior files
refused with a UserError, a payload refused with another prior, and hostile headers bounded in memory."""

from __future__ import annotations

import math
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codec import entropy
from codec.entropy import coded_bits_per_frame, decode_tokens, encode_tokens, max_symbols, pack, read_header, unpack
from codec.entropy_models import FLOOR, Prior
from codec.errors import UserError

K, C = 2016, 8  # LFSC: 8 codebooks of 8 * 7 * 6 * 6 codes
MODELS = ("adaptive", "static", "context")
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def skewed(frames: int, codebooks: int = C, size: int = K, repeat: float = 0.0, seed: int = 0) -> np.ndarray:
    """Zipf(1.1) codes, shuffled per codebook by a fixed permutation, each repeating the previous with `repeat`."""
    source = np.random.default_rng(1234)
    p = 1 / np.arange(1, size + 1) ** 1.1
    permutations = np.stack([source.permutation(size) for _ in range(codebooks)])
    rng = np.random.default_rng(seed)
    tokens = permutations[np.arange(codebooks), rng.choice(size, (frames, codebooks), p=p / p.sum())]
    repeats = rng.random((frames, codebooks)) < repeat
    for t in range(1, frames):
        tokens[t, repeats[t]] = tokens[t - 1, repeats[t]]
    return tokens


def zipf_entropy(size: int = K) -> float:
    """Entropy in bits of the Zipf(1.1) distribution that `skewed` draws from."""
    p = 1 / np.arange(1, size + 1) ** 1.1
    p /= p.sum()
    return float(-(p * np.log2(p)).sum())


def empirical_entropy(tokens: np.ndarray) -> float:
    """Sum over codebooks of the entropy of each codebook's code histogram: bits per frame."""
    total = 0.0
    for column in tokens.T:
        q = np.unique(column, return_counts=True)[1] / len(column)
        total -= float((q * np.log2(q)).sum())
    return total


def model_for(kind: str, codebooks: int, size: int, buckets: int = 4):
    """"adaptive", or a prior of `kind` fitted on codes 0..4 only (so most codes are ones it never saw)."""
    if kind == "adaptive":
        return "adaptive"
    corpus = np.random.default_rng(7).integers(0, min(size, 5), (50, codebooks))
    return Prior.fit([corpus], kind, size, buckets=buckets)


@pytest.fixture(scope="module")
def lfsc_priors() -> dict:
    """Static and context priors fitted on LFSC-shaped skewed tokens that repeat the previous code 40% of the time."""
    corpus = [skewed(10_000, repeat=0.4, seed=s) for s in (1, 2)]
    return {kind: Prior.fit(corpus, kind, K) for kind in ("static", "context")}


@pytest.fixture(scope="module")
def iid_priors() -> dict:
    """Static and context priors fitted on LFSC-shaped skewed tokens drawn independently."""
    corpus = [skewed(10_000, seed=s) for s in (3, 4)]
    return {kind: Prior.fit(corpus, kind, K) for kind in ("static", "context")}


def lfsc_model(kind: str, priors: dict):
    """"adaptive" or the fitted LFSC-shaped prior of `kind`."""
    return "adaptive" if kind == "adaptive" else priors[kind]


def round_trip(tokens: np.ndarray, size: int, model) -> np.ndarray:
    """Tokens back through encode_tokens/decode_tokens and pack/unpack (which must agree)."""
    body = encode_tokens(tokens, size, model)
    decoded = decode_tokens(body, tokens.shape[0], tokens.shape[1], size, model)
    unpacked = unpack(pack(tokens, size, model), None if model == "adaptive" else model)
    assert decoded.dtype == np.int32 and unpacked.dtype == np.int32
    np.testing.assert_array_equal(decoded, unpacked)
    return decoded


@st.composite
def token_arrays(draw):
    """(tokens, codebook size): random codes or one of the adversarial patterns, 0 to 40 frames."""
    size = draw(st.one_of(st.sampled_from([2, 3, 255, 2016, 65536]), st.integers(2, 65536)))
    shape = (draw(st.integers(0, 40)), draw(st.integers(1, 8)))
    pattern = draw(st.sampled_from(["random", "same", "max", "alternating", "high"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if pattern == "random":
        return rng.integers(0, size, shape), size
    if pattern == "same":
        return np.full(shape, draw(st.integers(0, size - 1))), size
    if pattern == "max":
        return np.full(shape, size - 1), size
    if pattern == "alternating":
        return (np.arange(shape[0])[:, None] + np.arange(shape[1])) % 2 * (size - 1), size
    return rng.integers(max(0, size - 3), size, shape), size  # the top codes, which no test prior saw


@pytest.mark.parametrize("kind", MODELS)
@SETTINGS
@given(case=token_arrays())
def test_round_trip_is_exact_for_any_tokens(kind, case):
    tokens, size = case
    model = model_for(kind, tokens.shape[1], size)
    np.testing.assert_array_equal(round_trip(tokens, size, model), tokens)


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("pattern", ["zeros", "max", "alternating", "ramp", "unseen", "one frame", "no frames"])
def test_round_trip_is_exact_for_adversarial_lfsc_tokens(kind, pattern, lfsc_priors):
    frames = {"one frame": 1, "no frames": 0}.get(pattern, 500)
    tokens = {
        "max": np.full((frames, C), K - 1),
        "alternating": np.arange(frames * C).reshape(frames, C) % 2 * (K - 1),
        "ramp": np.arange(frames * C).reshape(frames, C) % K,
        "unseen": np.random.default_rng(3).integers(K - 40, K, (frames, C)),
    }.get(pattern, np.zeros((frames, C), np.int64))
    np.testing.assert_array_equal(round_trip(tokens, K, lfsc_model(kind, lfsc_priors)), tokens)


@pytest.mark.parametrize("kind", MODELS)
def test_the_most_compressible_tokens_fit_the_size_bound(kind):
    # 2-code codebook, one code only: each symbol costs close to the least any symbol can (MIN_SYMBOL_BITS).
    tokens = np.zeros((100_000, 1), np.int64)
    model = "adaptive" if kind == "adaptive" else Prior.fit([tokens], kind, 2)
    body = encode_tokens(tokens, 2, model)
    assert tokens.size <= max_symbols(len(body))
    np.testing.assert_array_equal(decode_tokens(body, len(tokens), 1, 2, model), tokens)


def test_every_model_codes_a_skewed_source_near_its_entropy(iid_priors):
    tokens = skewed(4000, seed=9)  # i.i.d. codes: no model can beat the source's entropy, 8 x 7.30 bits
    source = C * zipf_entropy()
    rates = {kind: coded_bits_per_frame([tokens], K, lfsc_model(kind, iid_priors)) for kind in MODELS}
    assert source == pytest.approx(58.4, abs=0.1) and empirical_entropy(tokens) < source
    assert rates["static"] < source + 1.0  # the prior learned from 20000 other frames
    assert rates["context"] < rates["static"] + 0.3  # contexts that say nothing cost little (strength fitted high)
    assert rates["adaptive"] < source + 4.0  # learning 2016-code histograms from scratch in 4000 frames
    assert max(rates.values()) < 0.8 * 88


def test_the_context_model_uses_the_previous_code(lfsc_priors):
    tokens = skewed(4000, repeat=0.4, seed=10)  # codes repeat as in the priors' corpus
    static, context = (coded_bits_per_frame([tokens], K, lfsc_priors[kind]) for kind in ("static", "context"))
    assert context < static - 3.0  # a code repeats 40% of the time: about 8 x 0.4 x 7 bits to save


def test_adaptive_learns_a_small_alphabet_quickly():
    tokens = skewed(2000, codebooks=4, size=64, seed=11)
    rate = coded_bits_per_frame([tokens], 64, "adaptive")
    assert rate < empirical_entropy(tokens) * 1.03 + 4 * FLOOR * 4
    assert rate < 0.8 * 4 * 6


def test_coded_bits_per_frame_counts_the_range_coder_words():
    tokens = skewed(300, seed=12)
    assert coded_bits_per_frame([tokens, tokens[:100]], K, "adaptive") == pytest.approx(
        8 * (len(encode_tokens(tokens, K, "adaptive")) + len(encode_tokens(tokens[:100], K, "adaptive")) - 8) / 400
    )
    assert math.isnan(coded_bits_per_frame([np.zeros((0, C), np.int64)], K, "adaptive"))


def flipped(data: bytes, bit: int) -> bytes:
    """`data` with one bit inverted."""
    out = bytearray(data)
    out[bit // 8] ^= 1 << bit % 8
    return bytes(out)


def sample_bits(length: int, rng: np.random.Generator, count: int = 48) -> list[int]:
    """The first and last bits and a random sample of the others."""
    return sorted({0, 8 * length - 1, *rng.integers(0, 8 * length, count).tolist()})


@pytest.mark.parametrize("kind", MODELS)
def test_a_damaged_or_cut_off_payload_is_refused(kind, lfsc_priors):
    model, tokens = lfsc_model(kind, lfsc_priors), skewed(200, repeat=0.4, seed=13)
    prior = None if kind == "adaptive" else model
    data, rng = pack(tokens, K, model), np.random.default_rng(14)
    for bit in sample_bits(len(data), rng):
        with pytest.raises(UserError) as caught:
            unpack(flipped(data, bit), prior)
        assert "\n" not in str(caught.value)
    for length in sorted({0, 3, 40, 60, len(data) - 1, *rng.integers(0, len(data), 16).tolist()}):
        with pytest.raises(UserError):
            unpack(data[:length], prior)
    with pytest.raises(UserError):
        unpack(data + bytes(4), prior)


@pytest.mark.parametrize("kind", MODELS)
def test_a_damaged_body_decodes_right_or_is_refused(kind, lfsc_priors):
    # Without the container's checksum: the tokens' crc32 and the decoded count catch what changes the tokens.
    model, tokens = lfsc_model(kind, lfsc_priors), skewed(200, repeat=0.4, seed=15)
    body, rng, refused = encode_tokens(tokens, K, model), np.random.default_rng(16), 0
    damaged = [flipped(body, bit) for bit in sample_bits(len(body), rng)]
    damaged += [body[:n] for n in sorted({0, 4, len(body) - 4, *(4 * rng.integers(1, len(body) // 4, 8)).tolist()})]
    for payload in damaged + [body + bytes(4), body + b"\x01"]:
        try:
            np.testing.assert_array_equal(decode_tokens(payload, 200, C, K, model), tokens)
        except UserError:
            refused += 1
    assert refused >= len(damaged) - 8  # a flip in the last word's slack bits may change nothing


def test_a_payload_needs_the_prior_it_was_made_with(lfsc_priors):
    static, context = lfsc_priors["static"], lfsc_priors["context"]
    tokens = skewed(50, seed=17)
    data = pack(tokens, K, static)
    assert read_header(data)[0].prior_sha256 == static.sha256
    other = Prior.fit([skewed(100, seed=18)], "static", K)
    for prior, name in ((other, other.sha256[:12]), (context, context.sha256[:12]), (None, "none")):
        with pytest.raises(UserError, match=f"made with prior {static.sha256[:12]}, you gave {name}: pass the same"):
            unpack(data, prior)
    np.testing.assert_array_equal(unpack(data, Prior.from_bytes(static.to_bytes())), tokens)
    np.testing.assert_array_equal(unpack(pack(tokens, K, "adaptive"), other), tokens)  # needs none: ignored


def test_a_prior_for_other_tokens_or_an_unknown_model_is_refused(lfsc_priors):
    tokens = skewed(10, codebooks=4, seed=19)
    with pytest.raises(UserError, match="prior is for 8 codebooks of 2016 codes, the tokens have 4 of 2016"):
        encode_tokens(tokens, K, lfsc_priors["static"])
    with pytest.raises(UserError, match="prior is for 8 codebooks"):
        decode_tokens(bytes(4), 10, C, 4096, lfsc_priors["context"])
    with pytest.raises(UserError, match="unknown entropy model"):
        encode_tokens(tokens, K, "static")
    with pytest.raises(UserError, match="unknown prior kind"):
        Prior.fit([tokens], "markov", K)
    with pytest.raises(ValueError, match="codes must lie in 0..2015"):
        encode_tokens(tokens + K, K, "adaptive")


@pytest.mark.parametrize("kind", ["static", "context"])
def test_prior_bytes_round_trip(kind, lfsc_priors):
    prior = lfsc_priors[kind]
    data = prior.to_bytes()
    again = Prior.from_bytes(data)
    assert (again.kind, again.codebook_size, again.num_codebooks, again.strength, again.sha256) == (
        prior.kind, prior.codebook_size, prior.num_codebooks, prior.strength, prior.sha256)
    np.testing.assert_array_equal(again.counts, prior.counts)
    assert len(data) < 200_000  # compact: 8 codebooks x 33 contexts x 2016 codes are mostly empty
    assert len({lfsc_priors["static"].sha256, lfsc_priors["context"].sha256}) == 2


@pytest.mark.parametrize("kind", ["static", "context"])
def test_a_damaged_prior_file_is_refused(kind):
    prior = Prior.fit([skewed(300, size=64, codebooks=2, seed=20)], kind, 64)
    data, rng, refused = prior.to_bytes(), np.random.default_rng(21), 0
    for bit in sample_bits(len(data), rng, 64):
        try:  # a flip in deflate's padding bits changes nothing: the same prior, or a refusal
            again = Prior.from_bytes(flipped(data, bit))
            assert again.sha256 == prior.sha256 and (again.counts == prior.counts).all()
        except UserError:
            refused += 1
    assert refused >= 60
    for length in sorted({0, 4, 29, 30, len(data) - 1, *rng.integers(0, len(data), 16).tolist()}):
        with pytest.raises(UserError):
            Prior.from_bytes(data[:length])
    for payload in (data + b"\x00", b"LFEP" + bytes(40), b"PK\x03\x04" + bytes(100)):
        with pytest.raises(UserError):
            Prior.from_bytes(payload)


def test_a_prior_header_claiming_a_huge_table_is_refused_before_inflating():
    fields = struct.pack("<4sBBBIII", b"LFEP", 1, 2, 64, 65536, 257, 32)
    table = bytes(16)
    data = fields + struct.pack("<II", 4 * 64 * 257 * 65536 % 2**32, zlib.crc32(fields + table)) + zlib.compress(table)
    with pytest.raises(UserError, match="impossible sizes"):
        Prior.from_bytes(data)


HOSTILE_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HOSTILE_SETTINGS
@given(
    model_id=st.sampled_from([0, 1, 2, 3, 255]), frames=st.integers(0, 2**32 - 1),
    codebooks=st.integers(0, 255), size=st.integers(0, 2**32 - 1), body=st.binary(max_size=64),
    small=st.booleans(),
)
def test_hostile_headers_under_a_valid_checksum_give_tokens_or_a_user_error(model_id, frames, codebooks, size, body,
                                                                              small):
    prior = model_for("static", 2, 16)
    if small:  # sizes a decoder accepts, so that the decoding itself meets the random body
        frames, codebooks, size = frames % 3000, 1 + codebooks % 2, (16 if model_id else 2 + size % 5000)
    sha = bytes(32) if model_id == 0 else bytes.fromhex(prior.sha256)
    fields = struct.pack("<4sBB32sIBII", b"LFEC", 1, model_id, sha, frames, codebooks, size, len(body))
    data = fields + struct.pack("<I", zlib.crc32(fields + body)) + body
    tracemalloc.start()
    try:
        tokens = unpack(data, prior)
        assert tokens.shape == (frames, codebooks) and tokens.max(initial=0) < size
    except UserError as exc:
        assert "\n" not in str(exc)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 16 * 2**20


def test_hostile_sizes_are_refused_before_anything_is_sized_by_them():
    for frames, codebooks, size in ((2**30, 8, K), (10, 0, K), (10, 65, K), (10, 8, 1), (10, 8, 2**17)):
        with pytest.raises(UserError, match="impossible sizes"):
            decode_tokens(bytes(8), frames, codebooks, size, "adaptive")
    with pytest.raises(UserError, match="cannot hold"):
        decode_tokens(bytes(8), 1_000_000, 8, K, "adaptive")
    assert max_symbols(8) < 200_000 and max_symbols(2**40) == entropy.MAX_SYMBOLS
