"""The batch runner: every utterance x every codec -> round trip -> sanity -> metrics -> one result row.

Rows are appended to `<out>/rows.jsonl` as they are produced (flush + fsync), so a run killed at any point
resumes where it stopped; the run folder (eval.run_folder) is locked for the run and belongs to one configuration.
Every value also goes to the content-hash cache, so a new run over the same audio and codecs (e.g. into a new
folder, or after adding one codec) only computes what is new. CPU metrics run in a process pool when
`jobs > 1`; model metrics (ASR, speaker) run in the calling process with each model loaded once, and the ASR
of one utterance (its original and every codec's output) goes to the model as one batch.
Only one utterance's audio and its decoded versions (plus the pairs waiting in the pool) are in memory at a time.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

import numpy as np

from codec.audio import RESAMPLER
from codec.conditions import VERSION as CONDITIONS_VERSION
from codec.conditions import Conditioned
from codec.errors import UserError
from codec.files import write_text_atomic
from codec.interface import Codec
from codec.spec import CodecSpec
from codec.registry import get_codec, list_codecs, takes_option
from eval import asr, pair, run_folder, sanity, speaker, speaker_chance, stats, textnorm
from eval.cache import Cache, audio_sha256, default_dir
from eval.manifest import Utterance
from eval.metrics import FAST_METRICS, METRICS, package_version
from eval.pair import ASR_METRICS
from eval.run_folder import ROWS, RUN_MANIFEST, read_skipped  # noqa: F401 (ROWS: where callers find it)

ALL_METRICS: tuple[str, ...] = tuple(METRICS) + ASR_METRICS
SANITY_VERSION = "sanity/1"  # bump when eval.sanity changes what it compensates or refuses
HEAD_KEY = f"{SANITY_VERSION}/roundtrip-2"  # a round trip's cached record; 2: its times include the resampling


class CancelFlag(Protocol):
    """Anything with is_set(), e.g. threading.Event (the GUI sets it from its thread)."""

    def is_set(self) -> bool: ...


Progress = Callable[[int, int, str], None]  # (units done, units total, message)


@dataclass
class RunResult:
    """What a run did."""

    out_dir: Path
    rows_total: int  # rows now in rows.jsonl
    rows_new: int  # rows produced by this call
    rows_from_cache: int  # of the new rows, those built entirely from the cache
    cancelled: bool
    cache_hits: int
    cache_misses: int
    skipped: dict[str, str]  # utterances this call could not read, and why (they have no rows; listed in the report)


def build_codec(name: str, checkpoint: str | Path | None = None) -> Codec:
    """The codec `name`, on `checkpoint` when given and the codec takes one (LFSC)."""
    return get_codec(name, **({"checkpoint": checkpoint} if checkpoint and takes_option(name, "checkpoint") else {}))


def check_metrics(names: Iterable[str] | None) -> tuple[str, ...]:
    """Validate metric names (None: all of them); 'asr' stands for cer + wer."""
    if names is None:
        return ALL_METRICS
    out: list[str] = []
    for name in names:
        expanded = ASR_METRICS if name == "asr" else (name,)
        for item in expanded:
            if item not in ALL_METRICS:
                raise UserError(f"unknown metric {item!r}: choose from {', '.join(ALL_METRICS)} (or 'asr')")
            if item not in out:
                out.append(item)
    if not out:
        raise UserError("no metrics selected")
    return tuple(out)


def codec_settings(codec: Codec) -> dict | None:
    """What identifies a codec's output (None: the codec does not describe itself, so it is never cached).

    A codec may expose a `settings` dict (e.g. its checkpoint sha256); the registry's baselines are fully
    described by their class and simple attributes.
    """
    if isinstance(codec, Conditioned):  # the codec's own identity, plus what its input went through
        inner = codec_settings(codec.inner)
        return None if inner is None else {**inner, "conditions": [c.spec for c in codec.conditions],
                                           "conditions_version": CONDITIONS_VERSION}
    described = getattr(codec, "settings", None)
    if described is None and not type(codec).__module__.startswith("codec.baselines"):
        return None
    plain = {k: v for k, v in vars(codec).items() if not k.startswith("_") and isinstance(v, (int, float, str, bool))}
    return {"class": f"{type(codec).__module__}.{type(codec).__qualname__}", **plain, **(described or {})}


def _metric_key(name: str) -> str:
    version = speaker.model_version() if name == "speaker_sim" else METRICS[name].version
    return f"{name}/{version}/{SANITY_VERSION}" + ("" if name in FAST_METRICS else f"/{pair.AS_DECODED}")


def _package_versions() -> dict[str, str]:
    packages = ("numpy", "scipy", "soxr", "soundfile", "pesq", "pystoi", "librosa", "numba", "jiwer", "num2words",
                "faster-whisper", "ctranslate2", "Resemblyzer", "torch", "pycodec2", "av", "lfsc-workbench")
    return {package: package_version(package) for package in packages}


def _describe(name: str, entries: dict[str, str]) -> str:
    spec = CodecSpec.parse(name)
    return entries.get(spec.base, "") + (f"; its input: {spec.input_description}" if spec.conditioned else "")


def _sanity() -> dict:
    return {"version": SANITY_VERSION, "max_delay_s": sanity.MAX_DELAY_S, "min_waveform_correlation": sanity.MIN_CORRELATION,
            "min_envelope_correlation": sanity.MIN_ENVELOPE_CORRELATION}


def configuration(codecs: list[Codec], metrics: tuple[str, ...]) -> dict:
    """What identifies a run's numbers: each codec's settings (those of the cache key), each metric with its
    version (ASR: the model and decoding), the text normaliser, the sanity checks and the resampler. Not the time,
    the command line, the cache or the number of jobs, which change no number."""
    return {
        "codecs": {c.name: codec_settings(c) for c in codecs},
        "metrics": {name: _metric_key(name) if name in METRICS else f"asr/{asr.model_id()}/{pair.AS_DECODED}"
                    for name in metrics},
        "normaliser": textnorm.VERSION,
        "sanity": _sanity(),
        "resampler": RESAMPLER,
    }


def run_manifest(codecs: list[Codec], metrics: tuple[str, ...], source: str, cache: Cache, jobs: int,
                 previous: dict | None = None) -> dict:
    """Everything needed to reproduce a run's numbers; `previous`: the run.json of the rows this run adds to
    (`run_folder.resume`), whose codecs stay listed."""
    entries = {e.name: e.description for e in list_codecs()}
    current = configuration(codecs, metrics)
    if previous is not None:
        current["codecs"] = {**previous["configuration"]["codecs"], **current["codecs"]}
    info: dict = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": sys.argv,
        "input": source,
        "configuration": current,
        "codecs": run_folder.merged_codecs(previous, [
            {"name": c.name, "description": _describe(c.name, entries), "nominal_bitrate": c.nominal_bitrate,
             "waveform_matching": c.waveform_matching, "settings": codec_settings(c),
             "cached": codec_settings(c) is not None}
            for c in codecs
        ]),
        "metrics": {
            name: {"label": METRICS[name].label, "rate": METRICS[name].rate, "version": _metric_key(name),
                   "description": METRICS[name].description}
            for name in metrics if name in METRICS
        },
        "normaliser": textnorm.VERSION,
        "resampler": RESAMPLER,
        "sanity": _sanity(),
        "bootstrap": {"seed": stats.SEED, "resamples": stats.RESAMPLES},
        "jobs": jobs,
        "cache": str(cache.root) if cache.root else "disabled",
        "packages": _package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    if "speaker_sim" in metrics:
        info["speaker_model"] = speaker.describe()
    if any(m in metrics for m in ASR_METRICS):
        folder = asr.model_dir()
        info["asr"] = {
            "model_dir": str(folder),
            "model_id": asr.model_id(),
            "model_sha256": asr.model_sha256(),
            "files": {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()},
            "device": "/".join(asr.device()),
            "decoding": asr.DECODING,
        }
    try:
        import torch

        info["device"] = "cuda: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except ImportError:
        info["device"] = "cpu"
    return info


class _Runner:
    def __init__(self, out_dir: Path, metrics: tuple[str, ...], cache: Cache, keep_audio: bool, jobs: int,
                 inputs: frozenset[Path]) -> None:
        self.out_dir = out_dir
        self.inputs = inputs
        self.metrics = metrics
        self.cpu = tuple(m for m in metrics if m in METRICS and not METRICS[m].needs_model)
        self.want_asr = any(m in ASR_METRICS for m in metrics)
        self.want_speaker = "speaker_sim" in metrics
        self.cache = cache
        self.keep_audio = keep_audio
        self.pool = (ProcessPoolExecutor(jobs, mp_context=_spawn(), initializer=_worker_init, initargs=(os.getpid(),))
                     if jobs > 1 else None)
        self.pending: dict[Future, dict] = {}
        self.asr_key = f"asr-hyp/{asr.model_id()}" if self.want_asr else ""  # the original's transcript
        self.hyp_key = f"{self.asr_key}/{pair.AS_DECODED}"  # a decoded one's

    # --- per utterance -------------------------------------------------------------------------------
    def original_hypothesis(self, utt: Utterance, ref_sha: str) -> dict | None:
        """Cached ASR of the original audio (the floor); None when it is still to be transcribed."""
        if not utt.lang:
            return {"missing": "no language given (use --lang or a manifest with 'lang')"}
        return self.cache.get(ref_sha, "original", self.asr_key)

    def transcribe(self, utt: Utterance, ref: np.ndarray, sr: int, ref_sha: str, original: dict | None,
                   units: list[dict]) -> None:
        """Run all ASR the utterance still needs (the original when it has a transcript but `original` is None,
        and the units' decoded audio) in one batch, cache it, and fill in the units' ASR fields."""
        if not self.want_asr:
            return
        need_original = original is None and bool(utt.text.strip())
        waiting = [u for u in units if u["_state"]["need_asr"]]
        clips = ([ref] if need_original else []) + [u["_state"]["pair"].raw for u in waiting]
        texts = asr.transcribe_many(clips, sr, utt.lang) if clips else []
        if need_original:
            original = {"text": texts.pop(0)}
            self.cache.put(ref_sha, "original", self.asr_key, original)
        for row, text in zip(waiting, texts):
            state = row["_state"]
            state["hyp"] = {"text": text}
            state["cache"].put(ref_sha, state["ckey"], self.hyp_key, state["hyp"])
        for row in units:
            self._asr_fields(row, utt, original, row["_state"]["hyp"])

    # --- per unit ------------------------------------------------------------------------------------
    def audio_path(self, codec: Codec, utt: Utterance) -> Path:
        """Where the unit's decoded audio is kept: named by the tool, never by the input's paths."""
        return self.out_dir / run_folder.kept_audio(codec.name, utt.id)

    def start_unit(self, utt: Utterance, ref: np.ndarray, sr: int, ref_sha: str, codec: Codec, ckey: str | None,
                   asr_wanted: bool, ref_embedding: Callable[[], np.ndarray]) -> dict:
        """Start a row from the cache, or by round trip, sanity and speaker metric; `transcribe` and
        `finish_unit` complete it. `asr_wanted`: the original has (or will have) a transcript to compare with."""
        row = {
            "utt_id": utt.id, "lang": utt.lang, "speaker": utt.speaker, "duration": round(utt.duration, 4),
            "reference_audio": str(utt.audio_path), "text": utt.text, "codec": codec.name,
            "nominal_bitrate": codec.nominal_bitrate, "metrics": {}, "missing": {}, "cached": False,
        }
        cache = self.cache if ckey is not None else Cache(None)
        ckey = ckey or ""
        saved = self.audio_path(codec, utt)
        head = cache.get(ref_sha, ckey, HEAD_KEY)
        results = {m: cache.get(ref_sha, ckey, _metric_key(m)) for m in self.metrics if m in METRICS}
        hyp = cache.get(ref_sha, ckey, self.hyp_key) if asr_wanted else None
        have_asr = hyp is not None or not asr_wanted
        complete = head is not None and all(v is not None for v in results.values()) and have_asr
        state = {"results": results, "cache": cache, "ref_sha": ref_sha, "ckey": ckey, "hyp": hyp, "pair": None,
                 "need_asr": False}
        if complete and (not self.keep_audio or saved.exists()):
            row.update(head["roundtrip"], sanity=head["sanity"], fed=pair.fed(head["sanity"]), cached=True)
            if saved.exists():
                row["decoded_audio"] = saved.relative_to(self.out_dir).as_posix()
            row["_state"] = state
            return row

        t0 = time.perf_counter()
        rt = codec.roundtrip(ref, sr)
        scored = pair.prepare(ref, sr, rt.audio, rt.sample_rate, align_to=rt.heard)
        roundtrip = {"payload_bytes": rt.payload_bytes, "measured_bitrate": round(rt.measured_bitrate, 2),
                     "rtf": round(rt.rtf, 5), "encode_seconds": round(rt.encode_seconds, 4),
                     "decode_seconds": round(rt.decode_seconds, 4)}
        head = {"roundtrip": roundtrip, "sanity": scored.sanity.to_dict()}
        cache.put(ref_sha, ckey, HEAD_KEY, head)
        row.update(roundtrip, sanity=head["sanity"], fed=pair.fed(head["sanity"]))
        if self.keep_audio:  # the output as decoded: eval.pair derives every metric's input from it, as it did here
            run_folder.check_not_input(saved, self.inputs)
            run_folder.write_kept_audio(saved, rt.audio, rt.sample_rate)
        if self.keep_audio or saved.exists():
            row["decoded_audio"] = saved.relative_to(self.out_dir).as_posix()

        for name in list(results):
            if results[name] is None and (reason := scored.refusal(name)):
                results[name] = {"missing": reason}
                cache.put(ref_sha, ckey, _metric_key(name), results[name])
        if self.want_speaker and results.get("speaker_sim") is None:
            results.update(pair.score(scored, ("speaker_sim",), ref_embedding))
            cache.put(ref_sha, ckey, _metric_key("speaker_sim"), results["speaker_sim"])
        if asr_wanted and hyp is None and (reason := scored.refusal("cer")):
            state["hyp"] = {"missing": reason}
            cache.put(ref_sha, ckey, self.hyp_key, state["hyp"])
        row["_state"] = {**state, "pair": scored, "t0": t0, "need_asr": asr_wanted and state["hyp"] is None}
        return row

    def finish_unit(self, row: dict, ref: np.ndarray, sr: int) -> dict | None:
        """Signal metrics of a started row (after `transcribe`); returns the row when done, None when it waits
        on the pool."""
        state = row["_state"]
        if state["pair"] is None:  # whole from the cache
            del row["_state"]
            self._finish_metrics(row, state["results"])
            return row
        scored = state.pop("pair")
        todo = tuple(m for m in self.cpu if state["results"].get(m) is None)
        if todo and self.pool is not None:
            with _sigint_blocked():  # a worker this starts inherits the blocked Ctrl-C until it ignores it
                self.pending[self.pool.submit(pair.score, scored, todo)] = row
            return None
        return self._complete(row, pair.score(scored, todo) if todo else {})

    def _complete(self, row: dict, computed: dict[str, dict]) -> dict:
        state = row.pop("_state")
        for name, result in computed.items():
            state["cache"].put(state["ref_sha"], state["ckey"], _metric_key(name), result)
            state["results"][name] = result
        row["seconds"] = round(time.perf_counter() - state["t0"], 3)
        self._finish_metrics(row, state["results"])
        return row

    def _finish_metrics(self, row: dict, results: dict[str, dict | None]) -> None:
        for name in self.metrics:
            if name in METRICS:
                result = results[name]
                if "value" in result:
                    row["metrics"][name] = result["value"]
                else:
                    row["missing"][name] = result["missing"]

    def _asr_fields(self, row: dict, utt: Utterance, original: dict | None, hyp: dict | None) -> None:
        """CER/WER of the decoded audio and of the original (the floor), their difference and the counts."""
        if not self.want_asr:
            return
        if original and "text" in original:
            row["hyp_orig"] = original["text"]
        if hyp and "text" in hyp:
            row["hyp"] = hyp["text"]
        scored = pair.asr_scores(tuple(k for k in ASR_METRICS if k in self.metrics), utt.text, utt.lang, original, hyp)
        row["asr_counts"] = scored["counts"]
        row["metrics"].update(scored["metrics"])
        row["missing"].update(scored["missing"])

    def drain(self, block: bool) -> list[dict]:
        """Rows whose pool work has finished (waiting for at least one when `block`)."""
        if not self.pending:
            return []
        done, _ = wait(list(self.pending), timeout=None if block else 0, return_when=FIRST_COMPLETED)
        return [self._complete(self.pending.pop(f), f.result()) for f in done]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _spawn():
    import multiprocessing

    # fork after torch/CTranslate2 have started threads can deadlock the children
    return multiprocessing.get_context("spawn")


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Ctrl-C held back in this thread for the block: a process started here inherits the mask, so a Ctrl-C that
    reaches it while it starts waits until `_worker_init` ignores it, instead of a traceback from its imports."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _worker_init(parent: int) -> None:
    """Pool workers leave Ctrl-C to the run (which stops, keeps its rows and says how to resume) and end with it:
    a run killed outright (kill -9) must not leave its workers behind."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C pending since the worker started is dropped here
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    threading.Thread(target=_end_with_parent, args=(parent,), name="end-with-parent", daemon=True).start()


def _end_with_parent(parent: int) -> None:
    # A worker whose parent has gone is adopted by another process: end then, whatever it is doing.
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(1)


def run(
    utterances: list[Utterance],
    codec_names: list[str],
    out_dir: str | Path,
    metrics: Iterable[str] | None = None,
    asr_model: str | Path | None = None,
    keep_audio: bool = False,
    jobs: int = 1,
    cache_dir: str | Path | None | bool = True,
    progress: Progress | None = None,
    cancel: CancelFlag | None = None,
    show_progress_bar: bool = False,
    source: str = "",
    write_report: bool = True,
    checkpoint: str | Path | None = None,
    protect: Iterable[Path] = (),
) -> RunResult:
    """Evaluate every utterance through every codec into `out_dir` (resuming what is there) and write the report.

    cache_dir: True for the default cache folder, a path for another, None/False to disable caching.
    checkpoint: the LFSC checkpoint for codecs that take one (default: the configured one).
    progress(done, total, message) is called after each (utterance, codec) pair; setting `cancel` stops the
    run after the pair in progress (rows already written stay valid and a later run resumes). An utterance whose
    audio cannot be read (damaged, cut off, NaN samples) is skipped and named in `skipped.json` and the report;
    the run goes on, and a later run tries it again.
    The run holds `out_dir`'s lock throughout, adds to its rows only when they were computed with this run's
    configuration (`run_folder.resume`), and never writes over its inputs: the utterances' audio and `protect`
    (e.g. the manifest).
    """
    if not utterances:
        raise UserError("nothing to evaluate: the input lists no utterances")
    if not codec_names:
        raise UserError("no codec given: name at least one (see `lfsc-codec list`)")
    if jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {jobs}")
    metric_names = check_metrics(metrics)
    codecs = [build_codec(name, checkpoint) for name in dict.fromkeys(codec_names)]
    if asr_model is not None:
        asr.set_model_dir(asr_model)
    out = Path(out_dir)
    cache = Cache(default_dir() if cache_dir is True else (Path(cache_dir) if cache_dir else None))
    if cache.root is not None:  # a cache path that cannot be a folder is said now, before the run folder is touched
        if cache.root.exists() and not cache.root.is_dir():
            raise UserError(f"{cache.root}: is a file, not a folder: give a folder for the cache (--cache), or --no-cache")
        cache.root.mkdir(parents=True, exist_ok=True)
    run_folder.prepare(out)
    with run_folder.locked(out):
        inputs = run_folder.check_outputs(out, [*(u.audio_path for u in utterances), *protect], keep_audio)
        previous = run_folder.resume(out, configuration(codecs, metric_names))
        write_text_atomic(out / RUN_MANIFEST,
                          json.dumps(run_manifest(codecs, metric_names, source, cache, jobs, previous), indent=2))
        result = _evaluate(utterances, codecs, out, metric_names, cache, keep_audio, jobs, inputs, progress, cancel,
                           show_progress_bar)
        if write_report and not result.cancelled:
            from eval.report import write_report as write

            write(out)
    return result


def _evaluate(utterances: list[Utterance], codecs: list[Codec], out: Path, metric_names: tuple[str, ...], cache: Cache,
              keep_audio: bool, jobs: int, inputs: frozenset[Path], progress: Progress | None,
              cancel: CancelFlag | None, show_progress_bar: bool) -> RunResult:
    """Every (utterance, codec) pair the folder does not have yet, into its rows (the caller holds its lock)."""
    rows = run_folder.RowWriter(out)
    runner = _Runner(out, metric_names, cache, keep_audio, jobs, inputs)
    keys = {c.name: (json.dumps(s, sort_keys=True) if (s := codec_settings(c)) is not None else None) for c in codecs}
    total = len(utterances) * len(codecs)
    done = sum(1 for u in utterances for c in codecs if (u.id, c.name) in rows.done)
    new = from_cache = 0
    cancelled = False
    listed = {utt.id for utt in utterances}
    skipped = {k: v for k, v in read_skipped(out).items() if k in listed}  # of this input, not yet read again
    skipped_now: dict[str, str] = {}
    bar = None
    if show_progress_bar:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=done, unit="pair", desc="evaluating", dynamic_ncols=True)

    def emit(row: dict) -> None:
        nonlocal done, new, from_cache
        rows.write(row)
        done += 1
        new += 1
        from_cache += bool(row["cached"])
        message = f"{row['utt_id']} / {row['codec']}"
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(message[-40:])
        if progress is not None:
            progress(done, total, message)

    def skip(utt: Utterance, pairs: int, reason: str) -> None:
        nonlocal done
        skipped[utt.id] = {"audio": str(utt.audio_path), "reason": reason}
        skipped_now[utt.id] = reason
        done += pairs
        if bar is not None:
            bar.update(pairs)
        if progress is not None:
            progress(done, total, f"{utt.id}: skipped, its audio cannot be read")

    try:
        for utt in utterances:
            todo = [c for c in codecs if (utt.id, c.name) not in rows.done]
            if not todo:
                skipped.pop(utt.id, None)  # read by an earlier run after all
                continue
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            try:
                audio = utt.load()
            except UserError as exc:
                skip(utt, len(todo), str(exc))
                continue
            skipped.pop(utt.id, None)
            ref, sr = audio.samples, audio.sample_rate
            ref_sha = audio_sha256(ref, sr)
            asr_utt = runner.want_asr and bool(utt.text.strip())
            original = runner.original_hypothesis(utt, ref_sha) if asr_utt else None
            asr_wanted = asr_utt and (original is None or "text" in original)
            embedding: list[np.ndarray | str] = []

            def ref_embedding() -> np.ndarray:
                if not embedding:  # shared with the report's chance levels through the cache
                    embedding.append(speaker_chance.reference_embedding(ref_sha, ref, sr, cache))
                if isinstance(embedding[0], str):
                    raise ValueError(embedding[0])
                return embedding[0]

            started = []
            for codec in todo:
                if cancel is not None and cancel.is_set():
                    cancelled = True
                    break
                started.append(runner.start_unit(utt, ref, sr, ref_sha, codec, keys[codec.name], asr_wanted,
                                                 ref_embedding))
            runner.transcribe(utt, ref, sr, ref_sha, original, started)
            for unit in started:
                row = runner.finish_unit(unit, ref, sr)
                if row is not None:
                    emit(row)
                for finished in runner.drain(block=len(runner.pending) >= 2 * jobs):
                    emit(finished)
            if cancelled:
                break
        while runner.pending:
            for finished in runner.drain(block=True):
                emit(finished)
    finally:
        runner.close()
        rows.close()
        run_folder.write_skipped(out, skipped)
        if bar is not None:
            bar.close()
    return RunResult(out, len(rows.done), new, from_cache, cancelled, cache.hits, cache.misses, skipped_now)
