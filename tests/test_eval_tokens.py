"""Token diagnostics: entropy estimates, counts that match the codec's own tokens, and the lfsc-eval command."""

import dataclasses
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from codec.audio import load_audio
from codec.errors import UserError
from codec.registry import get_codec
from eval import token_coding, tokens
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
    collected = tokens.collect(codec, chosen + [broken])
    groups, skipped = collected.groups, collected.skipped
    assert skipped == {"broken": "damaged: re-export it"} and collected.tokens[3] is None
    expected = np.zeros((8, 2016), np.int64)
    same = same_frames = 0
    for utt in chosen:
        audio = load_audio(utt.audio_path, 22050).samples
        t = codec.tokens(audio)
        assert np.array_equal(collected.tokens[chosen.index(utt)], t.T)  # kept [frames, codebooks] for coding
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


def _utt(utt_id: str, lang: str):
    from eval.manifest import Utterance

    return Utterance(utt_id, Path(f"{utt_id}.wav"), "", 1.0, lang, "s", 16000, "", "")


def test_the_held_out_part_is_every_fifth_utterance_of_each_language():
    utts = [_utt(f"en{i}", "en") for i in range(7)] + [_utt("fr0", "fr")] + [_utt(f"es{i}", "es") for i in range(3)]
    split = token_coding.split(utts)
    assert [u.id for u in split.test] == ["en0", "en5", "fr0", "es0"]  # every language is tested
    assert [u.id for u in split.train] == ["en1", "en2", "en3", "en4", "en6", "es1", "es2"]  # fr has no train part
    assert "every 5th utterance" in split.how and token_coding.split(utts).test == split.test
    given = token_coding.split(utts[:3], [_utt("x", "it")])
    assert given.train == utts[:3] and [u.id for u in given.test] == ["x"]


def _skewed(frames: int, seed: int, codebooks: int = 3, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, size + 1) ** 1.3
    return rng.choice(size, (frames, codebooks), p=p / p.sum()).astype(np.int32)


def test_priors_fit_on_train_and_code_the_test_part_per_language_and_codebook():
    from codec.entropy import coded_bits_per_frame
    from codec.entropy_models import Prior

    train_utts = [(_utt(f"en{i}", "en"), _skewed(80, i)) for i in range(4)]
    test_utts = [(_utt("en9", "en"), _skewed(60, 9)), (_utt("fr0", "fr"), _skewed(50, 10))]
    train, test = token_coding.by_group(train_utts), token_coding.by_group(test_utts)
    priors = token_coding.fit_priors(train, 64)
    assert sorted(priors) == ["context-all", "context-en", "static-all", "static-en"]  # fr: no train part, no prior
    coding = token_coding.measure(test, priors, 3, 64, 10.0)
    fr = coding["fr"]["bits_per_frame"]
    assert fr["static_own"] is None and fr["context_own"] is None and coding["fr"]["frames"] == 50
    assert fr["static_pooled"] == coded_bits_per_frame([test_utts[1][1]], 64, priors["static-all"])
    every = coding["all"]["bits_per_frame"]
    assert every["fixed"] == 18 and coding["all"]["bitrate"]["fixed"] == 180  # 64^3 = 2^18: the codec's own sizes
    # a skewed source codes well below the fixed frame with any model, and priors beat learning from nothing
    assert every["static_pooled"] < every["adaptive"] < every["fixed"]
    # one codebook coded alone with its slice of the pooled static prior = a static prior fitted on that codebook
    alone = Prior.fit([t[:, 1:2] for _, t in train_utts], "static", 64)
    assert coding["all"]["codebooks"][1]["bits_per_frame"]["static_pooled"] == coded_bits_per_frame(
        [t[:, 1:2] for _, t in test_utts], 64, alone)
    text = token_coding.markdown(coding, "how", train, {})
    assert "| fr | 0 | 1 | 50 | 18 |" in text and "random weights" in text


def test_priors_go_into_a_new_or_empty_folder_and_read_back(tmp_path):
    from codec.entropy_models import read_prior

    priors = token_coding.fit_priors(token_coding.by_group([(_utt("a", "en"), _skewed(40, 1))]), 64)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "static-all.lfep").write_bytes(b"the user's own")
    with pytest.raises(UserError, match="not a new or empty folder"):
        token_coding.write_priors(priors, mine)
    assert (mine / "static-all.lfep").read_bytes() == b"the user's own" and len(list(mine.iterdir())) == 1
    written = token_coding.write_priors(priors, tmp_path / "new")
    assert sorted(written) == ["context-all.lfep", "context-en.lfep", "static-all.lfep", "static-en.lfep"]
    for name, info in written.items():
        data = (tmp_path / "new" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == info["file_sha256"]
        assert read_prior(data).sha256 == info["prior_sha256"] == priors[name.removesuffix(".lfep")].sha256


def test_the_tokens_command_measures_a_test_manifest_and_writes_its_priors(tmp_path, monkeypatch, capsys):
    chosen = utterances(count=4)
    monkeypatch.setenv("LFSC_CHECKPOINT", str(FIXTURE))
    manifests = {}
    for name, part in (("train", chosen[:3]), ("test", chosen[3:])):
        manifests[name] = tmp_path / f"{name}.jsonl"
        manifests[name].write_text("".join(json.dumps(
            {"audio_filepath": str(u.audio_path), "text": u.text, "duration": u.duration, "lang": u.lang}) + "\n"
            for u in part))
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("mine")
    common = ["tokens", "--manifest", str(manifests["train"]), "--test-manifest", str(manifests["test"])]
    assert main([*common, "--fit-prior", str(tmp_path / "used"), "--out", str(tmp_path / "t")]) == 2
    assert "not a new or empty folder" in capsys.readouterr().err and not (tmp_path / "t").exists()
    assert main([*common, "--fit-prior", str(tmp_path / "priors"), "--out", str(tmp_path / "t")]) == 0
    written = json.loads((tmp_path / "t" / "tokens.json").read_text())
    coding = written["coding"]["all"]
    assert coding["utterances"] == 1 and written["groups"]["all"]["utterances"] == 4  # diagnostics: all read
    bits = coding["bits_per_frame"]
    assert written["coding"][chosen[3].lang]["bits_per_frame"]["static_own"] is None  # its language: no train part
    assert bits["fixed"] == 88 and all(0 < bits[k] < 100 for k in ("adaptive", "static_pooled", "context_pooled"))
    assert set(written["priors"]) == {f"{k}-{g}.lfep" for k in ("static", "context")
                                      for g in ["all", *{u.lang for u in chosen[:3]}]}
    assert sorted(p.name for p in (tmp_path / "priors").iterdir()) == sorted(written["priors"])
    report = (tmp_path / "t" / "tokens.md").read_text()
    assert "| all | 3 | 1 |" in report and "Priors written" in report
