"""`lfsc-codec list`: each codec's declared rate, frames, codebooks, nominal bitrate, causality and licence, read
from the registry's table (no model loaded, no torch imported), as an aligned table or JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from codec.codec_table import COLUMNS, format_codec_table
from codec.registry import CHECKPOINTS, list_codecs

REPO = Path(__file__).resolve().parent.parent


def _list(*arguments: str) -> str:
    """`lfsc-codec list` run in a fresh interpreter, which then prints whether torch got imported."""
    code = ("import sys; from codec.cli import main; main(['list', *sys.argv[1:]]); "
            "print('torch imported:', 'torch' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, *arguments], capture_output=True, text=True, check=True,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert "torch imported: False" in done.stderr
    return done.stdout


def test_the_table_aligns_every_declared_column_for_lfsc_and_a_classical_codec():
    lines = _list().splitlines()
    header = lines[0]
    assert header.split() == list(COLUMNS)
    starts = [header.index(column) for column in COLUMNS]
    cells = {}
    for line in lines[1:len(list_codecs()) + 1]:  # cut at the header's column starts: the columns are aligned
        row = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
        cells[row[0]] = dict(zip(COLUMNS, row))
    assert {k: cells["lfsc"][k] for k in COLUMNS[:-1]} == {
        "codec": "lfsc", "rate": "22050 Hz", "frames/s": "21.53", "codebooks": "8 x 2016", "nominal": "1.89 kbit/s",
        "measured": "-", "causal": "no", "licence": "NVIDIA NSCLv1"}
    assert {k: cells["codec2-1600"][k] for k in ("rate", "frames/s", "codebooks", "nominal", "causal", "licence",
                                                 "available")} == {
        "rate": "8000 Hz", "frames/s": "25", "codebooks": "-", "nominal": "1.6 kbit/s", "causal": "yes",
        "licence": "LGPL-2.1 (libcodec2)", "available": "yes"}


def test_the_prefixed_entries_say_what_they_take_and_list_the_released_checkpoints():
    text = format_codec_table(list_codecs(), CHECKPOINTS, measure=False)
    assert "  nemo:PATH: any NeMo AudioCodecModel .nemo" in text
    assert "  hf:MODEL[:CODEBOOKS]: a Hugging Face transformers codec" in text
    rows = {line.split("  ")[0].strip(): line for line in text.split("Released checkpoints")[1].splitlines()[2:]}
    assert rows["hf:kyutai/mimi:8"].split()[1:] == ["24000", "Hz", "12.5", "8", "x", "2048", "1.1", "kbit/s", "yes",
                                                    "CC-BY-4.0"]
    assert "NVIDIA Open Model License" in rows["nemo:PATH (nvidia/nemo-nano-codec-22khz-1.89kbps-21.5fps)"]
    assert "CC-BY-NC-4.0" in rows["hf:facebook/encodec_24khz"]
    assert rows["hf:descript/dac_44khz"].split()[-1] == "MIT"


def test_json_holds_the_same_cells():
    listed = json.loads(_list("--json"))
    lfsc = next(row for row in listed["codecs"] if row["codec"] == "lfsc")
    assert (lfsc["frames/s"], lfsc["codebooks"], lfsc["licence"]) == ("21.53", "8 x 2016", "NVIDIA NSCLv1")
    assert [row["codec"] for row in listed["prefixed"]] == ["nemo:PATH", "hf:MODEL[:CODEBOOKS]"]
    assert len(listed["checkpoints"]) == len(CHECKPOINTS)
