"""Token diagnostics: entropy estimates, counts that match the codec's own tokens, and the lfsc-eval command."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from codec.audio import load_audio
from codec.registry import get_codec
from eval import tokens
from eval.cli import main
from eval_assets import utterances

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "nemo" / "lfsc_small.nemo"  # the NeMo fixture: varied codes


def test_entropy_of_known_histograms():
    assert tokens.entropy_bits(np.full(2016, 5)) == pytest.approx(math.log2(2016))
    assert str(tokens.entropy_bits(np.array([0, 9, 0]))) == "0.0"  # not -0.0 in reports
    assert tokens.entropy_bits(np.array([1, 1, 2])) == pytest.approx(1.5)
    # Miller-Madow adds (codes used - 1) / (2 N ln 2): 2 / (2 * 4 * ln 2) here
    assert tokens.miller_madow_bits(np.array([1, 1, 2, 0])) == pytest.approx(1.5 + 2 / (8 * math.log(2)))


def test_counts_are_the_codecs_own_tokens_per_language_and_over_all():
    codec = get_codec("lfsc", checkpoint=FIXTURE, device="cpu")
    chosen = utterances(count=3)
    broken = dataclasses.replace(chosen[0], id="broken", problem="damaged: re-export it")
    groups, skipped = tokens.collect(codec, chosen + [broken])
    assert skipped == {"broken": "damaged: re-export it"}
    expected = np.zeros((8, 2016), np.int64)
    same = same_frames = 0
    for utt in chosen:
        audio = load_audio(utt.audio_path, 22050).samples
        t = codec.tokens(audio)
        again = codec.tokens(codec.synthesize(t, len(audio)))
        expected += np.stack([np.bincount(row, minlength=2016) for row in t])
        same += int(np.count_nonzero(t == again))
        same_frames += sum(bool(np.array_equal(t[:, i], again[:, i])) for i in range(t.shape[1]))
    assert np.array_equal(groups[tokens.ALL].counts, expected) and groups[tokens.ALL].same_codes == same
    # a frame counts when all 8 codes are equal: counting frames with any equal code would give more here
    assert groups[tokens.ALL].same_frames == same_frames and same > same_frames
    assert sum(groups[u.lang].utterances for u in {u.lang: u for u in chosen}.values()) == 3
    summary = tokens.summarize(groups, 22050 / 1024)[tokens.ALL]
    assert summary["frames"] == expected[0].sum() and summary["bits_per_frame"]["fixed"] == 88
    assert summary["bitrate"]["fixed"] == pytest.approx(1894.9, abs=0.05)
    entropy = summary["bits_per_frame"]["entropy"]
    assert entropy == pytest.approx(sum(tokens.entropy_bits(c) for c in expected)) and 0 < entropy < 8 * math.log2(2016)
    assert summary["bits_per_frame"]["entropy_miller_madow"] == pytest.approx(sum(tokens.miller_madow_bits(c) for c in expected))
    assert summary["reencode"]["same_codes"] == pytest.approx(same / (8 * expected[0].sum()))


def test_the_tokens_command_writes_its_report_and_refuses_codecs_without_tokens(tmp_path, monkeypatch, capsys):
    utterances(count=1)  # skips without the bundled set
    monkeypatch.setenv("LFSC_CHECKPOINT", str(FIXTURE))
    assert main(["tokens", "--limit", "2", "--out", str(tmp_path / "t")]) == 0
    written = json.loads((tmp_path / "t" / "tokens.json").read_text())
    assert written["groups"]["all"]["utterances"] == 2 and written["settings"]["precision"] == "fp32"
    assert "| all | 2 |" in (tmp_path / "t" / "tokens.md").read_text()
    assert main(["tokens", "--codec", "opus-6k", "--limit", "1", "--out", str(tmp_path / "u")]) == 2
    assert "no tokens to diagnose" in capsys.readouterr().err


def test_lfsc_eval_takes_the_checkpoint_it_names(tmp_path, monkeypatch, capsys):
    """The no-checkpoint message offers --checkpoint PATH: lfsc-eval run and tokens take it."""
    utterances(count=1)
    monkeypatch.delenv("LFSC_CHECKPOINT", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert main(["tokens", "--limit", "1", "--out", str(tmp_path / "t")]) == 2
    assert "--checkpoint PATH" in capsys.readouterr().err
    assert main(["tokens", "--limit", "1", "--checkpoint", str(FIXTURE), "--out", str(tmp_path / "t")]) == 0
    assert main(["run", "--codec", "lfsc", "--limit", "1", "--metrics", "si_sdr", "--no-cache",
                 "--checkpoint", str(FIXTURE), "--out", str(tmp_path / "r")]) == 0
    assert json.loads((tmp_path / "r" / "run.json").read_text())["codecs"][0]["settings"]["checkpoint"] == str(FIXTURE)
