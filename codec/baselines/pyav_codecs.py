"""Opus and AMR-NB through PyAV, whose wheels bundle FFmpeg with libopus and libopencore-amrnb."""

from __future__ import annotations

import fractions
from functools import cache

import numpy as np

from codec.audio import resample
from codec.baselines.pcm import delay_compensated, from_int16, to_int16
from codec.errors import UserError
from codec.registry import Codec

OPUS_RATES = (8000, 16000)
OPUS_BITRATE_RANGE = (6000, 510000)
OPUS_DECODED_RATE = 48000  # libopus in FFmpeg always decodes at 48 kHz
# libopus's encoder look-ahead, 6.5 ms at 48 kHz, for every rate and bitrate (RFC 7845 4.2); the decoder drops it.
OPUS_PRE_SKIP = 312

# Opus's own delay (the encoder's pre-skip) is removed by the decoder. What remains, measured by
# cross-correlation on real speech at 48 kHz: wideband SILK comes out about 3 samples (1 at 16 kHz) early;
# narrowband SILK and CELT stay within 1 sample at their input rate without a correction.
OPUS_WIDEBAND_SILK_LEAD = 3  # samples at 48 kHz
_OPUS_SILK_WB_CONFIGS = range(8, 12)  # TOC configurations 8-11: SILK-only wideband (RFC 6716 3.1)

AMR_NB_BITRATES = (4750, 5150, 5900, 6700, 7400, 7950, 10200, 12200)
# Encoder-to-decoder delay at 8 kHz (the 5 ms look-ahead less the pre-processing filter's lag), measured by
# cross-correlation on real speech.
AMR_NB_DELAY = 39
# Bytes per frame including the one-byte table-of-contents header (RFC 4867 5.3 storage format), by the
# frame type in bits 3-6 of that header.
_AMR_NB_FRAME_BYTES = {0: 13, 1: 14, 2: 16, 3: 18, 4: 20, 5: 21, 6: 27, 7: 32, 8: 6, 15: 1}


@cache
def missing_ffmpeg_codec(name: str) -> str:
    """Why PyAV's FFmpeg cannot encode and decode with `name` here, or '' when it can."""
    import av

    if name not in av.codecs_available:
        return f"this PyAV build has no '{name}' codec (install the PyAV wheel from PyPI: pip install av)"
    return ""


def _encode_packets(
    encoder: str, pcm: np.ndarray, sample_rate: int, bit_rate: int, options: dict
) -> tuple[list[bytes], bytes | None]:
    """Encode int16 mono PCM frame by frame with an FFmpeg encoder, flushing it; returns packets and extradata."""
    import av

    context = av.CodecContext.create(encoder, "w")
    context.sample_rate = sample_rate
    context.layout = "mono"
    context.format = "s16"
    context.bit_rate = bit_rate
    context.time_base = fractions.Fraction(1, sample_rate)
    context.options = options
    context.open()
    size = context.frame_size
    pcm = np.pad(pcm, (0, -len(pcm) % size))
    packets = []
    for start in range(0, len(pcm), size):
        frame = av.AudioFrame.from_ndarray(pcm[None, start : start + size], format="s16", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = start
        packets += context.encode(frame)
    packets += context.encode(None)
    return [bytes(packet) for packet in packets], context.extradata


def _decode_packets(decoder: str, packets: list[bytes], sample_rate: int, extradata: bytes | None = None):
    """Decode packets with an FFmpeg decoder, flushing it; returns float32 mono audio and its rate."""
    import av

    context = av.CodecContext.create(decoder, "r")
    context.sample_rate = sample_rate
    context.layout = "mono"
    if extradata is not None:
        context.extradata = extradata
    chunks, rate = [], sample_rate
    for packet in [av.Packet(data) for data in packets] + [None]:
        for frame in context.decode(packet):
            samples = frame.to_ndarray().reshape(-1)
            chunks.append(from_int16(samples) if samples.dtype == np.int16 else samples.astype(np.float32))
            rate = frame.sample_rate
    return (np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)), rate


def _opus_head(sample_rate: int, pre_skip: int) -> bytes:
    """The OpusHead the decoder needs for the pre-skip (RFC 7845 5.1), rebuilt instead of stored per payload."""
    return b"OpusHead" + bytes([1, 1]) + pre_skip.to_bytes(2, "little") + sample_rate.to_bytes(4, "little") + bytes(3)


class Opus(Codec):
    """Opus, VoIP application, 20 ms frames, VBR. The payload is the packets, each after its length in Opus's own
    one- or two-byte length code (RFC 6716 3.2.1), so the measured bitrate includes that framing (0.4 kbit/s)."""

    def __init__(self, bitrate: float = 12000, sample_rate: int = 16000):
        low, high = OPUS_BITRATE_RANGE
        if not low <= bitrate <= high:
            raise UserError(f"Opus bitrate {bitrate:g} bit/s is out of range: use {low} to {high} bit/s")
        if sample_rate not in OPUS_RATES:
            raise UserError(f"Opus sample_rate {sample_rate} is not supported here: use one of {OPUS_RATES}")
        self.bitrate = int(bitrate)
        self.sample_rate = int(sample_rate)
        self.nominal_bitrate = float(self.bitrate)
        suffix = "" if sample_rate == 16000 else "-nb"
        self.name = f"opus{suffix}-{self.bitrate / 1000:g}k"

    def encode(self, audio: np.ndarray) -> bytes:
        """Encode 20 ms frames and frame the packets by their lengths."""
        options = {"application": "voip", "frame_duration": "20", "vbr": "on"}
        packets, _ = _encode_packets("libopus", to_int16(audio), self.sample_rate, self.bitrate, options)
        return b"".join(_opus_length(len(packet)) + packet for packet in packets)

    def decode(self, payload: bytes, num_samples: int) -> np.ndarray:
        """Decode at 48 kHz, remove the residual delay there, and resample to the native rate."""
        packets = _split_opus_packets(payload)
        head = _opus_head(self.sample_rate, OPUS_PRE_SKIP)
        decoded, rate = _decode_packets("libopus", packets, OPUS_DECODED_RATE, extradata=head)
        if _mostly_wideband_silk(packets):
            decoded = np.concatenate([np.zeros(OPUS_WIDEBAND_SILK_LEAD, dtype=np.float32), decoded])
        return delay_compensated(resample(decoded, rate, self.sample_rate), 0, num_samples)


def _opus_length(size: int) -> bytes:
    """Opus's length code: one byte below 252, else two (RFC 6716 3.2.1)."""
    if size < 252:
        return bytes([size])
    return bytes([252 + (size - 252) % 4, (size - 252 - (size - 252) % 4) // 4])


def _split_opus_packets(payload: bytes) -> list[bytes]:
    """Undo the length framing of `Opus.encode`."""
    packets, at = [], 0
    while at < len(payload):
        size, at = payload[at], at + 1
        if size >= 252 and at < len(payload):
            size, at = size + 4 * payload[at], at + 1
        if at + size > len(payload):
            raise UserError("the Opus payload is damaged: a packet runs past its end")
        packets.append(payload[at : at + size])
        at += size
    return packets


def _mostly_wideband_silk(packets: list[bytes]) -> bool:
    """Whether most packets are SILK-only wideband, by their TOC byte."""
    wideband = sum(1 for packet in packets if packet and packet[0] >> 3 in _OPUS_SILK_WB_CONFIGS)
    return 2 * wideband > len(packets)


class AmrNb(Codec):
    """AMR-NB (3GPP TS 26.071) through libopencore-amrnb, 20 ms frames, no DTX. The payload is the frames in the
    RFC 4867 storage format: a one-byte header each (4.75 kbit/s costs 5.2 kbit/s, 12.2 costs 12.8)."""

    sample_rate = 8000

    def __init__(self, bitrate: float):
        if bitrate not in AMR_NB_BITRATES:
            rates = ", ".join(f"{rate / 1000:g}" for rate in AMR_NB_BITRATES)
            raise UserError(f"AMR-NB has no {bitrate:g} bit/s mode: use one of {rates} kbit/s")
        self.nominal_bitrate = float(bitrate)
        self.name = f"amr-nb-{bitrate / 1000:g}"

    def encode(self, audio: np.ndarray) -> bytes:
        """Encode 20 ms frames; extra input covers the codec delay so the last samples come out."""
        pcm = np.pad(to_int16(audio), (0, AMR_NB_DELAY))
        packets, _ = _encode_packets("libopencore_amrnb", pcm, self.sample_rate, int(self.nominal_bitrate), {})
        return b"".join(packets)

    def decode(self, payload: bytes, num_samples: int) -> np.ndarray:
        """Split the frames by their headers' frame types and decode them."""
        frames, at = [], 0
        while at < len(payload):
            size = _AMR_NB_FRAME_BYTES[(payload[at] >> 3) & 0x0F]
            frames.append(payload[at : at + size])
            at += size
        decoded, _ = _decode_packets("libopencore_amrnb", frames, self.sample_rate)
        return delay_compensated(decoded, AMR_NB_DELAY, num_samples)
