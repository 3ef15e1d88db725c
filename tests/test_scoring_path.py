"""One scoring path: the app's per-clip metrics and `lfsc-eval run` give the same number for the same clip and
codec, for every metric, a codec with a delay included; and a report row reopened in the app from its kept audio
reproduces every metric of that row."""

from __future__ import annotations

import numpy as np
import pytest

from codec import registry
from codec.baselines.reference import Identity
from eval.metrics import FAST_METRICS, METRICS

DELAY = 40


class Delayed(Identity):
    """Identity that comes back DELAY samples late, zero-filled at the start: the pair must be aligned for the
    waveform metrics, and the output as decoded is what DistillMOS, ASR and the speaker model judge."""

    name = "test-delayed"

    def for_rate(self, sample_rate: int) -> "Delayed":
        """The same delay at the caller's rate."""
        return Delayed(sample_rate)

    def decode(self, payload: bytes, num_samples: int) -> np.ndarray:
        """The input, DELAY samples late."""
        audio = super().decode(payload, num_samples)
        return np.concatenate([np.zeros(DELAY, np.float32), audio[:-DELAY]])


@pytest.fixture(scope="module")
def delayed_codec():
    entry = registry.CodecEntry(Delayed.name, f"{__name__}:Delayed", registry.ANY_RATE, 0.0,
                                "identity, 40 samples late (test)")
    with registry.registered(entry):
        yield Delayed.name


@pytest.fixture(scope="module")
def run_rows(tmp_path_factory, delayed_codec):
    """A run of every metric over two short bundled clips (two languages) through four codecs (one under an input
    condition), audio kept."""
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest
    from eval.runner import run
    from workbench.reports import load_report

    short = sorted(load_manifest(default_manifest()), key=lambda u: u.duration)
    utterances = [next(u for u in short if u.lang == "en"), next(u for u in short if u.lang == "es")]
    out = tmp_path_factory.mktemp("scoring") / "run"
    run(utterances, ["identity", delayed_codec, "codec2-3200", "identity@white10"], out, keep_audio=True,
        cache_dir=None)
    return load_report(out).rows


def test_the_app_and_the_runner_give_every_metric_the_same_number(run_rows):
    from workbench import clip_metrics
    from workbench.reports import row_audio, row_roundtrip

    delayed = [r for r in run_rows if r["codec"] == Delayed.name]
    assert delayed and all(r["row"]["sanity"]["delay_samples"] == DELAY for r in delayed)
    assert all(r["row"]["fed"]["waveform"]["shift_samples"] == DELAY for r in delayed)
    compared = 0
    for report_row in run_rows:
        row = report_row["row"]
        clip, decoded = row_audio(report_row)  # as the app reopens a row: from the kept audio
        heard = row_roundtrip(report_row, clip, decoded).result.heard
        app = clip_metrics.fast_metrics(clip.samples, decoded, clip.sample_rate, heard=heard)
        app.update(clip_metrics.speaker_similarity(clip.samples, decoded, clip.sample_rate))
        app.update(clip_metrics.asr_errors(clip.samples, decoded, clip.sample_rate, clip.transcript, clip.lang))
        labels = {METRICS[name].label: name for name in (*FAST_METRICS, "speaker_sim")}
        labels.update({f"{METRICS['distill_mos'].label} (decoded)": "distill_mos", "CER decoded": "cer",
                       "CER original": "cer_orig", "dCER": "dcer"})
        for label, name in labels.items():
            if name in row["metrics"]:
                assert app[label] == pytest.approx(row["metrics"][name], rel=1e-9, abs=1e-12), (row["codec"], name)
                compared += 1
            else:
                assert str(app[label]).startswith("missing"), (row["codec"], name, app[label])
    # every metric was compared on most rows (Codec2's waveform metrics may be refused where it cannot be aligned)
    assert compared >= len(run_rows) * 12


def test_distillmos_judges_the_output_as_decoded_and_the_waveform_metrics_the_aligned_pair(run_rows):
    """The delayed identity is identity to the waveform metrics, and to DistillMOS it is the late output itself."""
    from eval.pair import prepare
    from eval.metrics import compute
    from workbench.reports import row_audio

    by_codec = {(r["utt_id"], r["codec"]): r["row"] for r in run_rows}
    for (utt, codec), row in by_codec.items():
        if codec != Delayed.name:
            continue
        # aligned, the late copy matches the input but for the DELAY samples cut off its end (SI-SDR would read
        # about 0 dB on the pair as decoded)
        assert row["metrics"]["si_sdr"] > 25
        assert row["metrics"]["stoi"] == pytest.approx(by_codec[(utt, "identity")]["metrics"]["stoi"], abs=0.01)
        clip, decoded = row_audio(next(r for r in run_rows if (r["utt_id"], r["codec"]) == (utt, codec)))
        raw = prepare(clip.samples, clip.sample_rate, decoded, clip.sample_rate).raw
        assert np.array_equal(raw[:DELAY], np.zeros(DELAY, np.float32))  # not shifted back
        assert row["metrics"]["distill_mos"] == pytest.approx(compute("distill_mos", clip.samples, raw, clip.sample_rate))


def test_kept_audio_is_the_output_as_decoded_losslessly(run_rows):
    import soundfile as sf

    for report_row in run_rows:
        info = sf.info(report_row["folder"] / report_row["row"]["decoded_audio"])
        assert info.subtype == "FLOAT"
    identity = next(r for r in run_rows if r["codec"] == "identity")
    from workbench.reports import row_audio

    clip, decoded = row_audio(identity)
    assert np.array_equal(decoded, clip.samples)
