"""A training run's folder (--out): what a run is asked to do, the checks before anything is written there, and
the run's config.yaml, written by a new run and read back by --resume."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from codec.errors import UserError
from codec.files import write_text_atomic
from codec.safe_yaml import read_yaml
from train.config import TrainConfig, build_config
from train.data import ManifestSpec

STATE_NAME = "state.pt"
CONFIG_NAME = "config.yaml"
METRICS_NAME = "metrics.csv"
EXPORT_NAME = "model.nemo"
LOG_NAME = "train.log"
# What a new run writes into --out: a folder already holding any of them is not started over.
RUN_FILES = (CONFIG_NAME, METRICS_NAME, LOG_NAME, EXPORT_NAME, "samples", "tensorboard")


@dataclass
class RunSpec:
    """What a training run is asked to do, besides the config values."""

    out_dir: Path
    manifests: list[ManifestSpec]
    init_from: Path | None = None
    freeze_encoder: bool = False
    resume: bool = False
    trust_checkpoint: bool = False


def prepare_run(spec: RunSpec, overrides: dict[str, Any]) -> tuple[RunSpec, TrainConfig]:
    """The run's spec and config: a new run's from the command line, a resumed one's from its config.yaml with the
    command line's changes; paths made absolute, so that --resume works from any folder. Writes nothing."""
    check_out(spec)
    if not spec.resume:
        if not spec.manifests:
            raise UserError("no training data: pass --manifest FILE (NeMo-style JSON lines with audio_filepath)")
        if spec.init_from and any(k.startswith("generator.") for k in overrides):
            raise UserError("--init-from takes the architecture from the checkpoint; drop the generator.* overrides")
        spec = replace(spec, manifests=[ManifestSpec(m.path.resolve(), m.weight) for m in spec.manifests])
        config = build_config(overrides)
        if config.val_manifest:
            config = replace(config, val_manifest=str(Path(config.val_manifest).resolve()))
        return spec, config
    if spec.init_from:
        raise UserError("--resume continues the run in --out; --init-from only starts a new run")
    return _resumed_run(spec, overrides)


def _resumed_run(spec: RunSpec, overrides: dict[str, Any]) -> tuple[RunSpec, TrainConfig]:
    """The spec and config of the run saved in --out, with the command line's manifests and overrides."""
    saved = spec.out_dir / CONFIG_NAME
    if not saved.is_file():
        raise UserError(f"--resume: {spec.out_dir} has {STATE_NAME} but no {CONFIG_NAME}: not a run of lfsc-train, "
                        "or a damaged one; start a new --out")
    stored = read_yaml(saved)
    if not isinstance(stored, dict):
        raise UserError(f"{saved}: not the config of a training run (a YAML mapping of the keys of "
                        "train/default.yaml); start a new --out")
    manifests = stored.pop("manifests", None)
    freeze = stored.pop("freeze_encoder", False)
    stored.pop("init_from", None)
    if not isinstance(freeze, bool):
        raise UserError(f"{saved}: freeze_encoder={freeze!r}: expected true or false")
    if spec.manifests:
        specs = [ManifestSpec(m.path.resolve(), m.weight) for m in spec.manifests]
    else:
        if not (isinstance(manifests, list) and manifests and all(
                isinstance(m, list) and len(m) == 2 and isinstance(m[0], str) and isinstance(m[1], (int, float))
                and not isinstance(m[1], bool) and m[1] > 0 for m in manifests)):
            raise UserError(f"{saved}: manifests={manifests!r}: expected a list of [path, weight] pairs; "
                            "pass --manifest to give the training data")
        specs = [ManifestSpec(saved_path(spec.out_dir, p, "--manifest with its path"), float(w)) for p, w in manifests]
    spec = replace(spec, manifests=specs, freeze_encoder=spec.freeze_encoder or freeze)
    config = build_config(overrides, saved=stored, saved_name=str(saved))
    if config.val_manifest:
        given = "val_manifest" in overrides
        path = Path(config.val_manifest).resolve() if given else saved_path(
            spec.out_dir, config.val_manifest, "val_manifest=<its path>")
        config = replace(config, val_manifest=str(path))
    return spec, config


def check_out(spec: RunSpec) -> None:
    """Refuse an --out that is (or is below) a file, a --resume without a run, a new run over files of another."""
    out = spec.out_dir.absolute()
    for folder in (out, *out.parents):  # the nearest one that exists must be a folder
        if folder.exists():
            if not folder.is_dir():
                where = "is a file" if folder == out else f"is below {folder}, which is a file"
                raise UserError(f"--out {spec.out_dir} {where}; give a folder")
            break
    state = spec.out_dir / STATE_NAME
    if spec.resume:
        if not state.is_file():
            raise UserError(f"--resume: {spec.out_dir} holds no training state ({STATE_NAME}); start a run there first")
        return
    if state.exists():
        raise UserError(f"{spec.out_dir} already holds a training run; pass --resume to continue it, or choose another --out")
    found = [name for name in RUN_FILES if (spec.out_dir / name).exists()]
    if found:
        raise UserError(f"{spec.out_dir} already holds {', '.join(found)} but no training state to resume (a run "
                        "stopped before its first save, or another tool's files); choose another --out or empty it")


def saved_path(out: Path, text: str, hint: str) -> Path:
    """A path from the run's config.yaml. Runs save absolute paths; an older run saved the path as given,
    relative to a folder it did not record: it is looked for from here, then from the run folder and each
    folder above it."""
    path = Path(text)
    if path.is_absolute():
        return path
    run = out.resolve()
    for base in (Path.cwd(), run, *run.parents):
        if (base / path).exists():
            return (base / path).resolve()
    raise UserError(f"{out / CONFIG_NAME}: {text} is relative to the folder the run was started from, and "
                    f"is not found from here nor above the run folder; pass {hint}")


def save_run_config(spec: RunSpec, config: TrainConfig) -> None:
    """Write the run's config.yaml: the config's keys in default.yaml's order, then the run's data and start."""
    stored = config.to_dict()
    stored["manifests"] = [[str(m.path), m.weight] for m in spec.manifests]
    stored["freeze_encoder"] = spec.freeze_encoder
    stored["init_from"] = str(spec.init_from.resolve()) if spec.init_from else None
    write_text_atomic(spec.out_dir / CONFIG_NAME, yaml.safe_dump(stored, sort_keys=False))
