"""Batch runner end to end on the bundled speech: identity sanity, Codec2 ordering, failures, resume, cache, reports."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf

from codec.audio import save_audio
from eval.manifest import load_folder
from eval.report import compare, load_run
from eval.run_folder import ROWS
from eval.runner import run
from eval_assets import manifest_path, utterances

FAST = ["pesq_nb", "stoi"]
REPO = Path(__file__).resolve().parent.parent


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / ROWS).read_text().splitlines()]


def test_identity_run_reads_perfect_on_every_metric(tmp_path):
    utts = utterances(count=3)
    result = run(utts, ["identity"], tmp_path / "run", cache_dir=tmp_path / "cache", keep_audio=True)
    assert result.rows_total == 3 and not result.cancelled
    for row in _rows(tmp_path / "run"):
        m = row["metrics"]
        assert row["missing"] == {}, row["missing"]
        assert m["pesq_wb"] == pytest.approx(4.644, abs=0.01)
        assert m["pesq_nb"] == pytest.approx(4.549, abs=0.01)
        assert m["stoi"] == pytest.approx(1.0, abs=1e-6) and m["estoi"] == pytest.approx(1.0, abs=1e-6)
        assert m["speaker_sim"] == pytest.approx(1.0, abs=1e-5)
        assert m["mel_distance"] == 0.0 and m["stft_distance"] == 0.0
        assert m["dcer"] == 0.0 and m["cer"] == m["cer_orig"]
        assert m["f0_rmse"] == 0.0 and m["f0_corr"] == pytest.approx(1.0) and m["vuv_error"] == 0.0
        assert row["sanity"]["delay_samples"] == 0 and (tmp_path / "run" / row["decoded_audio"]).is_file()
    run_ = load_run(tmp_path / "run")
    assert run_.summary["codecs"]["identity"]["corpus"]["dcer"] == 0.0
    for name in ("rows.csv", "summary.json", "summary.md", "report.html"):
        assert (tmp_path / "run" / name).stat().st_size > 0
    html = (tmp_path / "run" / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 2 and "GE2E speaker similarity (resemblyzer 0.1.4)" in html


def test_codec2_3200_beats_700c_on_pesq_nb_and_cer(tmp_path):
    utts = utterances(lang="en", count=4)
    for codec in ("codec2-3200", "codec2-700c"):
        run(utts, [codec], tmp_path / codec, metrics=["pesq_nb", "cer"], cache_dir=tmp_path / "cache")
    good = load_run(tmp_path / "codec2-3200").summary["codecs"]["codec2-3200"]
    bad = load_run(tmp_path / "codec2-700c").summary["codecs"]["codec2-700c"]
    assert good["metrics"]["pesq_nb"]["value"] > bad["metrics"]["pesq_nb"]["value"] + 0.3
    assert good["corpus"]["cer"]["value"] < bad["corpus"]["cer"]["value"]
    assert good["corpus"]["cer_orig"]["value"] == bad["corpus"]["cer_orig"]["value"]  # same originals, same floor
    pair = compare(tmp_path / "codec2-3200", tmp_path / "codec2-700c")["pairs"][0]
    assert (pair["codec_a"], pair["codec_b"], pair["utterances"]) == ("codec2-3200", "codec2-700c", 4)
    assert pair["metrics"]["pesq_nb"]["groups"]["en"]["high"] < 0  # every utterance loses PESQ-NB at 700C


def test_an_utterance_that_breaks_pesq_is_recorded_missing_and_the_run_goes_on(tmp_path):
    good = utterances(count=1)[0]
    folder = tmp_path / "in"
    folder.mkdir()
    os.symlink(good.audio_path, folder / f"speech{good.audio_path.suffix}")
    (folder / "speech.txt").write_text(good.text)
    save_audio(folder / "silence.wav", np.zeros(16000, dtype=np.float32), 16000)
    (folder / "silence.txt").write_text("nothing")
    result = run(load_folder(folder, good.lang), ["identity"], tmp_path / "run", metrics=["pesq_wb", "stoi", "si_sdr"], cache_dir=None)
    assert result.rows_total == 2
    rows = {r["utt_id"]: r for r in _rows(tmp_path / "run")}
    assert set(rows["silence"]["missing"]) == {"pesq_wb", "stoi", "si_sdr"} and rows["silence"]["metrics"] == {}
    assert "silent" in rows["silence"]["missing"]["pesq_wb"]
    assert rows["speech"]["metrics"]["pesq_wb"] > 4.6
    summary = load_run(tmp_path / "run").summary["codecs"]["identity"]["metrics"]["pesq_wb"]
    assert summary["n"] == 1 and summary["missing"] == 1 and summary["value"] == pytest.approx(rows["speech"]["metrics"]["pesq_wb"])


def test_an_unreadable_utterance_is_skipped_named_and_tried_again_by_the_next_run(tmp_path):
    """A file whose header reads but whose samples do not (NaN here) is skipped: the others are evaluated, the
    report and skipped.json name it, the exit status is 1; once repaired, the next run adds it."""
    folder = tmp_path / "in"
    folder.mkdir()
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype(np.float32)
    broken = tone.copy()
    broken[12000] = np.nan
    for name, samples in (("a", tone), ("b", broken), ("c", 0.5 * tone)):
        sf.write(folder / f"{name}.wav", samples, 16000, subtype="FLOAT")
        (folder / f"{name}.txt").write_text("a tone")
    cmd = [sys.executable, "-m", "eval.cli", "run", "--codec", "identity", "--folder", str(folder), "--lang", "en",
           "--metrics", "stoi", "--no-cache", "--out", str(tmp_path / "run")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    assert first.returncode == 1, first.stderr
    assert "skipped b: " in first.stderr and "0.750 s" in first.stderr and "Traceback" not in first.stderr
    assert sorted(r["utt_id"] for r in _rows(tmp_path / "run")) == ["a", "c"]
    assert list(json.loads((tmp_path / "run" / "skipped.json").read_text())) == ["b"]
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "not evaluated: 1 utterance(s)" in summary and "| b | " in summary
    assert load_run(tmp_path / "run").summary["codecs"]["identity"]["n"] == 2
    pytest.importorskip("PySide6")
    from workbench.reports import load_report

    assert "1 utterance(s) not evaluated" in load_report(tmp_path / "run").title  # what the app's report tab shows

    sf.write(folder / "b.wav", tone, 16000, subtype="FLOAT")
    second = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert sorted(r["utt_id"] for r in _rows(tmp_path / "run")) == ["a", "b", "c"]
    assert not (tmp_path / "run" / "skipped.json").exists()
    assert "not evaluated" not in (tmp_path / "run" / "summary.md").read_text()


def test_files_that_cannot_be_opened_or_are_too_short_for_a_metric_leave_the_run_going(tmp_path):
    """A 0-byte file is skipped and named (its header cannot be read); a 100-sample clip gets STOI recorded as
    missing; once the bad file is gone, the next run lists nothing as skipped."""
    folder = tmp_path / "in"
    folder.mkdir()
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype(np.float32)
    sf.write(folder / "good.wav", tone, 16000)
    sf.write(folder / "tiny.wav", tone[:100], 16000)
    (folder / "zero.wav").write_bytes(b"")
    result = run(load_folder(folder, "en"), ["identity"], tmp_path / "run", metrics=["stoi"], cache_dir=None)
    assert list(result.skipped) == ["zero"] and "not a readable audio file" in result.skipped["zero"]
    rows = {r["utt_id"]: r for r in _rows(tmp_path / "run")}
    assert set(rows) == {"good", "tiny"} and "at least 0.41 s" in rows["tiny"]["missing"]["stoi"]
    (folder / "zero.wav").unlink()
    again = run(load_folder(folder, "en"), ["identity"], tmp_path / "run", metrics=["stoi"], cache_dir=None)
    assert again.skipped == {} and load_run(tmp_path / "run").summary["skipped"] == {}


def test_a_skipped_entry_goes_once_the_utterance_has_every_row_the_run_asks_for(tmp_path):
    """Read by run 1 (identity), unreadable in run 2 (which adds an anchor), not needed by run 3 (identity only):
    run 3's report must not call it skipped."""
    folder = tmp_path / "in"
    folder.mkdir()
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype(np.float32)
    for name in ("a", "b"):
        sf.write(folder / f"{name}.wav", tone, 16000)
    out, args = tmp_path / "run", {"metrics": ["si_sdr"], "cache_dir": None}
    run(load_folder(folder, "en"), ["identity"], out, **args)
    (folder / "b.wav").write_bytes(b"RIFF and nothing else")
    assert list(run(load_folder(folder, "en"), ["identity", "lowpass-7k"], out, **args).skipped) == ["b"]
    assert run(load_folder(folder, "en"), ["identity"], out, **args).skipped == {}
    assert load_run(out).summary["skipped"] == {} and not (out / "skipped.json").exists()


def test_reports_list_codecs_in_the_runs_order_not_the_order_rows_finished(tmp_path):
    run(utterances(count=2), ["lowpass-7k", "identity"], tmp_path / "run", metrics=["si_sdr"], cache_dir=None)
    rows = (tmp_path / "run" / ROWS).read_text().splitlines()
    (tmp_path / "run" / ROWS).write_text("\n".join(reversed(rows)) + "\n")  # as a process pool may finish them
    assert list(load_run(tmp_path / "run").summary["codecs"]) == ["lowpass-7k", "identity"]


def test_a_runs_intervals_do_not_depend_on_the_order_its_rows_were_written(tmp_path):
    run(utterances(count=5), ["lowpass-3.5k"], tmp_path / "run", metrics=["si_sdr"], cache_dir=None)
    first = load_run(tmp_path / "run").summary["codecs"]["lowpass-3.5k"]["metrics"]["si_sdr"]
    rows = (tmp_path / "run" / ROWS).read_text().splitlines()
    (tmp_path / "run" / ROWS).write_text("\n".join(rows[2:] + rows[:2]) + "\n")  # as a process pool may finish them
    assert load_run(tmp_path / "run").summary["codecs"]["lowpass-3.5k"]["metrics"]["si_sdr"] == first


def test_a_second_run_hits_the_cache_and_only_a_new_codec_is_computed(tmp_path):
    utts = utterances(count=3)
    first = run(utts, ["identity"], tmp_path / "a", metrics=FAST, cache_dir=tmp_path / "cache")
    assert first.rows_from_cache == 0
    second = run(utts, ["identity"], tmp_path / "b", metrics=FAST, cache_dir=tmp_path / "cache")
    assert second.rows_new == 3 and second.rows_from_cache == 3
    assert [r["metrics"] for r in _rows(tmp_path / "a")] == [r["metrics"] for r in _rows(tmp_path / "b")]
    third = run(utts, ["identity", "codec2-1300"], tmp_path / "c", metrics=FAST, cache_dir=tmp_path / "cache")
    assert third.rows_new == 6 and third.rows_from_cache == 3
    assert {r["codec"] for r in _rows(tmp_path / "c") if not r["cached"]} == {"codec2-1300"}


def test_kill_and_resume_loses_nothing_and_duplicates_nothing(tmp_path):
    utterances(count=1)  # skips without the bundled set
    count = min(10, _manifest_len())
    out, cache = tmp_path / "run", tmp_path / "cache"
    cmd = [sys.executable, "-m", "eval.cli", "run", "--codec", "identity", "--codec", "codec2-3200", "--codec", "opus-6k",
           "--manifest", str(manifest_path()), "--limit", str(count), "--metrics", *FAST, "--out", str(out), "--cache", str(cache)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if (out / ROWS).is_file() and len((out / ROWS).read_bytes().splitlines()) >= 2:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = (out / ROWS).read_bytes().count(b"\n")
    expected = count * 3
    assert 2 <= partial < expected
    finished = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    rows = _rows(out)
    keys = [(r["utt_id"], r["codec"]) for r in rows]
    assert len(keys) == len(set(keys)) == expected


def _manifest_len() -> int:
    from eval.manifest import load_manifest

    return len(load_manifest(manifest_path()))


def test_cancel_stops_between_pairs_and_a_later_run_resumes(tmp_path):
    utts = utterances(count=3)

    class CancelAfterFirst:
        def __init__(self):
            self.calls = 0

        def is_set(self) -> bool:
            return self.calls >= 1

    flag = CancelAfterFirst()

    def progress(done, total, message):
        flag.calls += 1

    first = run(utts, ["identity"], tmp_path / "run", metrics=FAST, cache_dir=None, progress=progress, cancel=flag)
    assert first.cancelled and first.rows_total == 1
    second = run(utts, ["identity"], tmp_path / "run", metrics=FAST, cache_dir=None)
    assert not second.cancelled and second.rows_new == 2 and second.rows_total == 3


def test_cli_errors_are_one_line_and_exit_2(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ROWS).write_text("")  # a run killed before its first row
    for args in (["run", "--codec", "no-such-codec", "--manifest", str(manifest_path()), "--out", str(tmp_path / "x")],
                 ["run", "--codec", "identity", "--folder", str(tmp_path / "missing"), "--out", str(tmp_path / "y")],
                 ["run", "--codec", "identity", "--metrics", "pesq_xb", "--manifest", str(manifest_path()), "--out", str(tmp_path / "z")],
                 ["compare", str(tmp_path / "nope"), str(tmp_path / "nope")],
                 ["compare", str(tmp_path / "empty"), str(tmp_path / "empty")]):
        result = subprocess.run([sys.executable, "-m", "eval.cli", *args], cwd=REPO, env=env, capture_output=True, text=True)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("lfsc-eval: error: ")
    assert "holds no rows: let" in result.stderr  # the last: said as it is, not as "both hold several codecs"


def _pool_workers(pid: int) -> set[int]:
    """The live processes a run started with multiprocessing (its pool workers and their resource tracker)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue  # ended while we looked
        if int(parent) == pid and state != "Z" and b"multiprocessing" in command:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except OSError:
        return False


def _left_running(pids: set[int], seconds: float = 10) -> list[int]:
    """Those of `pids` still running `seconds` after their run ended: the resource tracker ends on its own a moment
    after its run does, and a worker when its watch sees the run gone."""
    deadline = time.time() + seconds
    while time.time() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.05)
    return [pid for pid in pids if _alive(pid)]


def _start_pool_run(out: Path, **popen) -> subprocess.Popen:
    """`lfsc-eval run --jobs 2` in a process of its own."""
    cmd = [sys.executable, "-m", "eval.cli", "run", "--codec", "identity", "--codec", "lowpass-7k", "--manifest",
           str(manifest_path()), "--limit", "12", "--metrics", "pesq_wb", "stoi", "estoi", "--jobs", "2", "--no-cache",
           "--out", str(out)]
    return subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, text=True, **popen)


def _until(process: subprocess.Popen, ready: Callable[[], bool], meanwhile: Callable[[], None] = lambda: None) -> None:
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None and not ready():
        meanwhile()
        time.sleep(0.05)
    if process.poll() is not None or not ready():
        process.kill()
        pytest.fail("the run ended, or did not get there, before it could be interrupted")


def _rows_written(out: Path, count: int) -> Callable[[], bool]:
    return lambda: (out / ROWS).is_file() and (out / ROWS).read_bytes().count(b"\n") >= count


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads processes from /proc")
def test_kill_9_of_a_run_takes_its_pool_workers_with_it(tmp_path):
    """Each worker holds ~330 MB; before, they ran on for ever after their run was killed outright."""
    utterances(count=1)  # skips without the bundled set
    out = tmp_path / "run"
    process = _start_pool_run(out, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    _until(process, lambda: len(workers) >= 3 and _rows_written(out, 1)(),  # 2 workers and their resource tracker
           lambda: workers.update(_pool_workers(process.pid)))
    process.kill()
    process.wait()
    assert not _left_running(workers), "pool workers outlived their run"


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads processes from /proc")
def test_ctrl_c_keeps_the_rows_and_says_how_to_resume_in_one_line(tmp_path):
    """Pool workers ignore Ctrl-C from the moment they start (here: a SIGINT every 50 ms at each, through their
    imports and first work, leaves them working); then Ctrl-C reaches the whole process group, as a terminal sends
    it: one line, no traceback from the run or its workers, whole rows only, and the workers gone."""
    utterances(count=1)
    out = tmp_path / "run"
    process = _start_pool_run(out, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    workers: set[int] = set()

    def pelt() -> None:
        workers.update(_pool_workers(process.pid))
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)

    _until(process, _rows_written(out, 4), pelt)
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    said = [line for line in stderr.splitlines() if line.startswith("lfsc-eval")]
    assert said == [f"lfsc-eval: interrupted: the rows so far are kept in {out}; run the same command again to resume "
                    "where it stopped"], stderr
    assert len(workers) >= 2 and not _left_running(workers)
    kept = _rows(out)  # every line a whole row
    assert 4 <= len(kept) < 24 and len({(r["utt_id"], r["codec"]) for r in kept}) == len(kept)
