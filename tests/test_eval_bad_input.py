"""`lfsc-eval run` against bad input: every case exits 2 with one line, no traceback and nothing written or
replaced (tests/cli_contract.refused, watching the inputs' folders), and where the input is legitimate (absolute or
`../` paths, adding a codec, a second run at once) it succeeds without touching an input or counting a row twice."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cli_contract import REPO, refused, run_tool, snapshot
from codec.errors import UserError, user_message
from eval import run_folder
from eval.manifest import load_folder, load_manifest
from eval.report import load_run
from eval.row import Row
from eval.run_folder import LOCK, ROWS, RUN_MANIFEST, RowWriter
from eval.runner import run

TONE = (0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype(np.float32)


def cheap(*extra: object, metrics: tuple[str, ...] = ("si_sdr",)) -> list[object]:
    """`lfsc-eval run` with the identity codec and one cheap metric, plus `extra`."""
    return ["run", "--codec", "identity", "--metrics", *metrics, *extra]


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / ROWS).read_text().splitlines()]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Two 1 s recordings under audio/ and a manifest beside them that lists them by relative path."""
    root = tmp_path_factory.mktemp("inputs")
    (root / "audio").mkdir()
    sf.write(root / "audio" / "a.wav", TONE, 16000, subtype="PCM_16")
    sf.write(root / "audio" / "b.wav", 0.5 * TONE, 16000, subtype="PCM_16")
    lines = [{"audio_filepath": f"audio/{n}.wav", "text": "a tone", "lang": "en"} for n in "ab"]
    (root / "m.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return root


@pytest.fixture(scope="module")
def finished(inputs, tmp_path_factory) -> Path:
    """A finished run of the manifest (identity, SI-SDR), to be copied by the tests that resume one."""
    out = tmp_path_factory.mktemp("finished") / "run"
    done = run_tool("lfsc-eval", *cheap("--manifest", inputs / "m.jsonl", "--no-cache", "--out", out))
    assert done.returncode == 0, done.stderr
    return out


def copy_of(finished: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    return out


def entry(path: object, **extra) -> bytes:
    return (json.dumps({"audio_filepath": str(path), "text": "a tone", "lang": "en", **extra}) + "\n").encode()


# ---- the manifest ------------------------------------------------------------------------------------------------
MANIFESTS = {  # name: (the manifest's bytes, given the audio's folder; what the error line says)
    "not JSON": (lambda a: b'{"audio_filepath": "', "not valid JSON"),
    "a line that is not an object": (lambda a: b'["a.wav", "a tone", "en"]\n', "must be a JSON object"),
    "missing fields": (lambda a: json.dumps({"audio_filepath": str(a / "a.wav")}).encode(), "missing required key"),
    "wrong types": (lambda a: entry(a / "a.wav", text=["a", "tone"]), "'text' must be a string"),
    "a path that is a number": (lambda a: json.dumps({"audio_filepath": 7, "text": "", "lang": "en"}).encode(),
                                "'audio_filepath' must be a non-empty string"),
    "an unknown language": (lambda a: entry(a / "a.wav", lang="english"), "unknown language code"),
    "a duration that is text": (lambda a: entry(a / "a.wav", duration="1 s"), "'duration' must be a number"),
    "a number past any float": (lambda a: entry(a / "a.wav", duration=10**400), "'duration' must be a number"),
    "a number of 5000 digits": (lambda a: entry(a / "a.wav")[:-2] + b', "duration": ' + b"9" * 5000 + b"}\n",
                                "not a usable JSON line"),
    "nesting past the recursion limit": (lambda a: b"[" * 200_000, "not a usable JSON line"),
    "a huge line": (lambda a: entry(a / "a.wav", text="x" * (2 << 20)), "longer than 1 MiB"),
    "binary garbage": (lambda a: bytes(range(128, 256)) * 16, "not UTF-8"),
    "an empty file": (lambda a: b"", "lists no utterances"),
    "a NUL in a path": (lambda a: entry(f"{a}/a.wav\x00"), "NUL"),
    "a lone surrogate": (lambda a: entry(a / "a.wav", text="\ud800"), "surrogate"),
    "a missing audio file": (lambda a: entry(a / "gone.wav"), "does not exist"),
    "an audio path too long for the system": (lambda a: entry("x" * 5000 + ".wav"), "cannot be used"),
    "an utterance listed twice": (lambda a: entry(a / "a.wav") * 2, "already listed on line 1"),
}


@pytest.mark.parametrize("case", list(MANIFESTS))
def test_a_bad_manifest_is_refused_in_one_line(case, inputs, tmp_path):
    make, says = MANIFESTS[case]
    manifest = tmp_path / "m.jsonl"
    manifest.write_bytes(make(inputs / "audio"))
    line = refused("lfsc-eval", *cheap("--manifest", manifest, "--no-cache", "--out", tmp_path / "out"),
                   watch=[tmp_path, inputs])
    assert says in line


ARGUMENTS = {  # name: (the arguments after `run`, given the inputs and a scratch folder; what the error line says)
    "a folder given as manifest": (lambda i, t: cheap("--manifest", i / "audio", "--no-cache", "--out", t / "out"),
                                   "is a folder, not a manifest"),
    "a manifest that is not there": (lambda i, t: cheap("--manifest", t / "none.jsonl", "--no-cache", "--out", t / "o"),
                                     "manifest not found"),
    "an unknown metric": (lambda i, t: cheap("--manifest", i / "m.jsonl", "--no-cache", "--out", t / "out",
                                             metrics=("pesq_xb",)), "unknown metric 'pesq_xb'"),
    "an unknown codec": (lambda i, t: ["run", "--codec", "no-such", "--metrics", "si_sdr", "--manifest", i / "m.jsonl",
                                       "--no-cache", "--out", t / "out"], "no-such"),
    "--jobs 0": (lambda i, t: cheap("--manifest", i / "m.jsonl", "--no-cache", "--jobs", "0", "--out", t / "out"),
                 "--jobs must be at least 1"),
    "--limit 0": (lambda i, t: cheap("--manifest", i / "m.jsonl", "--no-cache", "--limit", "0", "--out", t / "out"),
                  "--limit must be at least 1"),
    "--out inside the --folder it reads": (lambda i, t: cheap("--folder", i / "audio", "--lang", "en", "--no-cache",
                                                             "--out", i / "audio" / "run"), "inside the --folder"),
    "a shard outside its count": (lambda i, t: cheap("--manifest", i / "m.jsonl", "--no-cache", "--shard", "3/2",
                                                     "--out", t / "out"), "--shard 3/2"),
    "a Ray address where no cluster answers": (lambda i, t: cheap("--manifest", i / "m.jsonl", "--no-cache", "--engine",
                                                                  "ray", "--address", "127.0.0.1:9", "--out", t / "out"),
                                               "cannot reach a Ray cluster at 127.0.0.1:9"),
    "a corpus manifest over an existing file": (lambda i, t: ["manifest", "--corpus", "daps", "--root", i / "audio",
                                                              "--out", i / "m.jsonl"], "already exists"),
    "a corpus root that is not there": (lambda i, t: ["manifest", "--corpus", "mls", "--root", t / "nowhere", "--out",
                                                      t / "new.jsonl"], "not a folder"),
    "a merge into an existing file": (lambda i, t: ["merge", "--out", i / "m.jsonl", i / "audio"], "already exists"),
}


@pytest.mark.parametrize("case", list(ARGUMENTS))
def test_bad_arguments_are_refused_in_one_line(case, inputs, tmp_path):
    make, says = ARGUMENTS[case]
    assert says in refused("lfsc-eval", *make(inputs, tmp_path), watch=[tmp_path, inputs])


# ---- where the run writes ----------------------------------------------------------------------------------------
def _file(t: Path) -> Path:
    (t / "file").write_text("a file")
    return t / "file"


def _mine(t: Path) -> Path:
    (t / "mine").mkdir()
    (t / "mine" / "summary.md").write_text("my own notes")
    return t / "mine"


PLACES = {  # name: (--out and --cache, given a scratch folder; what the error line says)
    "--out that is a file": (lambda t: ["--out", _file(t), "--no-cache"], "is a file, not a folder"),
    "--out under a file": (lambda t: ["--out", _file(t) / "run", "--no-cache"], "a part of this path is a file"),
    "--out a folder of other things": (lambda t: ["--out", _mine(t), "--no-cache"], "not an lfsc-eval run folder"),
    "--cache that is a file": (lambda t: ["--out", t / "run", "--cache", _file(t)], "is a file, not a folder"),
    "--cache under a file": (lambda t: ["--out", t / "run", "--cache", _file(t) / "cache"], "a part of this path is a file"),
}


@pytest.mark.parametrize("case", list(PLACES))
def test_a_place_the_run_cannot_write_is_refused_in_one_line(case, inputs, tmp_path):
    make, says = PLACES[case]
    assert says in refused("lfsc-eval", *cheap("--manifest", inputs / "m.jsonl", *make(tmp_path)),
                           watch=[tmp_path, inputs])


def test_absolute_paths_with_keep_audio_evaluate_and_keep_the_scored_audio_inside_the_run(inputs, tmp_path):
    """NeMo manifests hold absolute paths: the source recordings stay as they were, the kept audio goes under
    --out by a name the tool makes, as float32 WAV of exactly the samples that were scored."""
    manifest = tmp_path / "lists" / "m.jsonl"
    manifest.parent.mkdir()
    manifest.write_bytes(entry(inputs / "audio" / "a.wav") + entry(inputs / "audio" / "b.wav"))
    before = snapshot(inputs)
    done = run_tool("lfsc-eval", *cheap("--manifest", manifest, "--keep-audio", "--no-cache", "--out", tmp_path / "out"))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert snapshot(inputs) == before
    got = rows(tmp_path / "out")
    assert len(got) == 2
    for row in got:
        kept = (tmp_path / "out" / row["decoded_audio"]).resolve()
        assert kept.is_relative_to((tmp_path / "out" / "audio").resolve())
        info = sf.info(kept)
        assert (info.format, info.subtype) == ("WAV", "FLOAT")
        samples, rate = sf.read(kept, dtype="float32")
        source, _ = sf.read(row["reference_audio"], dtype="float32")
        assert rate == 16000 and np.array_equal(samples, source)  # identity: what was scored is the source itself
    csv = (tmp_path / "out" / "rows.csv").read_text()
    assert all(row["decoded_audio"] in csv for row in got)
    pytest.importorskip("PySide6")
    from workbench.reports import load_report, row_audio

    for shown in load_report(tmp_path / "out").rows:  # the app's report tab opens a row with its kept audio
        clip, decoded = row_audio(shown)
        assert np.array_equal(decoded, clip.samples)


def test_dot_dot_paths_and_ids_write_nothing_outside_the_run(inputs, tmp_path):
    """An audio path with ../ (and so an utterance id with ../) names what is read, never where the run writes."""
    lists = tmp_path / "lists" / "deeper"
    lists.mkdir(parents=True)
    relative = os.path.relpath(inputs / "audio" / "a.wav", lists)
    assert relative.startswith("..")
    (lists / "m.jsonl").write_bytes(entry(relative))
    outside = snapshot(inputs, tmp_path / "lists")
    run(load_manifest(lists / "m.jsonl"), ["identity"], tmp_path / "out", metrics=["si_sdr"], keep_audio=True,
        cache_dir=None)
    assert snapshot(inputs, tmp_path / "lists") == outside
    (row,) = rows(tmp_path / "out")
    assert row["utt_id"].startswith("..") and ".." not in row["decoded_audio"].split("/")


def test_a_file_the_run_writes_that_is_an_input_is_refused(inputs, finished, tmp_path):
    """A manifest kept in a run folder under a name the run writes there, or audio in the folder's audio/ with
    --keep-audio: the run would replace its own input."""
    out = copy_of(finished, tmp_path)
    shutil.copy(inputs / "audio" / "a.wav", out / "a.wav")
    (out / "summary.md").write_bytes(entry(out / "a.wav"))
    says = refused("lfsc-eval", *cheap("--manifest", out / "summary.md", "--no-cache", "--out", out), watch=[tmp_path])
    assert "is an input of this run" in says
    (out / "audio").mkdir()
    shutil.copy(inputs / "audio" / "a.wav", out / "audio" / "a.wav")
    (tmp_path / "m.jsonl").write_bytes(entry(out / "audio" / "a.wav"))
    says = refused("lfsc-eval", *cheap("--manifest", tmp_path / "m.jsonl", "--no-cache", "--keep-audio", "--out", out),
                   watch=[tmp_path])
    assert "lies in the audio the run keeps" in says


@pytest.mark.parametrize("link", ["symbolic", "hard"])
@pytest.mark.parametrize("name", [LOCK, ROWS])
def test_a_run_file_planted_as_a_link_to_an_input_leaves_the_input_whole(inputs, finished, tmp_path, name, link):
    """A run folder whose run.lock (or rows.jsonl) is a link to the manifest: the lock is emptied and the rows
    appended to once opened, so the link is refused before either, whether symbolic or hard."""
    manifest = tmp_path / "lists" / "m.jsonl"
    manifest.parent.mkdir()
    manifest.write_bytes((inputs / "m.jsonl").read_bytes().replace(b"audio/", str(inputs / "audio").encode() + b"/"))
    out = copy_of(finished, tmp_path)
    (out / name).unlink(missing_ok=True)
    (out / name).symlink_to(manifest) if link == "symbolic" else os.link(manifest, out / name)
    before = manifest.read_bytes()
    refused("lfsc-eval", *cheap("--manifest", manifest, "--no-cache", "--out", out), watch=[inputs, tmp_path / "lists"])
    assert manifest.read_bytes() == before


# ---- one run at a time, one configuration a folder ---------------------------------------------------------------
def test_a_folder_another_run_holds_is_refused_naming_the_holder(inputs, finished, tmp_path):
    out = copy_of(finished, tmp_path)
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"pid 4242 on testhost, started 2026-01-01 00:00:00")
        says = refused("lfsc-eval", *cheap("--manifest", inputs / "m.jsonl", "--no-cache", "--out", out),
                       watch=[tmp_path, inputs])
    finally:
        os.close(fd)
    assert "in use by another run (pid 4242 on testhost, started 2026-01-01 00:00:00)" in says


def test_two_runs_at_once_on_one_folder_write_each_row_once(inputs, tmp_path):
    """Before the lock both runs wrote every row (36 rows for 18); now the second is refused, or finds the first's
    rows done if it starts after the first has ended."""
    command = [sys.executable, "-m", "eval.cli", *map(str, cheap("--manifest", inputs / "m.jsonl", "--no-cache",
                                                                 "--out", tmp_path / "run"))]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    both = [subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [(p.wait(timeout=180), p.stderr.read()) for p in both]
    assert sorted(code for code, _ in results)[0] == 0, results
    for code, stderr in results:
        assert code == 0 or (code == 2 and "in use by another run (pid " in stderr), stderr
    keys = [(r["utt_id"], r["codec"]) for r in rows(tmp_path / "run")]
    assert len(keys) == len(set(keys)) == 2
    assert load_run(tmp_path / "run").summary["codecs"]["identity"]["n"] == 2


def test_duplicated_rows_count_once_and_the_report_says_so(inputs, finished, tmp_path):
    """A folder two runs wrote at once before the lock existed: each pair counts once, the first row is kept."""
    out = copy_of(finished, tmp_path)
    lines = (out / ROWS).read_text().splitlines()
    doubled = [json.dumps({**json.loads(line), "metrics": {"si_sdr": -99.0}}) for line in lines]
    (out / ROWS).write_text("\n".join(lines + doubled + ["{cut short"]) + "\n")
    read = run_folder.read_rows(out)
    assert (len(read.rows), read.duplicates, read.unreadable) == (2, 2, 1)
    summary = load_run(out).summary["codecs"]["identity"]
    assert summary["n"] == 2 and summary["metrics"]["si_sdr"]["value"] > 50  # the first rows, not the -99s
    assert run(load_manifest(inputs / "m.jsonl"), ["identity"], out, metrics=["si_sdr"], cache_dir=None).rows_new == 0
    summary = (out / "summary.md").read_text()
    assert "2 duplicated row(s) in rows.jsonl left out" in summary and "1 line(s) of rows.jsonl" in summary


def _other_checkpoint(out: Path) -> None:
    manifest = json.loads((out / RUN_MANIFEST).read_text())
    manifest["configuration"]["codecs"]["identity"]["checkpoint_sha256"] = "0" * 64
    (out / RUN_MANIFEST).write_text(json.dumps(manifest))


def _older_lfsc_eval(out: Path) -> None:
    manifest = json.loads((out / RUN_MANIFEST).read_text())
    del manifest["configuration"]
    (out / RUN_MANIFEST).write_text(json.dumps(manifest))


MISMATCHES = {  # name: (how the folder differs, the metrics this run asks for, what the error line says)
    "other metrics": (lambda out: None, ("si_sdr", "stoi"), "metrics: [si_sdr] in the folder, [si_sdr, stoi] now"),
    "another version of a metric": (
        lambda out: _edit(out, lambda c: c["metrics"].update(si_sdr="si_sdr/0/sanity/1")), ("si_sdr",),
        "metrics: the versions of si_sdr differ"),
    "other codec settings (another checkpoint)": (_other_checkpoint, ("si_sdr",), "codec identity: checkpoint_sha256 differ"),
    "another text normaliser": (lambda out: _edit(out, lambda c: c.update(normaliser="old")), ("si_sdr",),
                                "normaliser differs"),
    "other sanity checks": (lambda out: _edit(out, lambda c: c["sanity"].update(max_delay_s=1.0)), ("si_sdr",),
                            "sanity: max_delay_s differ"),
    "a folder from an older lfsc-eval": (_older_lfsc_eval, ("si_sdr",), "older lfsc-eval"),
    "a damaged run.json": (lambda out: (out / RUN_MANIFEST).write_text("{"), ("si_sdr",), "run.json: damaged"),
}


def _edit(out: Path, change) -> None:
    manifest = json.loads((out / RUN_MANIFEST).read_text())
    change(manifest["configuration"])
    (out / RUN_MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("case", list(MISMATCHES))
def test_a_folder_whose_rows_came_from_other_settings_is_refused_saying_what_differs(case, inputs, finished, tmp_path):
    """Resuming would keep the folder's rows while run.json named this run's settings: numbers credited to settings
    that did not produce them. (In this process, the runner the CLI and the app call; the CLI's line: below.)"""
    change, metrics, says = MISMATCHES[case]
    out = copy_of(finished, tmp_path)
    change(out)
    before = snapshot(tmp_path, inputs)
    with pytest.raises(UserError) as info:
        run(load_manifest(inputs / "m.jsonl"), ["identity"], out, metrics=metrics, cache_dir=None)
    assert snapshot(tmp_path, inputs) == before
    line = user_message(info.value)
    assert says in line and "another --out" in line


def test_the_cli_refuses_a_run_folder_of_another_checkpoint_in_one_line(inputs, finished, tmp_path):
    out = copy_of(finished, tmp_path)
    _other_checkpoint(out)
    line = refused("lfsc-eval", *cheap("--manifest", inputs / "m.jsonl", "--no-cache", "--out", out),
                   watch=[tmp_path, inputs])
    assert "codec identity: checkpoint_sha256 differ" in line and "another --out" in line


def test_adding_a_codec_resumes_and_the_folder_keeps_every_codecs_settings(inputs, finished, tmp_path):
    """The same run with a codec more adds its rows; a later run of one codec of the folder finds its rows done."""
    out, utts = copy_of(finished, tmp_path), load_manifest(inputs / "m.jsonl")
    assert run(utts, ["identity", "lowpass-7k"], out, metrics=["si_sdr"], cache_dir=None).rows_new == 2
    assert run(utts, ["lowpass-7k"], out, metrics=["si_sdr"], cache_dir=None).rows_new == 0
    manifest = json.loads((out / RUN_MANIFEST).read_text())
    assert list(manifest["configuration"]["codecs"]) == ["identity", "lowpass-7k"]
    assert [c["name"] for c in manifest["codecs"]] == ["identity", "lowpass-7k"]
    assert sorted(load_run(out).summary["codecs"]) == ["identity", "lowpass-7k"]


def test_a_cut_off_recording_is_skipped_and_named_not_scored_shorter(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "whole.wav", TONE, 16000, subtype="PCM_16")
    sf.write(folder / "cut.wav", np.tile(TONE, 2), 16000, subtype="PCM_16")
    data = (folder / "cut.wav").read_bytes()
    (folder / "cut.wav").write_bytes(data[: 44 + (len(data) - 44) // 2])  # its header still promises 2 s
    result = run(load_folder(folder, "en"), ["identity"], tmp_path / "run", metrics=["si_sdr"], cache_dir=None)
    assert list(result.skipped) == ["cut"] and "header promises 2.00 s of audio but the file holds only 1.00 s" in result.skipped["cut"]
    assert [r["utt_id"] for r in rows(tmp_path / "run")] == ["whole"]
    assert "| cut | " in (tmp_path / "run" / "summary.md").read_text()  # named in the report


# ---- file-system faults ------------------------------------------------------------------------------------------
def test_a_full_disk_while_a_row_is_written_leaves_no_part_of_it(finished, tmp_path, monkeypatch):
    """Half a row written when the disk fills: the file is as it was, and the error is one line a user can act on.
    (os.write is made to fail in this process: what a full disk does to the writer, without filling a disk.)"""
    out = copy_of(finished, tmp_path)
    before = (out / ROWS).read_bytes()
    writer = RowWriter(out)
    real_write = os.write

    def half_then_full(fd: int, data) -> int:
        if len(data) > 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out / ROWS))

    monkeypatch.setattr(run_folder.os, "write", half_then_full)
    with pytest.raises(OSError) as info:
        writer.write(Row(utt_id="c", codec="identity"))
    monkeypatch.undo()
    writer.close()
    assert (out / ROWS).read_bytes() == before
    assert "the disk is full" in user_message(info.value)


def _namespace(script: str) -> subprocess.CompletedProcess:
    """Run a shell script as root of a user and mount namespace of its own (where it may mount); skip without one."""
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no user and mount namespaces here (unshare -rm)")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=180)


def test_a_read_only_run_folder_is_refused_in_one_line_and_stays_as_it_was(inputs, finished, tmp_path):
    """A real read-only mount (root ignores chmod, so a bind mount made read-only in a namespace of its own)."""
    out = copy_of(finished, tmp_path)
    before = snapshot(out)
    done = _namespace(f"mount --bind {out} {out} && mount -o remount,bind,ro {out} && exec {sys.executable} -m eval.cli "
                      + " ".join(map(str, cheap("--manifest", inputs / "m.jsonl", "--codec", "lowpass-7k", "--no-cache",
                                                "--out", out))))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines() == [f"lfsc-eval: error: {out / LOCK}: the file system is read-only: write elsewhere"]
    assert snapshot(out) == before


def test_a_disk_that_fills_during_a_run_is_one_line_and_the_runs_files_survive_whole(inputs, finished, tmp_path):
    """A real full disk: a 1 MiB tmpfs holding a finished run and a filler, then a run that adds a codec and keeps
    its audio (~64 kB a clip). Its files are checked in the namespace, before the tmpfs goes."""
    names = " ".join(sorted(p.name for p in finished.iterdir() if p.is_file()))
    sums = {name: sha(finished / name) for name in names.split() if name not in ("run.json", "run.lock")}
    disk = tmp_path / "disk"
    disk.mkdir()
    command = " ".join(map(str, ["run", "--codec", "identity", "--codec", "lowpass-7k", "--metrics", "si_sdr",
                                 "--manifest", inputs / "m.jsonl", "--no-cache", "--keep-audio", "--out", disk / "run"]))
    done = _namespace(
        f"mount -t tmpfs -o size=1m tmpfs {disk} && cp -r {finished} {disk}/run && "
        f"head -c $(( $(stat -f -c '%a*%S' {disk}) - 40000 )) /dev/zero > {disk}/filler; "
        f"{sys.executable} -m eval.cli {command}; echo rc=$? 1>&2; cd {disk}/run && sha256sum {names} && "
        f"find . -name '*.partial*' | sed 's/^/partial: /'; tail -c 1 rows.jsonl | od -c | head -1")
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("evaluating:")]  # tqdm's
    assert "Traceback" not in done.stderr and lines[-1] == "rc=2", done.stderr
    assert len(lines) == 2 and "the disk is full" in lines[0], done.stderr
    survived = dict(reversed(line.split()) for line in done.stdout.splitlines() if line.count(" ") == 2 and "  " in line)
    assert {name: survived.get(name) for name in sums} == sums, done.stdout  # the old run's files, whole
    assert "partial: " not in done.stdout, done.stdout
    assert "\\n" in done.stdout.splitlines()[-1]  # rows.jsonl still ends with a whole row
