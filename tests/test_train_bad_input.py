"""`lfsc-train` given bad input (issue #16): each case is one line, exit 2, no traceback, and leaves every file as it
was: a refused new run creates no folder, a refused --resume leaves the run folder untouched. A state.pt is read
weights-only, so a planted one runs no code; a run resumes from any working folder."""

from __future__ import annotations

import json
import pathlib
import shutil
import traceback
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from cli_contract import refused, snapshot
from test_train_run import SMALL, manifest, train, utterance  # noqa: F401  utterance: the fixture

from train.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

# The tiny run of test_train_run as command-line overrides.
SMALL_ARGS = [f"{k}={json.dumps(v)}" for k, v in SMALL.items()] + ["max_steps=1"]


class Planted:
    """What a hostile state.pt holds: unpickling it creates the file `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, utterance) -> Path:  # noqa: F811
    """A one-step training run (config.yaml, state.pt, ...) to copy; its manifest lies beside it."""
    folder = tmp_path_factory.mktemp("finished")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as one_thread does for the tests, which this module-wide fixture runs before
    try:
        train(folder / "run", manifest(folder / "data", utterance), max_steps=1)
    finally:
        torch.set_num_threads(threads)
    return folder / "run"


@pytest.fixture
def run(tmp_path, finished_run) -> Path:
    """A copy of the finished run for a test to spoil."""
    return Path(shutil.copytree(finished_run, tmp_path / "run"))


def refused_here(capsys, args: list, watch: list[Path]) -> str:
    """`main(args)` in this process: exit 2, one line on stderr, no traceback, nothing below `watch` changed."""
    before = snapshot(*watch)
    try:
        code = main([str(a) for a in args])
    except Exception:  # a bug escaped: show it as the failure
        pytest.fail(f"lfsc-train {args} raised instead of refusing:\n{traceback.format_exc()}")
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("lfsc-train: error: "), err
    assert snapshot(*watch) == before, "the refused command changed files"
    return lines[0]


# -- a new run: bad overrides, --out, manifests ------------------------------------------------------------------
NEW_RUN_CASES = {
    # name: (extra overrides, what the error line must name)
    "negative lr": (["lr=-1"], "lr=-1.0"),
    "unknown device": (["device=bogus"], "device='bogus'"),
    "crop of one sample": (["n_samples=1"], "n_samples=1"),
    "unknown key": (["batch_sise=8"], "batch_sise"),
    "batch_size not a number": (["batch_size=abc"], "batch_size='abc'"),
    "batch_size zero": (["batch_size=0"], "batch_size=0"),
    "min_duration too short for the model": (["min_duration=0"], "min_duration=0.0"),
    "lr_decay above one": (["lr_decay=1.5"], "lr_decay=1.5"),
    "one beta": (["betas=[0.8]"], "betas=[0.8]"),
    "negative seed": (["seed=-1"], "seed=-1"),
    "not YAML": (["betas=[0.8"], "betas=[0.8"),
    "a section set as a value": (["generator=3"], "generator"),
    "latent sizes that do not fit": (["generator.decoder.input_dim=5"], "input_dim=5"),
    "up-sampling that does not make a frame": (["generator.decoder.up_sample_rates=[8,8,4,2]"], "up_sample_rates"),
    "zero channels": (["generator.encoder.base_channels=0"], "base_channels=0"),
    "no such GPU": (["device=cuda:7"], "device 'cuda:7'"),
}


@pytest.mark.parametrize("case", NEW_RUN_CASES, ids=list(NEW_RUN_CASES))
def test_bad_overrides_are_refused_without_creating_the_run_folder(case, tmp_path, utterance, capsys):  # noqa: F811
    extra, named = NEW_RUN_CASES[case]
    data = manifest(tmp_path / "data", utterance)
    line = refused_here(capsys, ["--manifest", data, "--out", tmp_path / "new", *SMALL_ARGS, *extra], [tmp_path])
    assert named in line
    assert not (tmp_path / "new").exists()


def _bad_manifest(tmp_path: Path, kind: str) -> Path:
    """A manifest of the given kind of wrong."""
    path = tmp_path / "data" / "bad.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "missing":
        return path
    if kind == "a folder":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(bytes(range(256)) * 4)
    elif kind == "not JSON lines":
        path.write_text("audio,duration\na.wav,1.0\n")
    elif kind == "no audio_filepath":
        path.write_text('{"text": "hello"}\n')
    elif kind == "empty":
        path.write_text("\n")
    elif kind == "no usable clip":
        path.write_text(json.dumps({"audio_filepath": str(tmp_path / "gone.wav")}) + "\n")
    elif kind == "duration not a number":
        path.write_text(json.dumps({"audio_filepath": "a.wav", "duration": "long"}) + "\n")
    return path


@pytest.mark.parametrize("kind", ["missing", "a folder", "binary", "not JSON lines", "no audio_filepath", "empty",
                                  "no usable clip", "duration not a number"])
def test_bad_manifests_are_refused(kind, tmp_path, capsys):
    path = _bad_manifest(tmp_path, kind)
    line = refused_here(capsys, ["--manifest", path, "--out", tmp_path / "new", *SMALL_ARGS], [tmp_path])
    assert "bad.jsonl" in line
    assert not (tmp_path / "new").exists()


def test_out_that_is_a_file_or_below_one_or_holds_other_files(tmp_path, utterance, capsys):  # noqa: F811
    data = manifest(tmp_path / "data", utterance)
    plain = tmp_path / "notes.txt"
    plain.write_text("mine")
    assert "is a file" in refused_here(capsys, ["--manifest", data, "--out", plain, *SMALL_ARGS], [tmp_path])
    line = refused_here(capsys, ["--manifest", data, "--out", plain / "run", *SMALL_ARGS], [tmp_path])
    assert "notes.txt, which is a file" in line
    # A folder holding a config.yaml of something else: a new run would write over it.
    other = tmp_path / "project"
    other.mkdir()
    (other / "config.yaml").write_text("mine: true\n")
    line = refused_here(capsys, ["--manifest", data, "--out", other, *SMALL_ARGS], [tmp_path])
    assert "config.yaml" in line


# -- --resume: a spoilt state.pt, config.yaml or run folder ----------------------------------------------------------
def _spoil(run: Path, kind: str) -> None:
    state, config = run / "state.pt", run / "config.yaml"
    if kind == "empty state":
        state.write_bytes(b"")
    elif kind == "truncated state":
        state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    elif kind == "garbage state":
        state.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "state of another kind":
        torch.save({"weight": torch.zeros(3)}, state)
    elif kind == "state holding a bad RNG state":
        saved = torch.load(state, weights_only=True)
        saved["rng"]["torch"] = torch.zeros(3)
        torch.save(saved, state)
    elif kind == "no config":
        config.unlink()
    elif kind == "config not YAML":
        config.write_text("lr: [unclosed\n")
    elif kind == "config a list":
        config.write_text("- 1\n- 2\n")
    elif kind == "config with an unknown key":
        config.write_text(config.read_text() + "learning_rate: 0.1\n")
    elif kind == "config with a bad value":
        stored = yaml.safe_load(config.read_text())
        config.write_text(yaml.safe_dump({**stored, "batch_size": 0}))
    elif kind == "config without manifests":
        stored = yaml.safe_load(config.read_text())
        config.write_text(yaml.safe_dump({k: v for k, v in stored.items() if k != "manifests"}))
    elif kind == "manifest gone":
        stored = yaml.safe_load(config.read_text())
        config.write_text(yaml.safe_dump({**stored, "manifests": [["nowhere/train.jsonl", 1.0]]}))


RESUME_CASES = {
    "empty state": "state.pt", "truncated state": "state.pt", "garbage state": "state.pt",
    "state of another kind": "not a training state", "state holding a bad RNG state": "damaged",
    "no config": "config.yaml", "config not YAML": "config.yaml", "config a list": "config.yaml",
    "config with an unknown key": "learning_rate", "config with a bad value": "batch_size=0",
    "config without manifests": "manifests", "manifest gone": "nowhere/train.jsonl",
}


@pytest.mark.parametrize("kind", RESUME_CASES, ids=list(RESUME_CASES))
def test_a_spoilt_run_is_refused_on_resume_and_left_as_it_was(kind, run, capsys):
    _spoil(run, kind)
    line = refused_here(capsys, ["--out", run, "--resume", "max_steps=2"], [run.parent])
    assert RESUME_CASES[kind] in line


def test_resume_refuses_bad_overrides_and_folders_of_another_kind(run, tmp_path, capsys):
    assert "lr=-1.0" in refused_here(capsys, ["--out", run, "--resume", "lr=-1"], [tmp_path])
    results = tmp_path / "eval_results"  # a folder of another tool
    results.mkdir()
    (results / "report.json").write_text("{}")
    assert "holds no training state" in refused_here(capsys, ["--out", results, "--resume"], [tmp_path])
    assert "is a file" in refused_here(capsys, ["--out", results / "report.json", "--resume"], [tmp_path])


# -- state.pt is read weights-only -----------------------------------------------------------------------------------
def test_state_is_saved_in_a_form_the_weights_only_loader_reads(finished_run):
    state = torch.load(finished_run / "state.pt", weights_only=True)
    assert state["step"] == 1 and isinstance(state["rng"]["numpy"]["state"]["key"], list)


def test_a_planted_state_runs_no_code(run, tmp_path):
    marker = tmp_path / "marker"
    state = torch.load(run / "state.pt", weights_only=True)
    torch.save({**state, "step": Planted(marker)}, run / "state.pt")
    line = refused("lfsc-train", "--out", run, "--resume", "max_steps=2", watch=[tmp_path], env={"OMP_NUM_THREADS": "1"})
    assert "--trust-checkpoint" in line
    assert not marker.exists()


def test_an_older_state_resumes_only_with_trust_checkpoint(run, capsys):
    # States written before they were weights-only held numpy's RNG state as numpy objects.
    state = torch.load(run / "state.pt", weights_only=True)
    np.random.seed(3)
    state["rng"]["numpy"] = np.random.get_state()
    torch.save(state, run / "state.pt")
    assert "--trust-checkpoint" in refused_here(capsys, ["--out", run, "--resume", "max_steps=2"], [run])
    assert main(["--out", str(run), "--resume", "--trust-checkpoint", "max_steps=2"]) == 0
    assert torch.load(run / "state.pt", weights_only=True)["step"] == 2


# -- resuming from another working folder ---------------------------------------------------------------------------
def test_resume_works_from_another_folder_for_new_and_older_runs(tmp_path, utterance, monkeypatch):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    data = manifest(tmp_path / "data", utterance)
    assert main(["--manifest", "data/train.jsonl", "--out", "runs/a", *SMALL_ARGS]) == 0
    config = tmp_path / "runs" / "a" / "config.yaml"
    assert yaml.safe_load(config.read_text())["manifests"] == [[str(data), 1.0]]  # saved absolute
    elsewhere = tmp_path / "runs" / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert train(Path("../a"), None, resume=True, max_steps=2).progress.step == 2
    # Older runs saved the path as given, relative to the folder the run started in (here tmp_path): it is
    # found from the run folder upwards, and saved absolute from then on.
    config.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "manifests": [["data/train.jsonl", 1.0]]}))
    resumed = train(Path("../a"), None, resume=True, max_steps=3)
    assert resumed.progress.step == 3 and resumed.spec.manifests[0].path == data
    assert yaml.safe_load(config.read_text())["manifests"] == [[str(data), 1.0]]


# -- the same contract end to end, in processes of their own ----------------------------------------------------------
def test_refusals_as_the_user_sees_them(run, tmp_path, utterance):  # noqa: F811
    data = manifest(tmp_path / "data", utterance)
    env = {"OMP_NUM_THREADS": "1"}
    assert "lr=-1.0" in refused("lfsc-train", "--manifest", data, "--out", tmp_path / "new", "lr=-1",
                                watch=[tmp_path], env=env)
    (run / "state.pt").write_bytes(b"PK\x03\x04 cut short")
    assert "state.pt" in refused("lfsc-train", "--out", run, "--resume", watch=[tmp_path], env=env)
