"""The `.lfsc` file: a small versioned header and token frames packed in mixed radix into the fewest whole bits.

Layout (little-endian), version 2:
    magic "LFSC" | version u8 | sample_rate u32 | num_samples u64 | source_rate u32 | source_samples u64
    | samples_per_frame u32 | num_frames u32 | num_codebooks u8 | dims per codebook u8 | levels u8 x dims
    | crc32 u32 | payload
sample_rate and num_samples describe the audio at the codec's rate; source_rate and source_samples the input before
it was resampled, so that decoding gives back the input's rate and exact length. Version 1 files (no source fields)
are still read. The CRC covers the header fields before it and the payload. Each frame's codebook indices i_0..i_{G-1}
(each < K = codebook size) form one number sum(i_g K^g) < K^G, written in ceil(log2(K^G)) bits
(LFSC: 2016^8 < 2^88, so 88 bits a frame); frames follow each other with no byte alignment, most
significant bit first, and the last byte is zero-padded.

Version 3 holds the tokens of a codec named by its model's path (nemo:PATH, hf:MODEL) and names that model: as
version 2 up to dims, then levels u32 x dims (a codebook that is not FSQ is one level of its size) | codec name
length u8 | codec name ('nemo', 'hf': the name without its path) | model u8 x 8 (the first 8 bytes of the model's
sha256) | crc32 u32 | payload. LFSC's own files (the codec lfsc, its model the configured checkpoint) stay version 2.
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from codec.errors import UserError

MAGIC = b"LFSC"
VERSION = 2  # LFSC's own files
MODEL_VERSION = 3  # the tokens of a codec named by its model's path
MODEL_CODECS = ("nemo", "hf")  # the registry's prefixes without their colon (codec.registry.PREFIXED; a test checks)
MODEL_ID_BYTES = 8
# Limits on what a coded file may claim, far beyond any real codec, so that a damaged or hostile header is refused
# before it sizes anything: a 531-byte file must not ask for hours of audio or a 2^200-code frame.
MAX_SECONDS = 24 * 3600
MAX_SAMPLES_PER_FRAME = 2**16
MAX_DIMENSIONS = 8  # FSQ levels per codebook (LFSC: 4)
MAX_CODEBOOKS = 64
MAX_CODEBOOK_SIZE = 2**16  # codes fit int32 tokens, and a frame at most 1024 bits
MAX_PADDING_FRAMES = 16  # a clip shorter than a codec's minimum is coded as that many frames at most (LFSC: 4)
_FIXED = {1: struct.Struct("<4sBIQIIBB"), 2: struct.Struct("<4sBIQIQIIBB"), 3: struct.Struct("<4sBIQIQIIBB")}
_LEVEL = {1: "B", 2: "B", 3: "I"}  # a level's struct code: version 3 holds a codebook of any size as one level


def frame_bits(codebook_size: int, num_codebooks: int) -> int:
    """Fewest whole bits that hold any frame of `num_codebooks` codes below `codebook_size` (LFSC: 88)."""
    return (codebook_size**num_codebooks - 1).bit_length()


@dataclass(frozen=True)
class Model:
    """The model whose tokens a version 3 file holds: its codec's name without the path ('nemo', 'hf') and the first
    16 hex digits of the model's sha256 (`Codec.model_sha256`)."""

    codec: str
    sha256: str


@dataclass(frozen=True)
class Layout:
    """What the decoder needs besides the payload: rates, lengths and the codebook structure."""

    sample_rate: int
    num_samples: int
    samples_per_frame: int
    num_frames: int
    levels: tuple[int, ...]  # FSQ levels of each codebook, e.g. (8, 7, 6, 6); (codebook size,) for one not FSQ
    num_codebooks: int
    source_rate: int  # the input's rate and length, before resampling to sample_rate
    source_samples: int
    model: Model | None = None  # None for LFSC's own tokens (versions 1 and 2), decoded by the configured checkpoint

    @property
    def codebook_size(self) -> int:
        """Codes per codebook (product of the levels)."""
        return math.prod(self.levels)

    @property
    def bits_per_frame(self) -> int:
        """Fewest whole bits that hold every frame: ceil(log2(codebook_size ** num_codebooks))."""
        return frame_bits(self.codebook_size, self.num_codebooks)

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
    bits = frame_bits(codebook_size, num_codebooks)
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
    bits = frame_bits(codebook_size, num_codebooks)
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
    """Header + payload as the bytes of a .lfsc file: version 2 for LFSC's own tokens, 3 for a named model's."""
    version = VERSION if layout.model is None else MODEL_VERSION
    header = _FIXED[version].pack(
        MAGIC, version, layout.sample_rate, layout.num_samples, layout.source_rate, layout.source_samples,
        layout.samples_per_frame, layout.num_frames, layout.num_codebooks, len(layout.levels),
    ) + struct.pack(f"<{len(layout.levels)}{_LEVEL[version]}", *layout.levels)
    if layout.model is not None:
        codec = layout.model.codec.encode("ascii")
        header += bytes([len(codec)]) + codec + bytes.fromhex(layout.model.sha256)
    return header + struct.pack("<I", zlib.crc32(header + payload)) + payload


def decode_file(data: bytes, name: str = "bitstream") -> tuple[Layout, bytes]:
    """Parse and verify a .lfsc file; damaged, truncated or inconsistent input raises UserError, never yields
    garbage or asks for more memory than the file's own size implies."""
    if len(data) < 5 or data[:4] != MAGIC:
        raise UserError(f"{name}: not an .lfsc bitstream (bad magic)")
    version = data[4]
    fixed = _FIXED.get(version)
    if fixed is None:
        raise UserError(f"{name}: .lfsc version {version} is not supported (this tool reads versions 1 to 3)")
    if len(data) < fixed.size:
        raise UserError(f"{name}: truncated .lfsc header")
    if version == 1:  # before the source fields: the input was at the codec's rate
        _, _, sr, num_samples, spf, num_frames, num_codebooks, dims = fixed.unpack_from(data)
        source_rate, source_samples = sr, num_samples
    else:
        _, _, sr, num_samples, source_rate, source_samples, spf, num_frames, num_codebooks, dims = fixed.unpack_from(data)
    levels = struct.Struct(f"<{dims}{_LEVEL[version]}")
    model, header_len = _model_field(data, fixed.size + levels.size, version, name)
    if len(data) < header_len + 4:
        raise UserError(f"{name}: truncated .lfsc header")
    (crc,) = struct.unpack_from("<I", data, header_len)
    payload = data[header_len + 4:]
    if zlib.crc32(data[:header_len] + payload) != crc:
        raise UserError(f"{name}: checksum mismatch: the file is damaged or truncated")
    layout = Layout(sr, num_samples, spf, num_frames, levels.unpack_from(data, fixed.size), num_codebooks, source_rate,
                    source_samples, model)
    problem = _layout_problem(layout)  # past the checksum: what a writer meant, checked before it sizes anything
    if problem:
        raise UserError(f"{name}: inconsistent .lfsc header ({problem}): the file is damaged or was not written by "
                        "lfsc-codec")
    if len(payload) != layout.payload_bytes:
        raise UserError(f"{name}: payload is {len(payload)} bytes, the header says {layout.payload_bytes}: damaged")
    return layout, payload


def _model_field(data: bytes, start: int, version: int, name: str) -> tuple[Model | None, int]:
    """A version 3 header's model, read from `start`, and where the header ends (`start` itself before version 3)."""
    if version < MODEL_VERSION:
        return None, start
    if len(data) <= start:
        raise UserError(f"{name}: truncated .lfsc header")
    end = start + 1 + data[start]
    if len(data) < end + MODEL_ID_BYTES:
        raise UserError(f"{name}: truncated .lfsc header")
    codec = data[start + 1:end].decode("ascii", errors="replace")
    return Model(codec, data[end:end + MODEL_ID_BYTES].hex()), end + MODEL_ID_BYTES


def _layout_problem(layout: Layout) -> str:
    """What is wrong with an .lfsc header's fields ('' when nothing), each within its cap and consistent."""
    problem = _lengths_problem(layout.sample_rate, layout.num_samples, layout.source_rate, layout.source_samples)
    if problem:
        return problem
    spf, levels = layout.samples_per_frame, layout.levels
    if not 1 <= spf <= MAX_SAMPLES_PER_FRAME:
        return f"{spf} samples per frame (at most {MAX_SAMPLES_PER_FRAME})"
    if not (1 <= len(levels) <= MAX_DIMENSIONS and all(level >= 2 for level in levels)):
        return f"codebook levels {list(levels)} (1 to {MAX_DIMENSIONS} levels of 2 or more)"
    if not (1 <= layout.num_codebooks <= MAX_CODEBOOKS and layout.codebook_size <= MAX_CODEBOOK_SIZE):
        return (f"{layout.num_codebooks} codebooks of {layout.codebook_size} codes (at most {MAX_CODEBOOKS} of "
                f"{MAX_CODEBOOK_SIZE})")
    whole = -(-layout.num_samples // spf)  # frames that hold the samples; a clip below a codec's minimum gets more
    if not (layout.num_frames == whole or whole < layout.num_frames <= MAX_PADDING_FRAMES):
        return f"{layout.num_frames} frames for {layout.num_samples} samples of {spf}"
    if layout.model is not None and layout.model.codec not in MODEL_CODECS:
        return f"codec {layout.model.codec!r}, not one of {', '.join(MODEL_CODECS)}"
    return ""


def _lengths_problem(sample_rate: int, num_samples: int, source_rate: int, source_samples: int) -> str:
    """What is wrong with a coded file's rates and lengths ('' when nothing): rates within MIN_RATE..MAX_RATE,
    at least one sample and at most MAX_SECONDS, and the length at the codec's rate the one that resampling the
    input's gives (as the encoder wrote it)."""
    from codec.audio import MAX_RATE, MIN_RATE, resampled_length

    for rate, samples in ((sample_rate, num_samples), (source_rate, source_samples)):
        if not MIN_RATE <= rate <= MAX_RATE:
            return f"sample rate {rate} Hz, outside {MIN_RATE}..{MAX_RATE} Hz"
        if not 1 <= samples <= MAX_SECONDS * rate:
            return f"{samples} samples at {rate} Hz (1 to {MAX_SECONDS // 3600} h)"
    if resampled_length(source_samples, source_rate, sample_rate) != num_samples:
        return f"{num_samples} samples at {sample_rate} Hz from {source_samples} at {source_rate} Hz"
    return ""


# -- other codecs' payloads ----------------------------------------------------------------------------------
# A registered codec other than LFSC stores its payload in this minimal container so `lfsc-codec decode`
# knows which codec to run. Version 2: magic "LWBP" | version u8 | name length u8 | name | sample_rate u32
# | num_samples u64 | source_rate u32 | source_samples u64 | crc32 u32 (of everything before it and the payload)
# | payload; version 1 (no source fields) is still read.
PAYLOAD_MAGIC = b"LWBP"
_CODEC_NAME = re.compile(r"[a-z0-9][a-z0-9.+-]*")  # a registered codec's name; input conditions are never coded
_PAYLOAD_FIXED = {1: struct.Struct("<IQ"), 2: struct.Struct("<IQIQ")}


@dataclass(frozen=True)
class PayloadFile:
    """A codec's payload with what decoding it needs: the codec, its rate and length, and the input's."""

    codec: str
    sample_rate: int
    num_samples: int
    source_rate: int
    source_samples: int
    payload: bytes


def encode_payload_file(item: PayloadFile) -> bytes:
    """The bytes of a payload container."""
    name = item.codec.encode()
    fields = _PAYLOAD_FIXED[VERSION].pack(item.sample_rate, item.num_samples, item.source_rate, item.source_samples)
    head = PAYLOAD_MAGIC + bytes([VERSION, len(name)]) + name + fields
    return head + struct.pack("<I", zlib.crc32(head + item.payload)) + item.payload


def decode_payload_file(data: bytes, name: str = "payload") -> PayloadFile:
    """A payload container read and verified; damage or inconsistent fields raise UserError. The payload itself is
    checked by its codec (`Codec.payload_problem`)."""
    if len(data) < 6 or data[:4] != PAYLOAD_MAGIC:
        raise UserError(f"{name}: not a codec payload file (bad magic)")
    fixed = _PAYLOAD_FIXED.get(data[4])
    if fixed is None:
        raise UserError(f"{name}: payload container version {data[4]} is not supported (this tool reads 1 and 2)")
    end = 6 + data[5]
    if len(data) < end + fixed.size + 4:
        raise UserError(f"{name}: truncated payload file")
    fields = fixed.unpack_from(data, end)
    sample_rate, num_samples, source_rate, source_samples = fields if len(fields) == 4 else fields + fields
    (crc,) = struct.unpack_from("<I", data, end + fixed.size)
    payload = data[end + fixed.size + 4:]
    if zlib.crc32(data[: end + fixed.size] + payload) != crc:
        raise UserError(f"{name}: checksum mismatch: the file is damaged or truncated")
    problem = _lengths_problem(sample_rate, num_samples, source_rate, source_samples)
    codec = data[6:end].decode("ascii", errors="replace")
    if not problem and not _CODEC_NAME.fullmatch(codec):
        problem = f"codec name {codec!r}"
    if problem:
        raise UserError(f"{name}: inconsistent payload header ({problem}): the file is damaged or was not written by "
                        "lfsc-codec")
    return PayloadFile(codec, sample_rate, num_samples, source_rate, source_samples, payload)
