"""Opus and AMR-NB through PyAV, whose wheels bundle FFmpeg with libopus and libopencore-amrnb."""

from __future__ import annotations

import fractions
import itertools
from functools import cache
from typing import Callable, Iterable, Iterator

import numpy as np

from codec.audio import resample_blocks
from codec.baselines.pcm import FramedStream, delay_compensated, from_int16, to_int16
from codec.blocks import frames_of, reporting
from codec.errors import UserError
from codec.interface import BlockCodec

OPUS_RATES = (8000, 16000)
OPUS_BITRATE_RANGE = (6000, 510000)
OPUS_DECODED_RATE = 48000  # libopus in FFmpeg always decodes at 48 kHz
OPUS_OPTIONS = {"application": "voip", "frame_duration": "20", "vbr": "on"}
# libopus's encoder look-ahead, 6.5 ms at 48 kHz, for every rate and bitrate (RFC 7845 4.2); the decoder drops it.
OPUS_PRE_SKIP = 312

# Opus's own delay (the encoder's pre-skip) is removed by the decoder. What remains, measured by
# cross-correlation on real speech at 48 kHz: wideband SILK comes out about 3 samples (1 at 16 kHz) early;
# narrowband SILK and CELT stay within 1 sample at their input rate without a correction. Whether the lead applies is
# read from the first packet, the one choice a live stream can make before giving out audio (on the bundled speech,
# at every named bitrate and both rates, it is what most packets say).
OPUS_WIDEBAND_SILK_LEAD = 3  # samples at 48 kHz
_OPUS_SILK_WB_CONFIGS = range(8, 12)  # TOC configurations 8-11: SILK-only wideband (RFC 6716 3.1)

AMR_NB_BITRATES = (4750, 5150, 5900, 6700, 7400, 7950, 10200, 12200)
# Encoder-to-decoder delay at 8 kHz (the 5 ms look-ahead less the pre-processing filter's lag), measured by
# cross-correlation on real speech.
AMR_NB_DELAY = 39
AMR_NB_FRAME = 160  # samples a frame (20 ms at 8 kHz)
# Packets the encoders give beyond those that hold the input, to flush their look-ahead (measured: one, for Opus and
# AMR-NB); a payload may hold up to this many, so that a libopus that flushes differently still decodes.
MAX_FLUSH_PACKETS = 2
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


def opus_problem(**options: object) -> str:
    """Why Opus cannot run here ('' when it can): the registry's availability check."""
    return missing_ffmpeg_codec("libopus")


def amr_nb_problem(**options: object) -> str:
    """Why AMR-NB cannot run here ('' when it can): the registry's availability check."""
    return missing_ffmpeg_codec("libopencore_amrnb")


def _open_encoder(encoder: str, sample_rate: int, bit_rate: int, options: dict):
    """An FFmpeg encoder for int16 mono PCM, opened (its `frame_size` and `extradata` known)."""
    import av

    context = av.CodecContext.create(encoder, "w")
    context.sample_rate = sample_rate
    context.layout = "mono"
    context.format = "s16"
    context.bit_rate = bit_rate
    context.time_base = fractions.Fraction(1, sample_rate)
    context.options = options
    context.open()
    return context


def _encode_frame(context, pcm: np.ndarray | None, index: int) -> list[bytes]:
    """The packets that encoding int16 frame number `index` (None: the end, flushing the encoder) gives."""
    import av

    if pcm is None:
        return [bytes(packet) for packet in context.encode(None)]
    frame = av.AudioFrame.from_ndarray(pcm[None], format="s16", layout="mono")
    frame.sample_rate = context.sample_rate
    frame.pts = index * context.frame_size
    return [bytes(packet) for packet in context.encode(frame)]


def _encode_stream(context, blocks: Iterable[np.ndarray]) -> Iterator[bytes]:
    """Encode mono float blocks as int16 PCM frame by frame as they arrive (`frames_of`: the last frame
    zero-padded), then flush the encoder. Yields the packets."""
    for index, pcm in enumerate(frames_of(map(to_int16, blocks), context.frame_size)):
        yield from _encode_frame(context, pcm, index)
    yield from _encode_frame(context, None, 0)


def _open_decoder(decoder: str, sample_rate: int, extradata: bytes | None = None):
    """An FFmpeg decoder for mono audio at `sample_rate`."""
    import av

    context = av.CodecContext.create(decoder, "r")
    context.sample_rate = sample_rate
    context.layout = "mono"
    if extradata is not None:
        context.extradata = extradata
    return context


def _decode_packet(context, data: bytes | None, index: int, name: str) -> Iterator[np.ndarray]:
    """Packet number `index` (None: the end, flushing the decoder) decoded into float32 mono blocks; one the
    decoder refuses means a damaged payload (UserError)."""
    import av

    try:
        frames = context.decode(None if data is None else av.Packet(data))
    except av.FFmpegError as exc:
        raise UserError(f"the {name} payload is damaged: packet {index} cannot be decoded ({exc})") from None
    for frame in frames:
        if frame.sample_rate != context.sample_rate:
            raise UserError(f"the {name} payload is damaged: packet {index} decodes at {frame.sample_rate} Hz")
        samples = frame.to_ndarray().reshape(-1)
        yield from_int16(samples) if samples.dtype == np.int16 else samples.astype(np.float32)


def _decode_stream(decoder: str, packets: list[bytes], sample_rate: int, name: str, extradata: bytes | None = None,
                   progress: Callable[[float], None] | None = None) -> Iterator[np.ndarray]:
    """Decode packets with an FFmpeg decoder as the audio is taken, flushing it at the end; yields float32 mono
    blocks at `sample_rate`."""
    context = _open_decoder(decoder, sample_rate, extradata)
    for index, data in enumerate([*packets, None]):
        yield from _decode_packet(context, data, index, name)
        if progress is not None:
            progress((index + 1) / (len(packets) + 1))


def _packets_problem(count: int, least: int) -> str:
    """What is wrong with a payload of `count` packets where the encoder gives `least` and one or two to flush
    ('' when nothing): fewer cannot hold the audio, more would decode to more than asked for."""
    if not least <= count <= least + MAX_FLUSH_PACKETS:
        return f"it holds {count} packets where {least} to {least + MAX_FLUSH_PACKETS} hold the audio"
    return ""


def _opus_head(sample_rate: int, pre_skip: int) -> bytes:
    """The OpusHead the decoder needs for the pre-skip (RFC 7845 5.1), rebuilt instead of stored per payload."""
    return b"OpusHead" + bytes([1, 1]) + pre_skip.to_bytes(2, "little") + sample_rate.to_bytes(4, "little") + bytes(3)


class PyAVStream(FramedStream):
    """An FFmpeg codec coded live: each frame through the encoder as it completes, each packet through the decoder
    as it comes out, both flushed at the end, as `encode_blocks` and `decode_blocks` do with a whole file."""

    def __init__(self, name: str, encoder, decoder, delay: int, latency: int):
        super().__init__(encoder.sample_rate, encoder.frame_size, delay, latency)
        self.name, self.encoder, self.decoder = name, encoder, decoder
        self._frames = self._packets = 0

    def _code(self, frames: list[np.ndarray], end: bool) -> np.ndarray:
        packets: list[bytes | None] = []
        for pcm in frames:
            packets += _encode_frame(self.encoder, pcm, self._frames)
            self._frames += 1
        if end:
            packets += [*_encode_frame(self.encoder, None, 0), None]
        return self._decoded(packets, end)

    def _decoded(self, packets: list[bytes | None], end: bool) -> np.ndarray:
        """The packets (None: flush the decoder) decoded, at the decoder's rate."""
        blocks = [np.zeros(0, dtype=np.float32)]
        for data in packets:
            blocks += _decode_packet(self.decoder, data, self._packets, self.name)
            self._packets += 1
        return np.concatenate(blocks)


class OpusStream(PyAVStream):
    """Opus live, aligned as `Opus.decode_blocks` aligns a file: decoded at 48 kHz, the wideband SILK lead added
    when the first packet is one, resampled to the native rate by soxr's streaming resampler (the same VHQ filter
    as `resample_blocks`, so the output is the same for any block sizes)."""

    def __init__(self, codec: Opus):
        import soxr

        encoder = _open_encoder("libopus", codec.sample_rate, codec.bitrate, OPUS_OPTIONS)
        decoder = _open_decoder("libopus", OPUS_DECODED_RATE, _opus_head(codec.sample_rate, OPUS_PRE_SKIP))
        super().__init__(codec.name, encoder, decoder, 0, opus_latency(codec.sample_rate))
        self._lead: bool | None = None
        self._resampler = soxr.ResampleStream(OPUS_DECODED_RATE, codec.sample_rate, 1, dtype="float32", quality="VHQ")

    def _decoded(self, packets: list[bytes | None], end: bool) -> np.ndarray:
        decoded = super()._decoded(packets, end)
        if self._lead is None and packets and packets[0] is not None:
            self._lead = _wideband_silk(packets[0])
            if self._lead:
                decoded = np.concatenate([np.zeros(OPUS_WIDEBAND_SILK_LEAD, dtype=np.float32), decoded])
        return self._resampler.resample_chunk(decoded, last=end)


@cache
def opus_latency(sample_rate: int) -> int:
    """The most input an Opus stream at `sample_rate` holds back: a 20 ms frame less a sample, the encoder's
    look-ahead, and what the 48 kHz -> `sample_rate` resampler owes at worst when fed as the decoder gives (the first
    frame less the pre-skip, then whole frames), found by feeding it so once. The wideband SILK lead adds output,
    not delay: pushed a sample at a time, a stream holds back exactly this either way (tests/test_classic_streams.py)."""
    import soxr

    resampler = soxr.ResampleStream(OPUS_DECODED_RATE, sample_rate, 1, dtype="float32", quality="VHQ")
    frame = OPUS_DECODED_RATE // 50
    fed = given = owed = 0
    for chunk in [frame - OPUS_PRE_SKIP, *[frame] * 200]:  # 4 s: past its worst moment
        fed += chunk
        given += len(resampler.resample_chunk(np.zeros(chunk, dtype=np.float32)))
        owed = max(owed, int(fed * sample_rate / OPUS_DECODED_RATE + 0.5) - given)
    return sample_rate // 50 - 1 + -(-OPUS_PRE_SKIP * sample_rate // OPUS_DECODED_RATE) + owed


class Opus(BlockCodec):
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


    def encode_blocks(
        self, blocks: Iterable[np.ndarray], num_samples: int, progress: Callable[[float], None] | None = None
    ) -> bytes:
        """20 ms frames encoded as the blocks arrive (holding less than a frame of the input), the packets framed by
        their lengths."""
        context = _open_encoder("libopus", self.sample_rate, self.bitrate, OPUS_OPTIONS)
        packets = _encode_stream(context, reporting(blocks, num_samples, progress))
        return b"".join(_opus_length(len(packet)) + packet for packet in packets)

    def payload_problem(self, payload: bytes, num_samples: int) -> str:
        """Packets that run past the payload's end, empty ones, or too few or too many for `num_samples`."""
        packets, problem = _opus_packets(payload)
        if not problem and not all(packets):
            problem = "it holds an empty packet"
        return problem or _packets_problem(len(packets), -(-num_samples * 50 // self.sample_rate))


    def decode_blocks(
        self, payload: bytes, num_samples: int, progress: Callable[[float], None] | None = None
    ) -> Iterator[np.ndarray]:
        """Packets decoded at 48 kHz as the audio is taken (the payload checked at once), the residual delay removed
        there, resampled to the native rate."""
        self.check_payload(payload, num_samples)
        packets, _ = _opus_packets(payload)
        head = _opus_head(self.sample_rate, OPUS_PRE_SKIP)
        decoded = _decode_stream("libopus", packets, OPUS_DECODED_RATE, self.name, head, progress)
        if packets and _wideband_silk(packets[0]):
            decoded = itertools.chain([np.zeros(OPUS_WIDEBAND_SILK_LEAD, dtype=np.float32)], decoded)
        return delay_compensated(resample_blocks(decoded, OPUS_DECODED_RATE, self.sample_rate), 0, num_samples,
                                 self.name)


    def native_stream(self, lookahead_frames: int | None, hop_frames: int | None) -> OpusStream:
        """Frame by frame through libopus (`OpusStream`); Opus's frame and look-ahead are fixed."""
        self._fixed_lookahead(lookahead_frames, hop_frames)
        return OpusStream(self)


def _opus_length(size: int) -> bytes:
    """Opus's length code: one byte below 252, else two (RFC 6716 3.2.1)."""
    if size < 252:
        return bytes([size])
    return bytes([252 + (size - 252) % 4, (size - 252 - (size - 252) % 4) // 4])


def _opus_packets(payload: bytes) -> tuple[list[bytes], str]:
    """Undo the length framing of `Opus.encode`: the packets, and what is wrong with the framing ('' if nothing)."""
    packets, at = [], 0
    while at < len(payload):
        size, at = payload[at], at + 1
        if size >= 252 and at < len(payload):
            size, at = size + 4 * payload[at], at + 1
        if at + size > len(payload):
            return packets, f"packet {len(packets)} runs past its end"
        packets.append(payload[at : at + size])
        at += size
    return packets, ""


def _wideband_silk(packet: bytes) -> bool:
    """Whether a packet is SILK-only wideband, by its TOC byte."""
    return bool(packet) and packet[0] >> 3 in _OPUS_SILK_WB_CONFIGS


class AmrNb(BlockCodec):
    """AMR-NB (3GPP TS 26.071) through libopencore-amrnb, 20 ms frames, no DTX. The payload is the frames in the
    RFC 4867 storage format: a one-byte header each (4.75 kbit/s costs 5.2 kbit/s, 12.2 costs 12.8)."""

    sample_rate = 8000

    def __init__(self, bitrate: float):
        if bitrate not in AMR_NB_BITRATES:
            rates = ", ".join(f"{rate / 1000:g}" for rate in AMR_NB_BITRATES)
            raise UserError(f"AMR-NB has no {bitrate:g} bit/s mode: use one of {rates} kbit/s")
        self.nominal_bitrate = float(bitrate)
        self.name = f"amr-nb-{bitrate / 1000:g}"


    def encode_blocks(
        self, blocks: Iterable[np.ndarray], num_samples: int, progress: Callable[[float], None] | None = None
    ) -> bytes:
        """20 ms frames encoded as the blocks arrive (holding less than a frame of the input); extra input covers the
        codec delay so the last samples come out."""
        context = _open_encoder("libopencore_amrnb", self.sample_rate, int(self.nominal_bitrate), {})
        padded = itertools.chain(reporting(blocks, num_samples, progress), [np.zeros(AMR_NB_DELAY, np.float32)])
        return b"".join(_encode_stream(context, padded))

    def payload_problem(self, payload: bytes, num_samples: int) -> str:
        """Frames of unknown types, one that runs past the payload's end, or too few or too many for `num_samples`."""
        frames, problem = _amr_frames(payload)
        return problem or _packets_problem(len(frames), -(-(num_samples + AMR_NB_DELAY) // AMR_NB_FRAME))


    def decode_blocks(
        self, payload: bytes, num_samples: int, progress: Callable[[float], None] | None = None
    ) -> Iterator[np.ndarray]:
        """The frames, split by their headers' frame types, decoded as the audio is taken (the payload checked at
        once)."""
        self.check_payload(payload, num_samples)
        frames, _ = _amr_frames(payload)
        decoded = _decode_stream("libopencore_amrnb", frames, self.sample_rate, self.name, progress=progress)
        return delay_compensated(decoded, AMR_NB_DELAY, num_samples, self.name)


    def native_stream(self, lookahead_frames: int | None, hop_frames: int | None) -> PyAVStream:
        """Frame by frame through libopencore-amrnb, the codec's delay dropped as `decode_blocks` drops it."""
        self._fixed_lookahead(lookahead_frames, hop_frames)
        encoder = _open_encoder("libopencore_amrnb", self.sample_rate, int(self.nominal_bitrate), {})
        decoder = _open_decoder("libopencore_amrnb", self.sample_rate)
        return PyAVStream(self.name, encoder, decoder, AMR_NB_DELAY, AMR_NB_FRAME - 1 + AMR_NB_DELAY)


def _amr_frames(payload: bytes) -> tuple[list[bytes], str]:
    """The RFC 4867 frames of a payload, split by their headers' frame types, and what is wrong ('' if nothing)."""
    frames, at = [], 0
    while at < len(payload):
        kind = (payload[at] >> 3) & 0x0F
        if kind not in _AMR_NB_FRAME_BYTES:
            return frames, f"frame {len(frames)} has the unknown type {kind}"
        if at + _AMR_NB_FRAME_BYTES[kind] > len(payload):
            return frames, f"frame {len(frames)} runs past its end"
        frames.append(payload[at : at + _AMR_NB_FRAME_BYTES[kind]])
        at += _AMR_NB_FRAME_BYTES[kind]
    return frames, ""
