"""The .lfsc bitstream: exact round trip, the 88-bit frame, damage detection."""

import numpy as np
import pytest

from codec.bitstream import Layout, decode_file, encode_file, pack_frames, unpack_frames
from codec.errors import UserError

LAYOUT = Layout(22050, 100_000, 1024, 98, (8, 7, 6, 6), 8, 44100, 200_000)


def test_lfsc_frames_take_88_bits_and_the_payload_rate_is_exact():
    assert LAYOUT.codebook_size == 2016
    assert 2016**8 < 2**88 <= 2016**8 * 2
    assert LAYOUT.bits_per_frame == 88
    assert LAYOUT.payload_bitrate == pytest.approx(88 * 22050 / 1024, abs=1e-9)
    assert round(LAYOUT.payload_bitrate, 1) == 1894.9


@pytest.mark.parametrize("codebook_size,codebooks,frames", [(2016, 8, 98), (7, 3, 13), (2, 1, 9), (1000, 2, 0)])
def test_round_trip_is_bit_exact_on_random_tokens(codebook_size, codebooks, frames):
    tokens = np.random.default_rng(frames).integers(0, codebook_size, (codebooks, frames))
    tokens[:, :1] = codebook_size - 1  # extremes included
    payload = pack_frames(tokens, codebook_size)
    bits = (codebook_size**codebooks - 1).bit_length()
    assert len(payload) == (frames * bits + 7) // 8
    assert np.array_equal(unpack_frames(payload, frames, codebooks, codebook_size), tokens)


def test_file_round_trip_and_damage_is_detected():
    tokens = np.random.default_rng(0).integers(0, 2016, (8, 98))
    data = encode_file(LAYOUT, pack_frames(tokens, 2016))
    layout, payload = decode_file(data)
    assert layout == LAYOUT
    assert np.array_equal(unpack_frames(payload, 98, 8, 2016), tokens)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    with pytest.raises(UserError, match="damaged"):
        decode_file(bytes(flipped))
    with pytest.raises(UserError, match="truncated"):
        decode_file(data[:-5])
    with pytest.raises(UserError, match="bad magic"):
        decode_file(b"RIFF" + data[4:])


def test_out_of_range_frame_values_are_refused():
    bits = 88
    payload = ((2016**8) << (8 * 11 - bits)).to_bytes(11, "big")  # the first impossible value
    with pytest.raises(UserError, match="impossible value"):
        unpack_frames(payload, 1, 8, 2016)
