"""Reference codecs registered next to LFSC: identity, MUSHRA low-pass anchors, Codec2, Opus and AMR-NB.

Importing this package registers them; pycodec2 and PyAV are imported only when a codec is built or run.
"""

from __future__ import annotations

from typing import Callable

from codec.baselines.codec2 import MODES as CODEC2_MODES
from codec.baselines.codec2 import Codec2
from codec.baselines.pyav_codecs import AmrNb, Opus, missing_ffmpeg_codec
from codec.baselines.reference import Identity, LowpassAnchor
from codec.errors import UserError
from codec.interface import Codec
from codec.registry import CodecEntry, register

ANY_RATE = 0  # an entry's sample_rate when the codec works at the input's rate and never resamples
ANCHOR_CUTOFFS = (3500.0, 7000.0)
OPUS_NAMED_BITRATES = (6000, 8000, 12000, 16000, 24000)
AMR_NB_NAMED_BITRATES = (4750, 12200)
PYCODEC2 = ("pycodec2:pycodec2",)
PYAV = ("av:av",)


def _no_options(name: str, options: dict) -> None:
    if options:
        raise UserError(f"codec {name!r} takes no options (got {', '.join(sorted(options))}): drop them")


def _fixed(name: str, build: Callable[[], Codec]) -> Callable[..., Codec]:
    """A factory for a codec that takes no options."""

    def factory(**options) -> Codec:
        _no_options(name, options)
        return build()

    return factory


def _opus(bitrate: float = 12000, sample_rate: int = 16000, **options) -> Opus:
    _no_options("opus", options)
    return Opus(bitrate=bitrate, sample_rate=sample_rate)


def _needs_ffmpeg_codec(ffmpeg_name: str) -> Callable[..., str]:
    """An availability check for a codec of PyAV's bundled FFmpeg."""

    def check(**options) -> str:
        return missing_ffmpeg_codec(ffmpeg_name)

    return check


def _register_all() -> None:
    register(CodecEntry("identity", _fixed("identity", Identity), ANY_RATE, 0.0,
                        "returns its input bit-exactly, for calibrating metrics (payload: float32 PCM)"))
    for cutoff in ANCHOR_CUTOFFS:
        name = f"lowpass-{cutoff / 1000:g}k"
        register(CodecEntry(name, _fixed(name, lambda cutoff=cutoff: LowpassAnchor(cutoff)), ANY_RATE, 0.0,
                            f"MUSHRA anchor (ITU-R BS.1534): zero-phase low-pass at {cutoff / 1000:g} kHz"))
    for mode in CODEC2_MODES:
        name = f"codec2-{mode.lower()}"
        register(CodecEntry(name, _fixed(name, lambda mode=mode: Codec2(mode)), Codec2.sample_rate,
                            float(mode.rstrip("C")), f"Codec2 {mode} (libcodec2 via pycodec2)", PYCODEC2))
    opus_check = _needs_ffmpeg_codec("libopus")
    for bitrate in OPUS_NAMED_BITRATES:
        name = f"opus-{bitrate // 1000}k"
        register(CodecEntry(name, _fixed(name, lambda bitrate=bitrate: Opus(bitrate)), 16000, float(bitrate),
                            f"Opus {bitrate // 1000} kbit/s VBR, VoIP, 20 ms frames (libopus via PyAV)",
                            PYAV, opus_check))
    register(CodecEntry("opus", _opus, 16000, 12000.0,
                        "Opus at any bitrate: options bitrate=6000..510000 (default 12000), sample_rate=16000|8000",
                        PYAV, opus_check))
    amr_check = _needs_ffmpeg_codec("libopencore_amrnb")
    for bitrate in AMR_NB_NAMED_BITRATES:
        name = f"amr-nb-{bitrate / 1000:g}"
        register(CodecEntry(name, _fixed(name, lambda bitrate=bitrate: AmrNb(bitrate)), AmrNb.sample_rate,
                            float(bitrate), f"AMR-NB {bitrate / 1000:g} kbit/s (libopencore-amrnb via PyAV)",
                            PYAV, amr_check))


_register_all()
