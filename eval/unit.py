"""The units of work of a run (one utterance through one codec): each one's row, from the cache where it holds the
unit's values, else by round trip and eval.pair, with what is computed stored in the cache.

A unit is started (round trip, sanity, refusals), then the model metrics (speaker similarity; on a GPU DistillMOS and
the spectral distances) and ASR of all units of its utterance run, each model over all their clips at once (`Scorer.run_models`;
eval.model_batches gives it several utterances), then its CPU metrics run (here or in eval.pool's processes) and
`Scorer.complete` gives its row. What completing a unit needs stays in its `Unit`, never in the row.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codec.audio import resample
from codec.interface import Codec, RoundTrip
from eval import asr, pair, run_folder, speaker, speaker_chance
from eval.cache import Cache, audio_sha256
from eval.identity import HEAD_KEY, decoded_asr_key, metric_key, original_asr_key
from eval.manifest import Utterance
from eval.metrics import METRICS, distill_mos_many, on_gpu
from eval.pair import ASR_METRICS, Pair, Result
from eval.row import Row


@dataclass
class Reference:
    """An utterance's audio, loaded once for all its units, and what its ASR needs."""

    utt: Utterance
    samples: np.ndarray
    rate: int
    sha: str
    original: dict | None  # the original's transcript ({"text"} or {"missing"}); None: still to transcribe
    asr_wanted: bool  # its decoded versions are transcribed: it has a transcript, and its original's is usable
    embedding: list[np.ndarray | str] = field(default_factory=list)  # its speaker embedding, or why there is none


@dataclass
class Unit:
    """One utterance through one codec, on its way to its row."""

    row: Row
    ref_sha: str
    cache: Cache  # the run's cache, or none for a codec that does not describe itself
    codec_key: str
    results: dict[str, Result | None]  # each signal and speaker metric's result (None: still to compute)
    hyp: dict | None  # the decoded audio's transcript ({"text"} or {"missing"}); None: not (yet) transcribed
    pair: Pair | None = None  # None: the unit came whole from the cache
    started: float = 0.0
    need_asr: bool = False


class Scorer:
    """Starts and completes the units of one run."""

    def __init__(self, out_dir: Path, metrics: tuple[str, ...], cache: Cache, keep_audio: bool,
                 inputs: frozenset[Path]) -> None:
        self.out_dir = out_dir
        self.inputs = inputs
        self.metrics = metrics
        self.signal = tuple(m for m in metrics if m in METRICS)
        self.want_asr = any(m in ASR_METRICS for m in metrics)
        self.want_speaker = "speaker_sim" in metrics
        self.rates = pair.metric_rates(metrics)
        self.cache = cache
        self.keep_audio = keep_audio
        self.original_key = original_asr_key() if self.want_asr else ""
        self.decoded_key = decoded_asr_key() if self.want_asr else ""

    # --- per utterance -------------------------------------------------------------------------------
    def reference(self, utt: Utterance, samples: np.ndarray, rate: int) -> Reference:
        """The utterance's audio with its original's cached transcript (the floor)."""
        sha = audio_sha256(samples, rate)
        transcribed = self.want_asr and bool(utt.text.strip())
        original = None
        if transcribed:
            original = (self.cache.get(sha, "original", self.original_key) if utt.lang
                        else {"missing": "no language given (use --lang or a manifest with 'lang')"})
        return Reference(utt, samples, rate, sha, original, transcribed and (original is None or "text" in original))

    def _embedding(self, ref: Reference) -> np.ndarray:
        """The reference's speaker embedding, computed once (shared with the report's chance levels through the
        cache)."""
        if not ref.embedding:
            ref.embedding.append(speaker_chance.reference_embedding(ref.sha, ref.samples, ref.rate, self.cache))
        if isinstance(ref.embedding[0], str):
            raise ValueError(ref.embedding[0])
        return ref.embedding[0]

    def run_models(self, work: list[tuple[Reference, list[Unit]]]) -> None:
        """What these utterances' started units still need from models, each model taking all their clips at once:
        speaker similarity, on a GPU the `GPU_METRICS` (DistillMOS batched, the spectral distances), then ASR
        (`transcribe`)."""
        todo = [(ref, u) for ref, units in work for u in units if u.pair is not None]
        if self.want_speaker:
            self._speakers([(ref, u) for ref, u in todo if u.results.get("speaker_sim") is None])
        # decided where the models run (a Ray actor may see a GPU its driver lacks); `todo` leaves the rest to the CPUs
        gpu = tuple(m for m in self.signal if on_gpu(m))
        if "distill_mos" in gpu:
            waiting = [(ref, u) for ref, u in todo if u.results.get("distill_mos") is None]
            scored = distill_mos_many([(u.pair.fed("distill_mos"), u.pair.sample_rate) for _, u in waiting])
            for (ref, unit), result in zip(waiting, scored):
                self._keep(ref, unit, "distill_mos", result)
        for ref, unit in todo:  # the spectral distances on the GPU, a pair at a time
            for name, result in pair.score(unit.pair, tuple(m for m in gpu if unit.results.get(m) is None)).items():
                self._keep(ref, unit, name, result)
        self.transcribe(work)

    def _speakers(self, todo: list[tuple[Reference, Unit]]) -> None:
        """The speaker similarity of these units, their decoded audio embedded together (per rate)."""
        by_rate: dict[int, list[tuple[Reference, Unit]]] = {}
        for ref, unit in todo:
            by_rate.setdefault(unit.pair.sample_rate, []).append((ref, unit))
        for rate, group in by_rate.items():
            for (ref, unit), decoded in zip(group, speaker.embed_many([u.pair.raw for _, u in group], rate)):
                try:
                    reference = self._embedding(ref)
                    if isinstance(decoded, str):
                        raise ValueError(decoded)
                    result = {"value": speaker.cosine(reference, decoded)}
                except ValueError as exc:
                    result = {"missing": str(exc)}
                self._keep(ref, unit, "speaker_sim", result)

    def _keep(self, ref: Reference, unit: Unit, name: str, result: Result) -> None:
        """A metric's result for the unit, cached."""
        unit.results[name] = result
        unit.cache.put(ref.sha, unit.codec_key, metric_key(name), result)

    def transcribe(self, work: list[tuple[Reference, list[Unit]]]) -> None:
        """Run all ASR these utterances still need (each one's original when it has a transcript and none is cached,
        and its units' decoded audio), the clips of each language in batches (`asr.transcribe_many`), cache it, and
        fill in the units' ASR fields."""
        if not self.want_asr:
            return
        by_lang: dict[str, list[tuple[np.ndarray, Callable[[str], None]]]] = {}
        for ref, units in work:
            clips = by_lang.setdefault(ref.utt.lang, [])
            if ref.original is None and ref.utt.text.strip():
                clips.append((resample(ref.samples, ref.rate, asr.ASR_RATE), functools.partial(self._heard, ref, None)))
            clips += [(resample(u.pair.raw, ref.rate, asr.ASR_RATE), functools.partial(self._heard, ref, u))
                      for u in units if u.need_asr]
        for lang, clips in by_lang.items():
            if clips:
                texts = asr.transcribe_many([audio for audio, _ in clips], asr.ASR_RATE, lang)
                for (_, heard), text in zip(clips, texts):
                    heard(text)
        for ref, units in work:
            for unit in units:
                self._asr_fields(unit.row, ref, unit.hyp)

    def _heard(self, ref: Reference, unit: Unit | None, text: str) -> None:
        """Keep and cache the transcript of the reference's original (`unit` None) or of a unit's decoded audio."""
        if unit is None:
            ref.original = {"text": text}
            self.cache.put(ref.sha, "original", self.original_key, ref.original)
        else:
            unit.hyp = {"text": text}
            unit.cache.put(ref.sha, unit.codec_key, self.decoded_key, unit.hyp)

    def _asr_fields(self, row: Row, ref: Reference, hyp: dict | None) -> None:
        """CER/WER of the decoded audio and of the original (the floor), their difference and the counts."""
        if ref.original and "text" in ref.original:
            row.hyp_orig = ref.original["text"]
        if hyp and "text" in hyp:
            row.hyp = hyp["text"]
        kinds = tuple(k for k in ASR_METRICS if k in self.metrics)
        scored = pair.asr_scores(kinds, ref.utt.text, ref.utt.lang, ref.original, hyp)
        row.asr_counts = scored["counts"]
        row.metrics.update(scored["metrics"])
        row.missing.update(scored["missing"])

    # --- per unit ------------------------------------------------------------------------------------
    def start(self, ref: Reference, codec: Codec, codec_key: str | None) -> Unit:
        """Start a unit from the cache, or by round trip, sanity and refusals; `run_models` and `complete` finish
        it. `codec_key` None: the codec is never cached."""
        unit = self.look_up(ref, codec, codec_key)
        return unit if unit.row.cached else self.round_trip(ref, codec, unit, codec.roundtrip(ref.samples, ref.rate))

    def look_up(self, ref: Reference, codec: Codec, codec_key: str | None) -> Unit:
        """A unit with what the cache holds of it: whole (`row.cached`), or for `round_trip` to start."""
        cache = self.cache if codec_key is not None else Cache(None)
        unit = Unit(Row(utt_id=ref.utt.id, codec=codec.name), ref.sha, cache, codec_key or "", {}, None)
        saved = self.out_dir / run_folder.kept_audio(codec.name, ref.utt.id)
        head = cache.get(ref.sha, unit.codec_key, HEAD_KEY)
        unit.results = {m: cache.get(ref.sha, unit.codec_key, metric_key(m)) for m in self.signal}
        unit.hyp = cache.get(ref.sha, unit.codec_key, self.decoded_key) if ref.asr_wanted else None
        whole = (head is not None and all(v is not None for v in unit.results.values())
                 and (unit.hyp is not None or not ref.asr_wanted))
        if whole and (not self.keep_audio or saved.exists()):
            unit.row = self._row(ref, codec, head, saved, cached=True)
        unit.started = time.perf_counter()
        return unit

    def round_trip(self, ref: Reference, codec: Codec, unit: Unit, rt: RoundTrip) -> Unit:
        """Start a unit that `look_up` found incomplete, from its round trip `rt` (run by `start`, or in a batch:
        eval.model_batches): sanity, kept audio and refusals."""
        saved = self.out_dir / run_folder.kept_audio(codec.name, ref.utt.id)
        head = self._round_trip(ref, unit, saved, rt)
        unit.row = self._row(ref, codec, head, saved, cached=False)
        self._refusals(ref, unit)
        return unit

    def _round_trip(self, ref: Reference, unit: Unit, saved: Path, rt: RoundTrip) -> dict:
        """Check the round trip's pair, keep the decoded audio when asked; the record the cache keeps of it."""
        unit.pair = pair.prepare(ref.samples, ref.rate, rt.audio, rt.sample_rate, align_to=rt.heard)
        roundtrip = {"payload_bytes": rt.payload_bytes, "measured_bitrate": round(rt.measured_bitrate, 2),
                     "rtf": round(rt.rtf, 5), "encode_seconds": round(rt.encode_seconds, 4),
                     "decode_seconds": round(rt.decode_seconds, 4)}
        head = {"roundtrip": roundtrip, "sanity": unit.pair.sanity.to_dict()}
        unit.cache.put(ref.sha, unit.codec_key, HEAD_KEY, head)
        if self.keep_audio:  # the output as decoded: eval.pair derives every metric's input from it, as it did here
            run_folder.check_not_input(saved, self.inputs)
            run_folder.write_kept_audio(saved, rt.audio, rt.sample_rate)
        return head

    def _refusals(self, ref: Reference, unit: Unit) -> None:
        """Cache what the pair refuses, its ASR included (its model metrics and ASR run later: `run_models`)."""
        for name, result in unit.results.items():
            if result is None and (reason := unit.pair.refusal(name)):
                self._keep(ref, unit, name, {"missing": reason})
        if ref.asr_wanted and unit.hyp is None and (reason := unit.pair.refusal("cer")):
            unit.hyp = {"missing": reason}
            unit.cache.put(ref.sha, unit.codec_key, self.decoded_key, unit.hyp)
        unit.need_asr = ref.asr_wanted and unit.hyp is None

    def _row(self, ref: Reference, codec: Codec, head: dict, saved: Path, cached: bool) -> Row:
        """The unit's row before its metrics: the utterance, the round trip, the sanity findings and what the
        metrics are fed."""
        utt = ref.utt
        return Row(utt_id=utt.id, lang=utt.lang, speaker=utt.speaker, duration=round(utt.duration, 4),
                   reference_audio=str(utt.audio_path), text=utt.text, codec=codec.name,
                   nominal_bitrate=codec.nominal_bitrate, cached=cached, **head["roundtrip"], sanity=head["sanity"],
                   fed=pair.fed(head["sanity"]), rates=dict(self.rates),
                   decoded_audio=saved.relative_to(self.out_dir).as_posix() if saved.exists() else None)

    def todo(self, unit: Unit) -> tuple[str, ...]:
        """The metrics the unit still has to compute on the CPUs: those without a model that `run_models` left
        (none for a unit whole from the cache)."""
        if unit.pair is None:
            return ()
        return tuple(m for m in self.signal if not METRICS[m].needs_model and unit.results.get(m) is None)

    def complete(self, unit: Unit, computed: dict[str, Result]) -> Row:
        """The unit's row, with the metrics `computed` for it (which go to the cache)."""
        for name, result in computed.items():
            unit.cache.put(unit.ref_sha, unit.codec_key, metric_key(name), result)
            unit.results[name] = result
        if unit.pair is not None:
            unit.row.seconds = round(time.perf_counter() - unit.started, 3)
        for name in self.signal:
            result = unit.results[name]
            if "value" in result:
                unit.row.metrics[name] = result["value"]
            else:
                unit.row.missing[name] = result["missing"]
        return unit.row
