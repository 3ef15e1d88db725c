"""eval.row.Row is the schema of rows.jsonl: a row the runner writes reads back equal, with the rate each metric ran
at; fields a row does not have stay out of its line; lines that are not rows are refused."""

from __future__ import annotations

import json

from eval import run_folder
from eval.metrics import METRICS
from eval.row import Row
from eval.runner import run
from eval_assets import utterances


def test_a_row_round_trips_and_leaves_out_what_it_does_not_have():
    row = Row(utt_id="u1", codec="identity", metrics={"si_sdr": 50.0}, rates={"si_sdr": 22050})
    line = row.to_json()
    assert "hyp" not in line and "seconds" not in line and "decoded_audio" not in line
    assert list(line)[:3] == ["utt_id", "lang", "speaker"]
    assert Row.from_json(json.loads(json.dumps(line))) == row


def test_what_is_not_a_row_is_refused():
    assert Row.from_json([1, 2]) is None
    assert Row.from_json({"utt_id": 1, "codec": "identity"}) is None
    assert Row.from_json({"utt_id": "u", "codec": "identity", "later": 1}) == Row(utt_id="u", codec="identity")


def test_the_runner_writes_typed_rows_with_each_metric_rate(tmp_path):
    utt = utterances(count=1)
    run(utt, ["identity"], tmp_path / "run", metrics=["si_sdr", "pesq_nb", "cer"], cache_dir=None,
        write_report=False)
    lines = (tmp_path / "run" / run_folder.ROWS).read_text().splitlines()
    stored = json.loads(lines[0])
    assert "_state" not in stored
    assert stored["rates"] == {"si_sdr": METRICS["si_sdr"].rate, "pesq_nb": 8000, "cer": 16000}
    (row,) = run_folder.read_rows(tmp_path / "run").rows
    assert row.to_json() == stored and row.seconds is not None and not row.cached
    assert set(row.metrics) >= {"si_sdr", "pesq_nb", "cer"} and row.fed["waveform"]["shift_samples"] == 0
