"""The `.lfsc` file: a small versioned header and token frames packed in mixed radix into the fewest whole bits.

Layout (little-endian):
    magic "LFSC" | version u8 | sample_rate u32 | num_samples u64 | samples_per_frame u32 | num_frames u32
    | num_codebooks u8 | dims per codebook u8 | levels u8 x dims | crc32 u32 | payload
The CRC covers the header fields before it and the payload. Each frame's codebook indices i_0..i_{G-1}
(each < K = codebook size) form one number sum(i_g K^g) < K^G, written in ceil(log2(K^G)) bits
(LFSC: 2016^8 < 2^88, so 88 bits a frame); frames follow each other with no byte alignment, most
significant bit first, and the last byte is zero-padded.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codec.errors import UserError

MAGIC = b"LFSC"
VERSION = 1
_FIXED = struct.Struct("<4sBIQIIBB")


@dataclass(frozen=True)
class Layout:
    """What the decoder needs besides the payload: rates, lengths and the codebook structure."""

    sample_rate: int
    num_samples: int
    samples_per_frame: int
    num_frames: int
    levels: tuple[int, ...]  # FSQ levels of each codebook, e.g. (8, 7, 6, 6)
    num_codebooks: int

    @property
    def codebook_size(self) -> int:
        """Codes per codebook (product of the levels)."""
        return math.prod(self.levels)

    @property
    def bits_per_frame(self) -> int:
        """Fewest whole bits that hold every frame: ceil(log2(codebook_size ** num_codebooks))."""
        return (self.codebook_size**self.num_codebooks - 1).bit_length()

    @property
    def payload_bytes(self) -> int:
        """Size of the packed frames in bytes."""
        return (self.num_frames * self.bits_per_frame + 7) // 8

    @property
    def payload_bitrate(self) -> float:
        """Bits per second carried by the frames alone (LFSC: 88 * 22050 / 1024 = 1894.9)."""
        return self.bits_per_frame * self.sample_rate / self.samples_per_frame


def pack_frames(tokens: np.ndarray, codebook_size: int) -> bytes:
    """Pack int tokens [num_codebooks, num_frames] into the mixed-radix bit stream."""
    tokens = np.asarray(tokens, dtype=np.int64)
    if tokens.size and (tokens.min() < 0 or tokens.max() >= codebook_size):
        raise ValueError(f"token outside [0, {codebook_size})")
    num_codebooks, num_frames = tokens.shape
    bits = (codebook_size**num_codebooks - 1).bit_length()
    weights = [codebook_size**g for g in range(num_codebooks)]
    acc, acc_bits, out = 0, 0, bytearray()
    for frame in tokens.T.tolist():
        acc = (acc << bits) | sum(i * w for i, w in zip(frame, weights))
        acc_bits += bits
        whole = acc_bits // 8
        if whole:
            acc_bits -= 8 * whole
            out += (acc >> acc_bits).to_bytes(whole, "big")
            acc &= (1 << acc_bits) - 1
    if acc_bits:
        out += (acc << (8 - acc_bits)).to_bytes(1, "big")
    return bytes(out)


def unpack_frames(payload: bytes, num_frames: int, num_codebooks: int, codebook_size: int) -> np.ndarray:
    """Inverse of pack_frames; a frame whose number is out of range means the data is damaged."""
    bits = (codebook_size**num_codebooks - 1).bit_length()
    if len(payload) != (num_frames * bits + 7) // 8:
        raise UserError(f"bitstream payload is {len(payload)} bytes, expected {(num_frames * bits + 7) // 8}: truncated or damaged")
    limit = codebook_size**num_codebooks
    tokens = np.empty((num_codebooks, num_frames), dtype=np.int32)
    acc, acc_bits, pos = 0, 0, 0
    for t in range(num_frames):
        need = (bits - acc_bits + 7) // 8
        acc = (acc << (8 * need)) | int.from_bytes(payload[pos:pos + need], "big")
        pos += need
        acc_bits += 8 * need - bits
        value = acc >> acc_bits
        acc &= (1 << acc_bits) - 1
        if value >= limit:
            raise UserError(f"bitstream frame {t} holds an impossible value: the file is damaged")
        for g in range(num_codebooks):
            value, tokens[g, t] = divmod(value, codebook_size)
    return tokens


def encode_file(layout: Layout, payload: bytes) -> bytes:
    """Header + payload as the bytes of a .lfsc file."""
    header = _FIXED.pack(
        MAGIC, VERSION, layout.sample_rate, layout.num_samples, layout.samples_per_frame, layout.num_frames,
        layout.num_codebooks, len(layout.levels),
    ) + bytes(layout.levels)
    return header + struct.pack("<I", zlib.crc32(header + payload)) + payload


def decode_file(data: bytes, name: str = "bitstream") -> tuple[Layout, bytes]:
    """Parse and verify a .lfsc file; damaged or truncated input raises UserError, never yields garbage."""
    if len(data) < _FIXED.size or data[:4] != MAGIC:
        raise UserError(f"{name}: not an .lfsc bitstream (bad magic)")
    magic, version, sr, num_samples, spf, num_frames, num_codebooks, dims = _FIXED.unpack_from(data)
    if version != VERSION:
        raise UserError(f"{name}: .lfsc version {version} is not supported (this tool reads version {VERSION})")
    header_len = _FIXED.size + dims
    if len(data) < header_len + 4:
        raise UserError(f"{name}: truncated .lfsc header")
    layout = Layout(sr, num_samples, spf, num_frames, tuple(data[_FIXED.size:header_len]), num_codebooks)
    (crc,) = struct.unpack_from("<I", data, header_len)
    payload = data[header_len + 4:]
    if len(payload) != layout.payload_bytes:
        raise UserError(f"{name}: payload is {len(payload)} bytes, the header says {layout.payload_bytes}: truncated or damaged")
    if zlib.crc32(data[:header_len] + payload) != crc:
        raise UserError(f"{name}: checksum mismatch: the file is damaged")
    if sr <= 0 or spf <= 0 or 0 in layout.levels or num_samples > num_frames * spf:
        raise UserError(f"{name}: inconsistent .lfsc header")
    return layout, payload


def write_lfsc(path: str | Path, layout: Layout, tokens: np.ndarray) -> int:
    """Write tokens [num_codebooks, num_frames] as a .lfsc file; returns its size in bytes."""
    data = encode_file(layout, pack_frames(tokens, layout.codebook_size))
    Path(path).write_bytes(data)
    return len(data)


def read_lfsc(path: str | Path) -> tuple[Layout, np.ndarray]:
    """Read a .lfsc file into its layout and int32 tokens [num_codebooks, num_frames]."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    layout, payload = decode_file(path.read_bytes(), str(path))
    return layout, unpack_frames(payload, layout.num_frames, layout.num_codebooks, layout.codebook_size)


# -- other codecs' payloads ----------------------------------------------------------------------------------
# A registered codec other than LFSC stores its payload in this minimal container so `lfsc-codec decode`
# knows which codec to run: magic "LWBP" | version u8 | name length u8 | name | sample_rate u32
# | num_samples u64 | crc32 u32 (of everything before it and the payload) | payload.
PAYLOAD_MAGIC = b"LWBP"
_PAYLOAD_FIXED = struct.Struct("<IQ")


def encode_payload_file(codec_name: str, sample_rate: int, num_samples: int, payload: bytes) -> bytes:
    """Wrap a codec's payload with the codec name and the clip length."""
    name = codec_name.encode()
    head = PAYLOAD_MAGIC + bytes([VERSION, len(name)]) + name + _PAYLOAD_FIXED.pack(sample_rate, num_samples)
    return head + struct.pack("<I", zlib.crc32(head + payload)) + payload


def decode_payload_file(data: bytes, name: str = "payload") -> tuple[str, int, int, bytes]:
    """(codec name, sample rate, num_samples, payload) from a container; damage raises UserError."""
    if len(data) < 6 or data[:4] != PAYLOAD_MAGIC:
        raise UserError(f"{name}: not a codec payload file (bad magic)")
    if data[4] != VERSION:
        raise UserError(f"{name}: payload container version {data[4]} is not supported")
    end = 6 + data[5]
    if len(data) < end + _PAYLOAD_FIXED.size + 4:
        raise UserError(f"{name}: truncated payload file")
    sample_rate, num_samples = _PAYLOAD_FIXED.unpack_from(data, end)
    (crc,) = struct.unpack_from("<I", data, end + _PAYLOAD_FIXED.size)
    payload = data[end + _PAYLOAD_FIXED.size + 4:]
    if zlib.crc32(data[: end + _PAYLOAD_FIXED.size] + payload) != crc:
        raise UserError(f"{name}: checksum mismatch: the file is damaged or truncated")
    if sample_rate <= 0 or num_samples <= 0:
        raise UserError(f"{name}: inconsistent payload header (sample rate {sample_rate}, {num_samples} samples)")
    return data[6:end].decode(errors="replace"), sample_rate, num_samples, payload
