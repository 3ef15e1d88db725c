"""Property tests of every parser of coded data: the .lfsc and payload containers (random bytes, a valid header
with a random body, random field values under a recomputed valid checksum, so the checks past it are reached) and
each codec's payload decoder (random payloads and lengths, and well-framed payloads of random content). Each either
gives a valid result or raises UserError: never another exception, and never more memory than its input implies."""

from __future__ import annotations

import math
import struct
import tracemalloc
import zlib
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codec.audio import MAX_RATE, MIN_RATE, resampled_length
from codec.bitstream import (
    MAX_SECONDS, PAYLOAD_MAGIC, Layout, decode_file, decode_payload_file, encode_file, encode_payload_file,
    unpack_frames,
)
from codec.errors import UserError
from codec.registry import get_codec

MEMORY_CAP = 64 * 2**20  # bytes a parser may allocate for inputs of a few kB (tracemalloc sees numpy's too)
U8, U32, U64 = (st.integers(0, 2**bits - 1) for bits in (8, 32, 64))
SANE_RATES = st.sampled_from([MIN_RATE, 8000, 16000, 22050, 44100, 48000, MAX_RATE])
RATES = st.one_of(U32, SANE_RATES)


@contextmanager
def bounded_memory():
    """Fail if the block allocates more than MEMORY_CAP at its peak."""
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_CAP, f"{peak / 2**20:.0f} MiB allocated"


def parsed_or_refused(parse, *args):
    """`parse(*args)`, or None where it refused with a UserError (any other exception fails the test)."""
    with bounded_memory():
        try:
            return parse(*args)
        except UserError:
            return None


def lfsc_bytes(version: int, fields: tuple, levels: bytes, payload: bytes) -> bytes:
    """An .lfsc file of any field values, with a valid checksum over them."""
    layout = "<4sBIQIQIIBB" if version == 2 else "<4sBIQIIBB"
    header = struct.pack(layout, b"LFSC", version, *fields, len(levels)) + levels
    return header + struct.pack("<I", zlib.crc32(header + payload)) + payload


@st.composite
def lengths(draw):
    """(sample rate, samples, source rate, source samples): consistent as the encoder writes them, or anything."""
    if draw(st.booleans()):
        source_rate, sample_rate = draw(SANE_RATES), draw(SANE_RATES)
        source_samples = draw(st.integers(0, 10**6))
        return sample_rate, resampled_length(source_samples, source_rate, sample_rate), source_rate, source_samples
    samples = st.one_of(U64, st.integers(0, 10**6))
    return draw(RATES), draw(samples), draw(RATES), draw(samples)


def check_layout(layout: Layout, payload: bytes) -> None:
    """What an accepted .lfsc header promises: fields within the caps, the payload exactly its size."""
    assert MIN_RATE <= layout.sample_rate <= MAX_RATE and MIN_RATE <= layout.source_rate <= MAX_RATE
    assert 1 <= layout.num_samples <= MAX_SECONDS * layout.sample_rate
    assert resampled_length(layout.source_samples, layout.source_rate, layout.sample_rate) == layout.num_samples
    assert layout.num_frames >= math.ceil(layout.num_samples / layout.samples_per_frame)
    assert len(payload) == layout.payload_bytes and layout.bits_per_frame <= 1024


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_are_an_lfsc_file_or_refused(data):
    for candidate in (data, b"LFSC" + data, b"LFSC\x02" + data, b"LFSC\x01" + data):
        if (result := parsed_or_refused(decode_file, candidate)) is not None:
            check_layout(*result)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([1, 2]), lengths(), st.one_of(U32, st.sampled_from([1, 512, 1024])),
       st.one_of(U32, st.integers(0, 64)), st.one_of(U8, st.sampled_from([1, 8])),
       st.one_of(st.binary(max_size=12), st.sampled_from([bytes([8, 7, 6, 6])])), st.binary(max_size=800))
def test_any_lfsc_header_under_a_valid_checksum_is_sane_or_refused(version, rates, spf, frames, codebooks, levels, payload):
    sample_rate, num_samples, source_rate, source_samples = rates
    if version == 2:
        fields = (sample_rate, num_samples, source_rate, source_samples, spf, frames, codebooks)
    else:
        fields = (sample_rate, num_samples, spf, frames, codebooks)
    result = parsed_or_refused(decode_file, lfsc_bytes(version, fields, levels, payload))
    if result is not None:
        layout, got = result
        check_layout(layout, got)
        tokens = parsed_or_refused(unpack_frames, got, layout.num_frames, layout.num_codebooks, layout.codebook_size)
        assert tokens is None or (tokens.shape == (layout.num_codebooks, layout.num_frames)
                                  and tokens.max(initial=0) < layout.codebook_size)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300), st.sampled_from([(8, 7, 6, 6), (5, 3), (2,)]), st.integers(1, 8), st.data())
def test_a_valid_lfsc_header_with_a_random_body_decodes_or_is_refused(samples, levels, codebooks, data):
    layout = Layout(22050, samples * 97, 1024, math.ceil(samples * 97 / 1024), levels, codebooks, 22050, samples * 97)
    body = data.draw(st.one_of(st.binary(min_size=layout.payload_bytes, max_size=layout.payload_bytes),
                               st.binary(max_size=2 * layout.payload_bytes + 2)))
    result = parsed_or_refused(decode_file, encode_file(layout, body))
    assert (result is None) == (len(body) != layout.payload_bytes)
    if result is not None:
        tokens = parsed_or_refused(unpack_frames, body, layout.num_frames, codebooks, layout.codebook_size)
        assert tokens is None or tokens.shape == (codebooks, layout.num_frames)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([1, 2]), lengths(), st.text(max_size=12), st.binary(max_size=200))
def test_any_payload_container_is_sane_or_refused(raw, version, rates, name, payload):
    for candidate in (raw, PAYLOAD_MAGIC + raw, PAYLOAD_MAGIC + b"\x02" + raw):
        parsed_or_refused(decode_payload_file, candidate)
    sample_rate, num_samples, source_rate, source_samples = rates
    encoded = name.encode()[:255]
    fields = struct.pack("<IQIQ", sample_rate, num_samples, source_rate, source_samples) if version == 2 else \
        struct.pack("<IQ", sample_rate, num_samples)
    head = PAYLOAD_MAGIC + bytes([version, len(encoded)]) + encoded + fields
    item = parsed_or_refused(decode_payload_file, head + struct.pack("<I", zlib.crc32(head + payload)) + payload)
    if item is not None:
        assert MIN_RATE <= item.sample_rate <= MAX_RATE and 1 <= item.num_samples <= MAX_SECONDS * item.sample_rate
        assert resampled_length(item.source_samples, item.source_rate, item.sample_rate) == item.num_samples
        assert item.codec.isascii() and item.codec.isprintable() and "@" not in item.codec
        assert decode_payload_file(encode_payload_file(item)) == item


# -- each codec's payload decoder ------------------------------------------------------------------------------
REFERENCE_CODECS = ["identity", "lowpass-3.5k", "codec2-3200", "codec2-700c", "opus-6k", "opus-nb-12k", "amr-nb-4.75",
                    "amr-nb-12.2"]


def codec_named(name: str):
    return get_codec("opus", bitrate=12000, sample_rate=8000) if name == "opus-nb-12k" else get_codec(name)


def decoded_or_refused(codec, payload: bytes, num_samples: int) -> None:
    """The codec's decode gives exactly `num_samples` finite samples, or refuses with UserError."""
    audio = parsed_or_refused(codec.decode, payload, num_samples)
    assert audio is None or (audio.dtype == np.float32 and len(audio) == num_samples and np.all(np.isfinite(audio)))


@st.composite
def framed_payload(draw, name: str, codec):
    """A payload with the framing `codec.encode` gives (and the right count of packets or frames for its length),
    of random content: what gets past the payload checks into the decoding libraries."""
    num_samples = draw(st.integers(1, 3000))
    if name.startswith("opus"):
        least = -(-num_samples * 50 // codec.sample_rate)
        packets = draw(st.lists(st.binary(min_size=1, max_size=300), min_size=least, max_size=least + 2))
        return b"".join(bytes([len(p)]) if len(p) < 252 else bytes([252 + (len(p) - 252) % 4, (len(p) - 252) // 4])
                        + p for p in packets), num_samples
    if name.startswith("amr"):
        from codec.baselines.pyav_codecs import _AMR_NB_FRAME_BYTES, AMR_NB_DELAY

        least = -(-(num_samples + AMR_NB_DELAY) // 160)
        kinds = draw(st.lists(st.sampled_from(sorted(_AMR_NB_FRAME_BYTES)), min_size=least, max_size=least + 2))
        return b"".join(bytes([kind << 3 | 4]) + draw(st.binary(min_size=_AMR_NB_FRAME_BYTES[kind] - 1,
                                                                max_size=_AMR_NB_FRAME_BYTES[kind] - 1))
                        for kind in kinds), num_samples
    if name.startswith("codec2"):
        size = len(codec.encode(np.zeros(num_samples, np.float32)))
        return draw(st.binary(min_size=size, max_size=size)), num_samples
    return draw(st.binary(min_size=4 * num_samples, max_size=4 * num_samples)), num_samples  # identity and anchors


@pytest.mark.parametrize("name", REFERENCE_CODECS)
def test_each_codecs_decoder_decodes_or_refuses_any_payload(name):
    codec = codec_named(name)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.binary(max_size=2000), st.one_of(st.integers(0, 2**62), st.integers(0, 4000)), st.data())
    def check(payload, num_samples, data):
        decoded_or_refused(codec, payload, num_samples)
        decoded_or_refused(codec, *data.draw(framed_payload(name, codec)))

    check()


def test_the_lfsc_decoder_decodes_or_refuses_any_payload(small_nemo, one_thread):
    codec = get_codec("lfsc", checkpoint=small_nemo, device="cpu")

    @settings(max_examples=25, deadline=None)
    @given(st.integers(1, 6000), st.booleans(), st.data())
    def check(num_samples, exact, data):
        size = len(codec.encode(np.zeros(num_samples, np.float32))) if exact else data.draw(st.integers(0, 200))
        decoded_or_refused(codec, data.draw(st.binary(min_size=size, max_size=size)), num_samples)

    check()


def test_a_hostile_identity_payload_is_refused_not_written_as_noise():
    """NaN and infinite float samples are damage (written, they became full-scale samples), refused by name."""
    codec = get_codec("identity")
    with pytest.raises(UserError, match="2 NaN or infinite samples"):
        codec.decode(np.array([0.1, np.nan, np.inf], np.float32).tobytes(), 3)
    assert codec.decode(np.array([0.1, -2.0], np.float32).tobytes(), 2).tolist() == pytest.approx([0.1, -2.0])
    with pytest.raises(UserError, match="8 bytes, not the 12"):
        codec.decode(bytes(8), 3)
