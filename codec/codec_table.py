"""The table `lfsc-codec list` prints: every registered codec, its rates, and whether it runs here."""

from __future__ import annotations

from functools import cache

import numpy as np

from codec.bundled_speech import first_clip
from codec.registry import CodecEntry, get_codec

MEASURE_SECONDS = 4.0  # speech used to measure bitrates: long enough for VBR to settle, short enough to be quick


def format_codec_table(entries: list[CodecEntry], measure: bool = True) -> str:
    """One line per codec: name, native rate, nominal and measured bitrate, and availability (or why not)."""
    clip = _speech_clip() if measure else None
    rows = [("codec", "rate", "nominal", "measured", "available")]
    for entry in entries:
        ok, why = entry.available()
        if not measure or not ok:
            measured = "-"
        elif clip is None:
            measured = "no bundled speech"
        else:
            measured = _measured_bitrate(entry.name)
        rows.append(
            (
                entry.name,
                f"{entry.sample_rate} Hz" if entry.sample_rate else "input's",
                _kbps(entry.nominal_bitrate) if entry.nominal_bitrate else "no bitstream",
                measured,
                "yes" if ok else f"no: {why}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths)) + "  " + row[4] for row in rows]
    lines.append(f"measured: payload bits per second on {MEASURE_SECONDS:g} s of bundled speech at its own rate")
    return "\n".join(lines)


def _kbps(bitrate: float) -> str:
    return f"{bitrate / 1000:.3g} kbit/s"


@cache
def _measured_bitrate(name: str) -> str:
    """Round-trip the bundled clip through one codec; the real payload size gives the bitrate."""
    samples, rate = _speech_clip()
    try:
        return _kbps(get_codec(name).roundtrip(samples, rate).measured_bitrate)
    except Exception as exc:  # a broken codec is reported in its row, the table still prints
        return f"failed: {type(exc).__name__}: {exc}".splitlines()[0]


@cache
def _speech_clip() -> tuple[np.ndarray, int] | None:
    """The first English utterance of the bundled speech set, cut to MEASURE_SECONDS; None when not bundled."""
    from codec.audio import load_audio

    path = first_clip("en")
    if path is None:
        return None
    audio = load_audio(path)
    return audio.samples[: int(MEASURE_SECONDS * audio.sample_rate)], audio.sample_rate
