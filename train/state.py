"""A run's resumable training state (state.pt: weights, optimisers, schedulers, counters, RNGs), read weights-only
and checked before use, and the trained generator's .nemo export."""

from __future__ import annotations

import logging
import pickle
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from codec.errors import UserError
from codec.files import replacing
from codec.lfsc.checkpoint import config_to_dict, save_nemo
from codec.lfsc.model import LFSCModel
from train.build import Models
from train.config import TrainConfig
from train.nemo_config import nemo_model_config

log = logging.getLogger("lfsc-train")

# The fields of state.pt and their types, checked before any is used.
STATE_FIELDS = {
    "step": int, "epoch": int, "batch_in_epoch": int, "skipped": int, "generator_config": dict, "generator": dict,
    "discriminator": (dict, type(None)), "opt_g": dict, "sched_g": dict, "opt_d": (dict, type(None)),
    "sched_d": (dict, type(None)), "scaler_g": dict, "scaler_d": dict, "rng": dict,
}


@dataclass
class Progress:
    """Where training stands: steps and epochs done, the next batch's index in its epoch, files skipped so far."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    skipped: int = 0


def _rng_state() -> dict:
    """The random generators' states as tensors and plain Python values, which the weights-only loader reads."""
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"]["key"] = numpy_state["state"]["key"].tolist()  # np.random.set_state takes it back as a list
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": numpy_state,
        "python": random.getstate(),
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def _torch_load(path: Path, weights_only: bool) -> object:
    """torch.load of a state file; a damaged file is a UserError. Only the weights-only loader's refusal of an
    object it does not know (pickle.UnpicklingError) is passed on, for the caller to decide."""
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except pickle.UnpicklingError:
        if weights_only:
            raise
        raise UserError(f"{path}: damaged training state (its data do not unpickle); start a new --out") from None
    except (RuntimeError, EOFError, KeyError, ValueError, TypeError, IndexError, AttributeError, ImportError,
            zipfile.BadZipFile) as exc:
        reason = " ".join(str(exc).split()[:12]) or type(exc).__name__
        raise UserError(f"{path}: damaged training state ({reason}); start a new --out") from None


def read_state(path: Path, trust: bool) -> dict:
    """A run's state.pt, read with torch's weights-only loader, so that no code in it runs, unless `trust`; a
    damaged file or a file of another kind is a one-line UserError."""
    if not zipfile.is_zipfile(path):  # what torch.save writes; an empty, cut-short or foreign file is not one
        raise UserError(f"{path}: not a training state of lfsc-train (empty, cut short or another kind of file); "
                        "start a new --out")
    try:
        state = _torch_load(path, weights_only=True)
    except pickle.UnpicklingError:
        if not trust:
            raise UserError(
                f"{path}: this state holds objects that only full unpickling restores, which can run arbitrary code "
                "(a state written before weights-only states, or a planted file); if you wrote it, pass "
                "--trust-checkpoint"
            ) from None
        state = _torch_load(path, weights_only=False)
    if not isinstance(state, dict):
        raise UserError(f"{path}: not a training state of lfsc-train (it holds a {type(state).__name__}); start a new --out")
    for key, kind in STATE_FIELDS.items():
        value = state.get(key)
        if not isinstance(value, kind) or (kind is int and (isinstance(value, bool) or value < 0)):
            raise UserError(f"{path}: not a training state of lfsc-train ({key!r} is missing or not what lfsc-train "
                            "writes); start a new --out")
    return state


def generator_section(model: LFSCModel) -> dict:
    """The `generator` config section describing `model`'s architecture."""
    d = config_to_dict(model.config)
    strip = lambda s: {k: v for k, v in s.items() if k != "_target_"}  # noqa: E731
    return {
        "sample_rate": d["sample_rate"],
        "samples_per_frame": d["samples_per_frame"],
        "encoder": strip(d["audio_encoder"]),
        "decoder": strip(d["audio_decoder"]),
        "quantizer": strip(d["vector_quantizer"]),
    }


def save_state(path: Path, models: Models, progress: Progress) -> Path:
    """Write the resumable training state to `path` atomically (rank 0)."""
    m = models
    state = {
        "step": progress.step,
        "epoch": progress.epoch,
        "batch_in_epoch": progress.batch_in_epoch,
        "skipped": progress.skipped,
        "generator_config": generator_section(m.generator),
        "generator": m.generator.state_dict(),
        "discriminator": m.discriminator.trainable_state_dict() if m.discriminator is not None else None,
        "opt_g": m.opt_g.state_dict(),
        "sched_g": m.sched_g.state_dict(),
        "opt_d": m.opt_d.state_dict() if m.opt_d is not None else None,
        "sched_d": m.sched_d.state_dict() if m.sched_d is not None else None,
        "scaler_g": m.scaler_g.state_dict(),
        "scaler_d": m.scaler_d.state_dict(),
        "rng": _rng_state(),
    }
    with replacing(path) as tmp:  # a crash never leaves a half-written state
        torch.save(state, tmp)
    return path


def load_state(path: Path, state: dict, models: Models, progress: Progress) -> None:
    """Put a state from `read_state(path)` into the built models, optimisers, schedulers, counters and RNGs."""
    m = models
    ours = generator_section(m.generator)
    if state["generator_config"] != ours:
        raise UserError(
            f"{path}: checkpoint of another architecture (generator {state['generator_config']} vs the "
            f"configured {ours}); resume with the run's own settings or start a new --out"
        )
    if (state["discriminator"] is None) != (m.discriminator is None):
        raise UserError(f"{path}: checkpoint of another architecture (use_discriminator differs)")
    try:
        m.generator.load_state_dict(state["generator"], strict=True)
        if m.discriminator is not None:
            m.discriminator.load_trainable_state_dict(state["discriminator"])
            m.opt_d.load_state_dict(state["opt_d"])
        m.opt_g.load_state_dict(state["opt_g"])
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: checkpoint of another architecture ({str(exc).splitlines()[0]})") from None
    try:
        m.sched_g.load_state_dict(state["sched_g"])
        if m.sched_d is not None:
            m.sched_d.load_state_dict(state["sched_d"])
        m.scaler_g.load_state_dict(state["scaler_g"])
        m.scaler_d.load_state_dict(state["scaler_d"])
        _set_rng_state(state["rng"])
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
        reason = " ".join(str(exc).split()[:12]) or type(exc).__name__
        raise UserError(f"{path}: damaged training state ({reason}); start a new --out") from None
    progress.step, progress.epoch = state["step"], state["epoch"]
    progress.batch_in_epoch, progress.skipped = state["batch_in_epoch"], state["skipped"]
    log.info("resumed %s at step %d (epoch %d, batch %d)", path, progress.step, progress.epoch, progress.batch_in_epoch)


def export(path: Path, models: Models, config: TrainConfig) -> Path:
    """Write the generator as a .nemo with NeMo's full model config (rank 0)."""
    return save_nemo(path, models.generator, extra_config=nemo_model_config(config, models.slm_shape))
