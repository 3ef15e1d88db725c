"""What an audio file's container promises, checked against what the file holds, so that a file cut off or damaged
is refused instead of read as a shorter one: libsndfile quietly reads a WAV, AIFF or AU file whose data chunk
runs past the end of the file as far as it goes (reporting the shorter length as the file's), and libogg skips
Ogg pages whose checksum fails (and calls a file cut off in its middle empty)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import BinaryIO

from codec.errors import UserError

_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # what writers that stream (or crashed) leave in a size field: no promise
_BIT_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def check_ogg(path: Path) -> None:
    """Raise a UserError if an Ogg file holds a damaged page (checksum, framing or a missing page) or ends inside
    a page, saying how much before it is intact."""
    size = path.stat().st_size
    next_page: dict[int, int] = {}  # each logical stream's next page sequence number
    granule, rate = 0, None
    with open(path, "rb") as f:
        at = 0
        while at < size:
            header = f.read(27)
            lacing = f.read(header[26]) if len(header) == 27 else b""
            body = f.read(sum(lacing))
            problem = ""
            if len(header) == 27 and header[:4] != b"OggS":
                problem = "no Ogg page starts"
            elif len(header) < 27 or len(lacing) < header[26] or len(body) < sum(lacing):
                problem = "the file ends inside the page that starts"
            if not problem:
                (crc,) = struct.unpack_from("<I", header, 22)
                if _ogg_crc(header[:22] + bytes(4) + header[26:] + lacing + body) != crc:
                    problem = "the checksum fails of the page"
            if not problem:
                serial, sequence = struct.unpack_from("<II", header, 14)
                if next_page.setdefault(serial, sequence) != sequence:
                    problem = "pages are missing or out of order before the page"
                next_page[serial] = sequence + 1
            if problem:
                intact = f" (the first {granule / rate:.2f} s are intact)" if rate else ""
                raise UserError(f"{path}: cut off or damaged: {problem} at byte {at} of {size}{intact}; re-export it")
            rate = rate or _granule_rate(body)
            (position,) = struct.unpack_from("<q", header, 6)
            granule = position if position >= 0 else granule  # -1: no packet ends on this page
            at += 27 + len(lacing) + len(body)


def _ogg_crc(page: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04C11DB7, most significant bit first, no inversions), through zlib's reflected
    one: the same CRC of the bit-reversed bytes, bit-reversed, less zlib's inversions (its CRC of as many zeros)."""
    reflected = zlib.crc32(page.translate(_BIT_REVERSED)) ^ zlib.crc32(bytes(len(page)))
    return int(f"{reflected:032b}"[::-1], 2)


def _granule_rate(first_packet: bytes) -> int | None:
    """Granule positions per second, from a Vorbis or Opus identification header; None for anything else."""
    if first_packet[:7] == b"\x01vorbis" and len(first_packet) >= 16:
        return int.from_bytes(first_packet[12:16], "little") or None
    if first_packet[:8] == b"OpusHead":
        return 48000  # Opus counts granules at 48 kHz whatever the input's rate (RFC 7845 4)
    return None


def check_data_size(path: Path, frames: int, seconds: float) -> None:
    """Raise a UserError if a WAV (RIFF, RIFX, RF64, Wave64), AIFF or AU header promises more audio data than the
    file holds, by a block (a frame, for PCM) or more; `frames` and `seconds` are what libsndfile found there."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        found = _data_chunk(f, size)
    if found is None:
        return
    promised, start, block = found
    held = max(0, size - start)
    if frames <= 0 or held == 0:
        if promised > held:
            raise UserError(f"{path}: cut off: its header promises {promised} bytes of audio but the file holds none; "
                            "re-export it")
        return
    if promised - held >= (block or held / frames):  # less than a block short: a writer's rounding, not a cut
        raise UserError(f"{path}: cut off: its header promises {seconds * promised / held:.2f} s of audio but the file "
                        f"holds only {seconds:.2f} s; re-export it (or repair its header, e.g. with ffmpeg or sox, to "
                        f"use the {seconds:.2f} s that are there)")


_W64_RIFF = b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00"


def _data_chunk(f: BinaryIO, size: int) -> tuple[int, int, int] | None:
    """(promised bytes, offset, bytes a block: 0 where not given) of the audio data a header gives; None where it
    gives no size, or is no WAV, Wave64, AIFF or AU header."""
    head = f.read(16)
    if head[:4] == b".snd" and len(head) >= 12:
        start, promised = struct.unpack_from(">II", head, 4)
        return None if promised in _UNKNOWN_SIZES else (promised, start, 0)
    if head == _W64_RIFF:  # 16-byte chunk names, 64-bit sizes that count the 24-byte chunk header, 8-byte padding
        layout, at, data, skip = ("<16sQ", 24, 8), 40, b"data", 0
    elif head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        layout, at, data, skip = ((">" if head[:4] == b"RIFX" else "<") + "4sI", 0, 2), 12, b"data", 0
    elif head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        layout, at, data, skip = (">4sI", 0, 2), 12, b"SSND", 8  # sound data: its offset and block size come first
    else:
        return None
    chunk, counted, align = struct.Struct(layout[0]), layout[1], layout[2]
    block, wide = 0, None  # wide: an RF64 file's 64-bit data size (its ds64 chunk)
    while at + chunk.size <= size:
        f.seek(at)
        name, length = chunk.unpack(f.read(chunk.size))
        length -= counted
        fields = f.read(16)
        if name[:4] == b"fmt " and len(fields) >= 14:
            block = int.from_bytes(fields[12:14], "little" if layout[0][0] == "<" else "big")
        if name[:4] == b"ds64" and len(fields) == 16:
            wide = int.from_bytes(fields[8:16], "little")
        if name[:4] == data:
            if length == 0xFFFFFFFF and wide is not None:
                length = wide
            if length in _UNKNOWN_SIZES or length < skip or len(fields) < skip:
                return None
            offset = int.from_bytes(fields[:4], "big") if skip else 0
            return length - skip - offset, at + chunk.size + skip + offset, block
        if length < 0:
            return None
        at += chunk.size + length + (-length % align)
    return None
