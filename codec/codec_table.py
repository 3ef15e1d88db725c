"""The table `lfsc-codec list` prints: every registered codec, what it declares (rates, frames, codebooks, causality,
licence), its measured bitrate, and whether it runs here; then the prefixed entries and the checkpoints they run."""

from __future__ import annotations

import json
from functools import cache

import numpy as np

from codec.bundled_speech import first_clip
from codec.registry import PREFIXED, Card, Checkpoint, CodecEntry, get_codec

MEASURE_SECONDS = 4.0  # speech used to measure bitrates: long enough for VBR to settle, short enough to be quick
COLUMNS = ("codec", "rate", "frames/s", "codebooks", "nominal", "measured", "causal", "licence", "available")
CHECKPOINT_COLUMNS = ("checkpoint", "rate", "frames/s", "codebooks", "nominal", "causal", "licence")


def codec_rows(entries: list[CodecEntry], measure: bool = True) -> list[dict[str, str]]:
    """One row per codec, its cells under COLUMNS' names, as the table shows them."""
    clip = _speech_clip() if measure else None
    rows = []
    for entry in entries:
        ok, why = entry.available()
        if not measure or not ok:
            measured = "-"
        elif clip is None:
            measured = "no bundled speech"
        else:
            measured = _measured_bitrate(entry.name)
        rows.append({"codec": entry.name, "rate": _rate(entry.sample_rate), **_card_cells(entry.card),
                     "nominal": _kbps(entry.nominal_bitrate) if entry.nominal_bitrate else "no bitstream",
                     "measured": measured, "available": "yes" if ok else f"no: {why}"})
    return rows


def checkpoint_rows(checkpoints: tuple[Checkpoint, ...]) -> list[dict[str, str]]:
    """One row per released checkpoint of the prefixed entries, its cells under CHECKPOINT_COLUMNS' names."""
    return [{"checkpoint": c.codec_name, "rate": _rate(c.sample_rate), **_card_cells(c.card),
             "nominal": _kbps(c.nominal_bitrate)} for c in checkpoints]


def format_codec_table(entries: list[CodecEntry], checkpoints: tuple[Checkpoint, ...] = (),
                       measure: bool = True) -> str:
    """The registered codecs aligned in columns (availability, the one long cell, last), the prefixed entries with
    what they take, and the released checkpoints they run."""
    lines = _aligned(COLUMNS, codec_rows(entries, measure))
    lines.append(f"measured: payload bits per second on {MEASURE_SECONDS:g} s of bundled speech at its own rate")
    lines.append("\nNamed by a prefix, each at its model's own rate, frames and codebooks:")
    lines += [f"  {entry.name}: {entry.description}" for _, _, entry in PREFIXED]
    if checkpoints:
        lines.append("\nReleased checkpoints they run (as their model cards declare; download them yourself):")
        lines += _aligned(CHECKPOINT_COLUMNS, checkpoint_rows(checkpoints))
    return "\n".join(lines)


def codec_table_json(entries: list[CodecEntry], checkpoints: tuple[Checkpoint, ...], measure: bool = True) -> str:
    """The same table as JSON: {"codecs": [...], "prefixed": [...], "checkpoints": [...]}."""
    prefixed = [{"codec": entry.name, "takes": entry.description} for _, _, entry in PREFIXED]
    return json.dumps({"codecs": codec_rows(entries, measure), "prefixed": prefixed,
                       "checkpoints": checkpoint_rows(checkpoints)}, indent=2)


def _aligned(columns: tuple[str, ...], rows: list[dict[str, str]]) -> list[str]:
    """Header and rows, every column padded to its widest cell but the last (which may be long)."""
    cells = [list(columns)] + [[row[column] for column in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns) - 1)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "  " + line[-1] for line in cells]


def _card_cells(card: Card) -> dict[str, str]:
    return {"frames/s": f"{card.frame_rate:.4g}" if card.frame_rate else "-",
            "codebooks": f"{card.codebooks} x {card.codebook_size}" if card.codebooks else "-",
            "causal": card.causal, "licence": card.licence}


def _rate(sample_rate: int) -> str:
    return f"{sample_rate} Hz" if sample_rate else "input's"


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
