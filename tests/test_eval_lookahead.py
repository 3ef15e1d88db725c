"""The lookahead sweep (eval.lookahead, `lfsc-eval lookahead`): it measures each lookahead's latency, its deviation
from whole-file coding and its quality with the scoring path of runs, and writes a report folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from codec.errors import UserError
from codec.interface import RoundTrip
from codec.streaming import CodecStream
from eval import lookahead, pair

from tests.conftest import NEMO_FIXTURE

RATE = 16000


class _NoisyStream(CodecStream):
    """The input back `delay` samples late at the native rate, plus noise that shrinks with the lookahead; one token a
    sample block, wrong when the lookahead is 0."""

    def __init__(self, lookahead_frames, sent):
        super().__init__()
        self.sample_rate, self.latency, self.lookahead_frames = RATE, 100 * (lookahead_frames + 1), lookahead_frames
        self.sent, self.held = sent, np.zeros(0, np.float32)

    def _noisy(self, samples):
        return samples + np.float32(0.2 / (1 + self.lookahead_frames)) * np.sin(np.arange(len(samples)) * 0.7,
                                                                                  dtype=np.float32)

    def _take(self, samples):
        self.held = np.concatenate([self.held, samples])
        out, self.held = self.held[: max(0, len(self.held) - self.latency)], self.held[max(0, len(self.held) - self.latency):]
        self.sent(np.full((1, len(samples)), int(self.lookahead_frames == 0), np.int32))
        return self._noisy(out)

    def _finish(self):
        return self._noisy(self.held)


class _FakeLFSC:
    """What the sweep uses of an LFSC codec, without a model: a perfect whole-file round trip, all-zero tokens."""

    name, sample_rate, settings = "fake", RATE, {}

    def roundtrip(self, audio, rate):
        return RoundTrip(audio.copy(), rate, 0, len(audio) / rate, 0.0, 0.0)

    def tokens(self, audio):
        return np.zeros((1, len(audio)), np.int32)

    def native_stream(self, lookahead_frames, hop_frames, sent):
        return _NoisyStream(lookahead_frames, sent)


@pytest.fixture(scope="module")
def speech_clip():
    from codec.audio import load_audio
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest

    utt = next(u for u in load_manifest(default_manifest()) if u.lang == "en")
    clip = load_audio(utt.audio_path)
    assert clip.sample_rate == RATE
    return clip.samples[: 2 * RATE]


def test_sweep_measures_latency_deviation_and_quality_as_runs_do(speech_clip):
    result = lookahead.measure_utterance(_FakeLFSC(), speech_clip, RATE, [0, 3], None, ("stoi", "si_sdr"))
    zero, three = result["lookaheads"]
    assert (zero["latency_samples"], three["latency_samples"]) == (100, 400)
    assert zero["latency_ms"] == pytest.approx(6.25)
    assert (zero["token_agreement"], three["token_agreement"]) == (0.0, 1.0)
    assert zero["snr_vs_whole_db"] < three["snr_vs_whole_db"] < lookahead.SNR_CEILING
    for row in (zero, three):  # the numbers eval.pair gives for the output the stream gave
        decoded = lookahead.streamed(_FakeLFSC(), speech_clip, RATE, row["lookahead"], None)[0]
        expected = pair.score(pair.prepare(speech_clip, RATE, decoded, RATE), ("stoi", "si_sdr"))
        assert row["quality"]["stoi"] == expected["stoi"]["value"] and row["quality"]["si_sdr"] == expected["si_sdr"]["value"]
    assert zero["quality"]["si_sdr"] < three["quality"]["si_sdr"] < result["whole"]["si_sdr"]


def test_report_folder_holds_json_markdown_and_plot(tmp_path, speech_clip):
    per = {"a": lookahead.measure_utterance(_FakeLFSC(), speech_clip, RATE, [0, 3], None, ("stoi",))}
    document = {"codec": "fake", "settings": {}, "hop_frames": None, "block_seconds": lookahead.BLOCK_SECONDS,
                "metrics": ["stoi"], "summary": lookahead.summarize(per, [0, 3], ["stoi"]), "utterances": per,
                "skipped": {}}
    report = lookahead.write(document, tmp_path / "out")
    assert "| 3 | 25.0 | 1.000 |" in report
    assert json.loads((tmp_path / "out" / "lookahead.json").read_text())["summary"]["lookaheads"][1]["lookahead"] == 3
    assert (tmp_path / "out" / "lookahead.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(UserError, match="already holds a lookahead sweep"):
        lookahead.write(document, tmp_path / "out")


def test_sweep_refuses_other_codecs_and_metrics():
    from codec.registry import get_codec

    with pytest.raises(UserError, match="measures LFSC codecs"):
        lookahead.sweep(get_codec("identity"), [], [0])


@pytest.mark.slow
def test_cli_sweeps_the_fixture_checkpoint(tmp_path, capsys):
    """Random weights prove the machinery: full lookahead is whole-file coding, none is not."""
    from eval.cli import main

    out = tmp_path / "sweep"
    assert main(["lookahead", "--checkpoint", str(NEMO_FIXTURE / "lfsc_small.nemo"), "--limit", "1",
                 "--lookahead", "0", "19", "--metrics", "stoi", "--out", str(out)]) == 0
    rows = json.loads((out / "lookahead.json").read_text())["summary"]["lookaheads"]
    assert rows[0]["token_agreement"] < 0.9 and rows[1]["token_agreement"] == 1.0
    assert rows[1]["snr_vs_whole_db"] > 100 and rows[0]["latency_ms"] < rows[1]["latency_ms"]
    assert (out / "lookahead.png").exists() and main(["lookahead", "--out", str(out)]) == 2
    assert "already holds a lookahead sweep" in capsys.readouterr().err
