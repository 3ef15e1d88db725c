"""The model stage of `--engine ray`'s actors, without Ray: batches by duration, LFSC's batched round trips equal to
one by one, a batch started exactly as the local engine starts each utterance, and an actor's codecs built once."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from eval_assets import utterances
from hypothesis import given
from hypothesis import strategies as st

from codec.registry import get_codec
from eval import ray_engine
from eval.cache import Cache
from eval.identity import codec_key
from eval.manifest import Utterance
from eval.model_batches import batchable, duration_batches, round_trips, start_batch
from eval.runner import Job, finish_here, start_utterance
from eval.unit import Scorer

METRICS = ("si_sdr", "mel_distance")
HOW_PRODUCED = ("seconds", "rtf", "encode_seconds", "decode_seconds")


def _utt(number: int, duration: float) -> Utterance:
    return Utterance(f"u{number}", Path(f"u{number}.wav"), "", duration, "en", "", 16000, "", "")


@given(st.lists(st.floats(0.0, 30.0), max_size=40), st.floats(0.5, 40.0))
def test_batches_hold_each_utterance_once_shortest_first_within_the_seconds(durations, seconds):
    pending = [(_utt(i, d), ["identity"]) for i, d in enumerate(durations)]
    batches = duration_batches(pending, seconds)
    flat = [item for batch in batches for item in batch]
    assert sorted(item[0].id for item in flat) == sorted(item[0].id for item in pending)
    assert [item[0].duration for item in flat] == sorted(durations)
    for batch in batches:
        assert batch and (len(batch) == 1 or sum(item[0].duration for item in batch) <= seconds)
    for before, after in itertools.pairwise(batches):  # a batch ends only when the next utterance does not fit
        assert sum(item[0].duration for item in before) + after[0][0].duration > seconds


@pytest.fixture(scope="module")
def lfsc(small_nemo):
    return get_codec("lfsc", checkpoint=small_nemo, device="cpu")


def test_lfsc_round_trips_in_a_batch_equal_one_by_one(lfsc, speech, one_thread):
    samples, rate = speech
    # three clips of one frame count (the encoder runs them as one batch), one of another, at two rates
    clips = [(samples[:rate], rate), (samples[100 : 100 + rate], rate), (samples[: rate + 300], rate),
             (samples[: 2 * rate], rate), (samples[:16000], 16000)]
    assert batchable(lfsc) and not batchable(get_codec("identity"))
    for (clip, clip_rate), batched in zip(clips, round_trips(lfsc, clips)):
        alone = lfsc.roundtrip(clip, clip_rate)
        assert np.array_equal(batched.audio, alone.audio)
        assert (batched.payload_bytes, batched.sample_rate, batched.duration) == (alone.payload_bytes, clip_rate,
                                                                                  alone.duration)


def test_a_refused_clip_is_named_and_the_others_still_round_trip():
    codec = get_codec("identity")
    out = round_trips(codec, [(np.zeros(0, np.float32), 16000), (np.ones(800, np.float32) / 4, 16000)])
    assert isinstance(out[0], str) and "empty" in out[0]
    assert np.array_equal(out[1].audio, np.ones(800, np.float32) / 4)


def _scorer(tmp_path, name: str) -> Scorer:
    return Scorer(tmp_path / name, METRICS, Cache(tmp_path / f"cache-{name}"), False, frozenset())


def test_a_batch_starts_as_the_local_engine_starts_each_utterance(lfsc, tmp_path, one_thread):
    utts = utterances(count=3, max_seconds=4.0)
    codecs = [lfsc, get_codec("identity")]
    keys = {c.name: codec_key(c) for c in codecs}
    local, batched = _scorer(tmp_path, "local"), _scorer(tmp_path, "batched")
    expected = [[finish_here(local, unit) for unit in start_utterance(local, utt, codecs, keys)] for utt in utts]
    missing = Utterance("gone", tmp_path / "gone.wav", "", 2.0, "en", "", 16000, "", "")
    started = start_batch(batched, [(utt, codecs) for utt in utts] + [(missing, codecs)], keys)
    assert isinstance(started[-1], str) and "gone.wav" in started[-1]
    for want, units in zip(expected, started):
        got = [finish_here(batched, unit) for unit in units]
        assert [r.to_json() | {k: 0 for k in HOW_PRODUCED} for r in got] == \
               [r.to_json() | {k: 0 for k in HOW_PRODUCED} for r in want]
    assert (batched.cache.hits, batched.cache.misses) == (local.cache.hits, local.cache.misses)
    # a second batch over the same cache starts nothing: every unit is whole from it
    again = start_batch(batched, [(utt, codecs) for utt in utts], keys)
    assert all(unit.row.cached and unit.pair is None for units in again for unit in units)


def test_a_model_actor_builds_its_codecs_once_for_all_its_batches(tmp_path, monkeypatch):
    built: list[str] = []
    monkeypatch.setattr(ray_engine, "build_codec", lambda name, checkpoint: built.append(name) or get_codec(name))
    utts = utterances(count=3, max_seconds=4.0)
    job = Job(_scorer(tmp_path, "actor"), {"identity": codec_key(get_codec("identity"))}, None, None)
    stage = ray_engine.ModelStage(job)
    first = stage.start([(utts[0], ["identity"]), (utts[1], ["identity"])])
    second = stage.start([(utts[2], ["identity"])])
    assert built == ["identity"]
    assert [len(first), len(second)] == [3, 2]  # each utterance's units, then the batch's cache counts
    assert first[-1] == (0, 2 * (1 + len(METRICS)))  # two utterances' head and metrics, looked up in the cache


def test_ray_options_are_checked_in_one_line(tmp_path, capsys):
    from eval_assets import manifest_path

    from codec.errors import UserError
    from eval.cli import main

    run = ["run", "--manifest", str(manifest_path()), "--codec", "identity", "--out", str(tmp_path / "run")]
    assert main([*run, "--batch-seconds", "10"]) == 2
    assert "--batch-seconds applies to --engine ray only" in capsys.readouterr().err
    assert main([*run, "--engine", "ray", "--gpus-per-actor", "-1"]) == 2
    assert "--gpus-per-actor must be 0 or more" in capsys.readouterr().err
    with pytest.raises(UserError, match="--batch-seconds must be more than 0"):
        ray_engine.RayEngine(batch_seconds=0)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # Whisper on 16 clips on the CPU: about 25 s
def test_a_batch_transcribes_each_language_in_one_model_call_with_the_local_engines_text(tmp_path, monkeypatch):
    from eval import asr

    utts = utterances(lang="en", count=2, max_seconds=4.0) + utterances(lang="fr", count=2, max_seconds=4.0)
    codecs = [get_codec("identity")]
    keys = {c.name: codec_key(c) for c in codecs}
    local = Scorer(tmp_path / "local", ("cer",), Cache(tmp_path / "cache-local"), False, frozenset())
    batched = Scorer(tmp_path / "batched", ("cer",), Cache(tmp_path / "cache-batched"), False, frozenset())
    expected = [[finish_here(local, unit) for unit in start_utterance(local, utt, codecs, keys)] for utt in utts]
    calls: list[tuple[str, int]] = []
    many = asr.transcribe_many
    monkeypatch.setattr(asr, "transcribe_many", lambda clips, sr, lang: calls.append((lang, len(clips))) or
                        many(clips, sr, lang))
    started = start_batch(batched, [(utt, codecs) for utt in utts], keys)
    assert sorted(calls) == [("en", 4), ("fr", 4)]  # each utterance's original and its codec's output
    got = [[finish_here(batched, unit) for unit in units] for units in started]
    assert [[(r.hyp_orig, r.hyp, r.metrics, r.asr_counts) for r in rows] for rows in got] == \
           [[(r.hyp_orig, r.hyp, r.metrics, r.asr_counts) for r in rows] for rows in expected]
    assert all(r.hyp for rows in got for r in rows)


def test_on_a_gpu_the_model_stage_computes_the_gpu_metrics_and_batches_the_speaker_and_mos_models(tmp_path, monkeypatch):
    from eval import metrics, mos, speaker
    from eval.identity import metric_key

    utts = utterances(count=3, max_seconds=4.0)
    codecs = [get_codec("identity"), get_codec("codec2-3200")]
    keys = {c.name: codec_key(c) for c in codecs}
    wanted = ("speaker_sim", "distill_mos", "mel_distance", "stft_distance", "si_sdr")
    local = Scorer(tmp_path / "local", wanted, Cache(tmp_path / "cache-local"), False, frozenset())
    assert not any("+gpu" in metric_key(m) for m in wanted[1:4])
    expected = [[finish_here(local, unit) for unit in start_utterance(local, utt, codecs, keys)] for utt in utts]
    # what a GPU changes, forced on this CPU: both models batch, DistillMOS moves to the model stage
    import codec.devices

    monkeypatch.setattr(codec.devices, "default_device", lambda: "cuda")  # what decides (the models stay on the CPU)
    monkeypatch.setattr(metrics, "_spectral_device", lambda: "cpu")
    metrics._SPECTRAL.clear()  # computed again, in the model stage
    monkeypatch.setattr(mos, "batched", lambda: True)
    monkeypatch.setattr(speaker.GE2E, "batches", lambda self: True)
    calls: list[int] = []
    many = mos.predict_many
    monkeypatch.setattr(mos, "predict_many", lambda audios, batch=None: calls.append(len(audios)) or many(audios))
    batched = Scorer(tmp_path / "batched", wanted, Cache(tmp_path / "cache-batched"), False, frozenset())
    assert all("+gpu" in metric_key(m) for m in wanted[1:4]) and "+batched" in metric_key("speaker_sim")
    started = start_batch(batched, [(utt, codecs) for utt in utts], keys)
    assert calls == [len(utts) * len(codecs)]  # every decoded clip of the batch in one call
    # every model and GPU metric is in before the CPU metrics run
    assert all(all(unit.results[m] for m in wanted[:4]) and unit.results["si_sdr"] is None
               for units in started for unit in units)
    got = [[finish_here(batched, unit) for unit in units] for units in started]
    for rows, want in zip(got, expected):
        for row, alone in zip(rows, want):
            assert row.metrics.keys() == alone.metrics.keys() == set(wanted)
            for name in ("speaker_sim", "distill_mos"):
                assert row.metrics[name] == pytest.approx(alone.metrics[name], abs=1e-5)
            for name in ("mel_distance", "stft_distance", "si_sdr"):  # the same computation, here on the CPU
                assert row.metrics[name] == alone.metrics[name]


def test_an_utterance_a_model_refuses_is_skipped_alone_as_the_local_engine_skips_it(tmp_path, monkeypatch):
    from codec.errors import UserError

    utts = utterances(count=3, max_seconds=4.0)
    codecs = [get_codec("identity")]
    scorer = _scorer(tmp_path, "refusing")
    transcribe = Scorer.transcribe

    def refusing(self, work):
        if any(ref.utt.id == utts[1].id for ref, _ in work):
            raise UserError(f"{utts[1].id}: the ASR model refuses it")
        transcribe(self, work)

    monkeypatch.setattr(Scorer, "transcribe", refusing)
    started = start_batch(scorer, [(utt, codecs) for utt in utts], {"identity": codec_key(codecs[0])})
    assert started[1] == f"{utts[1].id}: the ASR model refuses it"
    assert all(isinstance(units, list) and len(units) == 1 for i, units in enumerate(started) if i != 1)


def test_a_missing_distillmos_install_is_each_clips_missing_reason_not_an_error(monkeypatch):
    from eval import metrics, mos

    def not_installed(audios, batch=None):
        raise ModuleNotFoundError(f"DistillMOS is not installed: {mos.INSTALL}")

    monkeypatch.setattr(mos, "predict_many", not_installed)
    speech = np.sin(np.arange(16000) / 5.0).astype(np.float32) / 4
    out = metrics.distill_mos_many([(speech, 16000), (np.zeros(16000, np.float32), 16000)])
    assert "not installed" in out[0]["missing"] and "not installed" not in out[1]["missing"]  # the silent clip's own
