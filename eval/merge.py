"""`lfsc-eval merge`: the run folders of one evaluation made in parts (shards of a Slurm array, eval.shards, or
runs on several machines) joined into a new run folder with the same report a single run would have.

The runs must share their configuration (run.json's "configuration": the codecs and their settings, the metrics
and their versions, the normaliser, the sanity checks, the resampler; the same that `run_folder.resume` demands of
a run adding to a folder), and their codecs must be the same. A pair (utterance, codec) that two runs both hold
must agree on everything but how it was produced (its times, whether it came from the cache, where its decoded
audio was kept). The merged folder is new: it is built under a temporary name beside it and renamed into place,
so it never replaces a run and is never seen half written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

from codec.errors import UserError
from codec.files import write_text_atomic
from eval import run_folder
from eval.report import Run, write_report
from eval.row import Row

HOW_PRODUCED = ("cached", "seconds", "rtf", "encode_seconds", "decode_seconds", "decoded_audio")  # not the numbers


def merge(runs: list[Path], out: Path) -> Run:
    """Merge the run folders `runs` into the new folder `out` and write its report."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: already exists: give a new folder for the merged run (--out)")
    if len({r.resolve() for r in runs}) < len(runs):
        raise UserError("a run folder is named twice: name each run once")
    manifests = [_manifest(r) for r in runs]
    _check_same_configuration(runs, manifests)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.merging-{os.getpid()}"
    with contextlib.ExitStack() as held:
        for r in runs:  # no run may write its folder while it is read
            held.enter_context(run_folder.locked(r))
        rows = _rows(runs)
        try:
            _write(staging, runs, manifests, rows)
            os.rename(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    with run_folder.locked(out):
        return write_report(out)


def _manifest(run: Path) -> dict:
    """A run folder's run.json, which a folder to merge must have, with rows."""
    manifest = run_folder.read_manifest(run) if run.is_dir() else None
    if manifest is None or not run_folder.has_rows(run):
        raise UserError(f"{run}: not an lfsc-eval run folder with rows (no {run_folder.RUN_MANIFEST} or "
                        f"{run_folder.ROWS}): name the --out folders of the runs to merge")
    configuration = manifest.get("configuration")
    if not isinstance(configuration, dict) or not isinstance(configuration.get("codecs"), dict):
        raise UserError(f"{run}: its run.json does not record the configuration of its numbers (an older "
                        "lfsc-eval): run it again to merge it")
    return manifest


def _check_same_configuration(runs: list[Path], manifests: list[dict]) -> None:
    """Refuse runs whose numbers come from different configurations, naming the first difference found."""
    first = manifests[0]["configuration"]
    for run, manifest in zip(runs[1:], manifests[1:]):
        other = manifest["configuration"]
        if set(other["codecs"]) != set(first["codecs"]):
            raise UserError(f"{run}: its codecs ({', '.join(other['codecs'])}) are not those of {runs[0]} "
                            f"({', '.join(first['codecs'])}): merge runs of the same codecs")
        differing = run_folder.configuration_differences(first, other)
        if differing:
            raise UserError(f"{run}: its numbers were computed with other settings than {runs[0]}'s "
                            f"({'; '.join(differing)}): merge runs made with the same settings")


def _rows(runs: list[Path]) -> dict[tuple[str, str], tuple[Row, Path]]:
    """Every run's rows by (utterance, codec), with the run each came from; two that disagree are refused."""
    merged: dict[tuple[str, str], tuple[Row, Path]] = {}
    for run in runs:
        for row in run_folder.read_rows(run).rows:
            if row.key not in merged:
                merged[row.key] = (row, run)
                continue
            before, where = merged[row.key]
            if _numbers(before) != _numbers(row):
                differing = sorted(k for k in _numbers(row) | _numbers(before)
                                   if _numbers(row).get(k) != _numbers(before).get(k))
                raise UserError(f"{row.utt_id} / {row.codec}: {where} and {run} both hold it, with different "
                                f"{', '.join(differing)}: merge runs that do not disagree")
    return merged


def _numbers(row: Row) -> dict:
    """What a row says about the utterance and codec, without how it was produced."""
    return {k: v for k, v in row.to_json().items() if k not in HOW_PRODUCED}


def _write(folder: Path, runs: list[Path], manifests: list[dict], rows: dict) -> None:
    """The merged run folder: rows (with their kept audio), the utterances no run could read, run.json."""
    folder.mkdir()
    writer = run_folder.RowWriter(folder)
    try:
        for row, run in rows.values():
            kept = run_folder.kept_audio(row.codec, row.utt_id)
            row.decoded_audio = kept if row.decoded_audio and (run / kept).is_file() else None
            if row.decoded_audio:
                (folder / kept).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(run / kept, folder / kept)
            writer.write(row)
    finally:
        writer.close()
    utterances = {utt for utt, _ in rows}
    skipped = {}
    for run in runs:
        skipped.update({k: v for k, v in run_folder.read_skipped(run).items() if k not in utterances})
    run_folder.write_skipped(folder, skipped)
    write_text_atomic(folder / run_folder.RUN_MANIFEST, json.dumps(_merged_manifest(runs, manifests, rows), indent=2))


def _merged_manifest(runs: list[Path], manifests: list[dict], rows: dict) -> dict:
    """The first run's run.json, saying it is a merge: its inputs, devices and engines, and each run merged."""
    counts = {run: 0 for run in runs}
    for _, run in rows.values():
        counts[run] += 1
    codecs: list[dict] = []
    for manifest in manifests:
        codecs = run_folder.merged_codecs({"codecs": codecs}, manifest.get("codecs", []))
    merged = {**manifests[0], "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": sys.argv, "codecs": codecs}
    for key in ("input", "device", "engine"):
        merged[key] = " + ".join(dict.fromkeys(str(m.get(key, "")) for m in manifests))
    merged["merged_from"] = [{"folder": str(run.resolve()), "rows_used": counts[run],
                              **{k: m.get(k) for k in ("input", "created", "engine", "jobs", "device")}}
                             for run, m in zip(runs, manifests)]
    return merged
