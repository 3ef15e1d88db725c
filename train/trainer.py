"""The LFSC training loop (NeMo's recipe): generator + discriminators, logs, samples, resumable states, .nemo exports."""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import pickle
import random
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from codec.errors import UserError
from codec.files import replacing, write_text_atomic
from codec.lfsc.checkpoint import config_to_dict, load_lfsc, save_nemo
from codec.lfsc.model import LFSCModel
from codec.lfsc.spectral_losses import MultiResolutionMelLoss, MultiResolutionSTFTLoss
from codec.safe_yaml import read_yaml
from train.config import build_config, check_lengths, generator_config
from train.data import Batch, CropDataset, EpochSampler, ManifestSpec, collate, load_clips
from train.discriminators import Discriminator, MultiPeriodDiscriminator, MultiResolutionDiscriminatorSTFT
from train.losses import discriminator_loss, feature_matching_loss, generator_adversarial_loss
from train.nemo_config import nemo_model_config
from train.weight_norm_init import data_dependent_init

log = logging.getLogger("lfsc-train")

STATE_NAME = "state.pt"
CONFIG_NAME = "config.yaml"
METRICS_NAME = "metrics.csv"
EXPORT_NAME = "model.nemo"
LOG_NAME = "train.log"
# What a new run writes into --out: a folder already holding any of them is not started over.
RUN_FILES = (CONFIG_NAME, METRICS_NAME, LOG_NAME, EXPORT_NAME, "samples", "tensorboard")
# The fields of state.pt and their types, checked before any is used.
STATE_FIELDS = {
    "step": int, "epoch": int, "batch_in_epoch": int, "skipped": int, "generator_config": dict, "generator": dict,
    "discriminator": (dict, type(None)), "opt_g": dict, "sched_g": dict, "opt_d": (dict, type(None)),
    "sched_d": (dict, type(None)), "scaler_g": dict, "scaler_d": dict, "rng": dict,
}
CSV_COLUMNS = (
    "step", "epoch", "lr", "steps_per_s", "g_loss", "mel_l1", "stft", "gen_adv", "feature", "d_loss",
    "val_loss", "val_mel_l1", "val_stft", "val_time_l1", "skipped",
)


@dataclass
class RunSpec:
    """What a training run is asked to do, besides the config values."""

    out_dir: Path
    manifests: list[ManifestSpec]
    init_from: Path | None = None
    freeze_encoder: bool = False
    resume: bool = False
    trust_checkpoint: bool = False


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank), starting the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = torch.distributed.get_rank() if world > 1 else 0
    return rank, world, int(os.environ.get("LOCAL_RANK", "0"))


def _device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        name = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device={name}: no CUDA GPU is available here; use device=cpu or device=auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"device={name}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                            f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
        torch.cuda.set_device(device)  # NCCL and the default CUDA stream follow this process's GPU
    return device


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


class Trainer:
    """Builds everything from a config and a RunSpec, then `fit()` trains until max_steps / max_epochs."""

    def __init__(self, spec: RunSpec, overrides: dict):
        # Everything the user handed in (run folder, config, state, checkpoint, manifests) is read and checked
        # before the first file is written: a refused run leaves --out as it was (fit() writes).
        self.spec = spec
        self.out = spec.out_dir
        self.rank, self.world, local_rank = _distributed()
        self.config = self._resolve_config(overrides)
        c = self.config
        self.device = _device(c["device"], local_rank)
        if c["precision"] == "fp16" and self.device.type != "cuda":
            raise UserError("precision=fp16 needs a CUDA GPU (use bf16 or fp32 on CPU)")
        self.amp_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[c["precision"]]
        saved_state = read_state(self.out / STATE_NAME, spec.trust_checkpoint) if spec.resume else None
        torch.manual_seed(c["seed"])
        np.random.seed(c["seed"])
        random.seed(c["seed"])

        self.generator = self._build_generator().to(self.device)
        check_lengths(c, self.generator.min_samples)
        self.clips, self.clip_weights = load_clips(self.spec.manifests, c["min_duration"])
        self.dataset = CropDataset(self.clips, c["generator"]["sample_rate"], c["n_samples"], c["seed"])
        self.step = self.epoch = self.batch_in_epoch = self.skipped = 0
        if self._sampler(0).batches_per_epoch() == 0:
            raise UserError(
                f"{len(self.clips)} clips make no full batch of batch_size={c['batch_size']} x {self.world} GPU(s): "
                "lower batch_size or set epoch_items"
            )
        self.discriminator = self._build_discriminator()
        if self.discriminator is not None:
            self.discriminator.to(self.device)
        self.mel_loss = MultiResolutionMelLoss(
            c["generator"]["sample_rate"], c["loss_resolutions"], c["mel_loss_dims"], c["mel_loss_log_guard"]
        ).to(self.device)
        self.stft_loss = MultiResolutionSTFTLoss(c["loss_resolutions"], c["stft_loss_log_guard"]).to(self.device)

        gen_params = [p for p in self.generator.parameters() if p.requires_grad]
        self.opt_g = torch.optim.Adam(gen_params, lr=c["lr"], betas=tuple(c["betas"]))
        self.sched_g = torch.optim.lr_scheduler.ExponentialLR(self.opt_g, gamma=c["lr_decay"])
        self.opt_d = self.sched_d = None
        if self.discriminator is not None:
            disc_params = [p for p in self.discriminator.parameters() if p.requires_grad]
            self.opt_d = torch.optim.Adam(disc_params, lr=c["lr"], betas=tuple(c["betas"]))
            self.sched_d = torch.optim.lr_scheduler.ExponentialLR(self.opt_d, gamma=c["lr_decay"])
        fp16 = c["precision"] == "fp16"
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=fp16)
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=fp16)

        self.init_report: dict[str, float] | None = None
        if saved_state is not None:
            self._load_state(saved_state)
        elif not spec.init_from and c["data_dependent_init"]:
            self.init_report = self._data_dependent_init()
        self.gen_ddp, self.disc_ddp = self.generator, self.discriminator
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.gen_ddp = nn.parallel.DistributedDataParallel(self.generator, device_ids=ids)
            if self.discriminator is not None:
                self.disc_ddp = nn.parallel.DistributedDataParallel(self.discriminator, device_ids=ids)

        self.val_audio = self._validation_set() if self.rank == 0 else []
        self._writer = None
        self.last_val: dict[str, float] = {}

    # -- building ---------------------------------------------------------------------------------------------
    def _resolve_config(self, overrides: dict) -> dict:
        self._check_out()
        saved = self.out / CONFIG_NAME
        if not self.spec.resume:
            if not self.spec.manifests:
                raise UserError("no training data: pass --manifest FILE (NeMo-style JSON lines with audio_filepath)")
            if self.spec.init_from and any(k.startswith("generator.") for k in overrides):
                raise UserError("--init-from takes the architecture from the checkpoint; drop the generator.* overrides")
            # Absolute paths in the saved config, so that --resume works from any folder.
            self.spec.manifests = [ManifestSpec(m.path.resolve(), m.weight) for m in self.spec.manifests]
            config = build_config(overrides)
            if config["val_manifest"]:
                config["val_manifest"] = str(Path(config["val_manifest"]).resolve())
            return config
        if self.spec.init_from:
            raise UserError("--resume continues the run in --out; --init-from only starts a new run")
        if not saved.is_file():
            raise UserError(f"--resume: {self.out} has {STATE_NAME} but no {CONFIG_NAME}: not a run of lfsc-train, "
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
        if self.spec.manifests:
            self.spec.manifests = [ManifestSpec(m.path.resolve(), m.weight) for m in self.spec.manifests]
        else:
            if not (isinstance(manifests, list) and manifests and all(
                    isinstance(m, list) and len(m) == 2 and isinstance(m[0], str) and isinstance(m[1], (int, float))
                    and not isinstance(m[1], bool) and m[1] > 0 for m in manifests)):
                raise UserError(f"{saved}: manifests={manifests!r}: expected a list of [path, weight] pairs; "
                                "pass --manifest to give the training data")
            self.spec.manifests = [ManifestSpec(self._saved_path(p, "--manifest with its path"), float(w))
                                   for p, w in manifests]
        self.spec.freeze_encoder = self.spec.freeze_encoder or freeze
        config = build_config(overrides, saved=stored, saved_name=str(saved))
        if config["val_manifest"]:
            given = "val_manifest" in overrides
            path = Path(config["val_manifest"]).resolve() if given else self._saved_path(
                config["val_manifest"], "val_manifest=<its path>")
            config["val_manifest"] = str(path)
        return config

    def _check_out(self) -> None:
        """Refuse an --out that is (or is below) a file, a --resume without a run, a new run over files of another."""
        out = self.out.absolute()
        for folder in (out, *out.parents):  # the nearest one that exists must be a folder
            if folder.exists():
                if not folder.is_dir():
                    where = "is a file" if folder == out else f"is below {folder}, which is a file"
                    raise UserError(f"--out {self.out} {where}; give a folder")
                break
        state = self.out / STATE_NAME
        if self.spec.resume:
            if not state.is_file():
                raise UserError(f"--resume: {self.out} holds no training state ({STATE_NAME}); start a run there first")
            return
        if state.exists():
            raise UserError(f"{self.out} already holds a training run; pass --resume to continue it, or choose another --out")
        found = [name for name in RUN_FILES if (self.out / name).exists()]
        if found:
            raise UserError(f"{self.out} already holds {', '.join(found)} but no training state to resume (a run "
                            "stopped before its first save, or another tool's files); choose another --out or empty it")

    def _saved_path(self, text: str, hint: str) -> Path:
        """A path from the run's config.yaml. Runs save absolute paths; an older run saved the path as given,
        relative to a folder it did not record: it is looked for from here, then from the run folder and each
        folder above it."""
        path = Path(text)
        if path.is_absolute():
            return path
        run = self.out.resolve()
        for base in (Path.cwd(), run, *run.parents):
            if (base / path).exists():
                return (base / path).resolve()
        raise UserError(f"{self.out / CONFIG_NAME}: {text} is relative to the folder the run was started from, and "
                        f"is not found from here nor above the run folder; pass {hint}")

    def _build_generator(self) -> LFSCModel:
        if self.spec.init_from and not self.spec.resume:
            model = load_lfsc(self.spec.init_from, device="cpu", trust=self.spec.trust_checkpoint, fold_weight_norm=False)
            self.config["generator"] = generator_section(model)
            model.train()
        else:
            try:
                model = LFSCModel(generator_config(self.config["generator"]))
            except (TypeError, ValueError, RuntimeError) as exc:
                raise UserError(f"generator config: {str(exc).splitlines()[0]}") from None
        if self.spec.freeze_encoder:
            for p in model.audio_encoder.parameters():
                p.requires_grad_(False)
        return model

    def _build_discriminator(self) -> Discriminator | None:
        c = self.config
        if not c["use_discriminator"]:
            return None
        parts = [MultiResolutionDiscriminatorSTFT(c["stft_disc_resolutions"]), MultiPeriodDiscriminator(c["mpd_periods"])]
        self.slm_shape = None
        if c["slm_backbone"] != "none":
            from train.slm import SLMDiscriminator, build_backbone

            backbone = build_backbone(c["slm_backbone"], c["slm_model_dir"])
            self.slm_shape = (backbone.hidden_size, backbone.num_states)
            parts.append(SLMDiscriminator(backbone, c["generator"]["sample_rate"], c["slm_initial_channel"]))
        return Discriminator(parts)

    def _sampler(self, start_batch: int) -> EpochSampler:
        c = self.config
        return EpochSampler(
            self.clip_weights, len(self.clips), c["batch_size"], c["seed"], self.epoch, c["epoch_items"],
            self.rank, self.world, start_batch,
        )

    def _data_dependent_init(self) -> dict[str, float]:
        """Weight-norm data-dependent init of a from-scratch generator on the first usable batch of epoch 0.

        Every rank uses rank 0's batches, so all start from the same weights (DDP also broadcasts rank 0's).
        """
        c = self.config
        sampler = EpochSampler(self.clip_weights, len(self.clips), c["batch_size"], c["seed"], 0, c["epoch_items"])
        for keys in sampler:
            batch = collate([self.dataset[key] for key in keys])
            if len(batch.audio_len) and batch.audio.abs().max() > 0:  # a silent batch has no scale to measure
                return data_dependent_init(self.generator, batch.audio.to(self.device), batch.audio_len.to(self.device))
        raise UserError("data_dependent_init: no readable, non-silent audio in the first epoch; check the manifests "
                        "or set data_dependent_init=false")

    def _validation_set(self) -> list[np.ndarray]:
        c = self.config
        if c["val_manifest"]:
            clips, _ = load_clips([ManifestSpec(Path(c["val_manifest"]))], 0.0)
        else:
            clips = self.clips
        sr = c["generator"]["sample_rate"]
        audio = []
        for clip in clips[: c["val_count"]]:
            from codec.audio import load_audio

            try:
                samples = load_audio(clip.path, sr).samples[: int(c["val_max_seconds"] * sr)]
            except UserError as exc:
                log.warning("validation: skipping %s", exc)
                continue
            if len(samples) >= self.generator.min_samples:
                audio.append(samples)
        return audio

    # -- one step ---------------------------------------------------------------------------------------------
    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _backward_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    def should_update_disc(self, batch_idx: int) -> bool:
        """Whether this batch (index within the epoch) also updates the discriminator."""
        c = self.config
        return self.discriminator is not None and batch_idx % c["disc_update_period"] < c["disc_updates_per_period"]

    def train_step(self, batch: Batch, batch_idx: int) -> dict[str, float]:
        """One generator update, preceded by a discriminator update on scheduled batches; returns the losses."""
        c = self.config
        audio, audio_len = batch.audio.to(self.device), batch.audio_len.to(self.device)
        with self._autocast():
            audio_gen, _, _ = self.gen_ddp(audio, audio_len)
        audio, audio_len = self.generator.pad_audio(audio, audio_len)  # the losses see the padded target, as in NeMo
        metrics = {}
        if self.should_update_disc(batch_idx):
            with self._autocast():
                scores_real, scores_gen, _, _ = self.disc_ddp(audio, audio_gen.detach())
            loss_d = discriminator_loss(scores_real, scores_gen)
            self._backward_step(loss_d, self.opt_d, self.scaler_d)
            metrics["d_loss"] = loss_d.item()

        mel = self.mel_loss(audio.float(), audio_gen.float(), audio_len)
        stft = self.stft_loss(audio.float(), audio_gen.float(), audio_len)
        loss = c["mel_loss_l1_scale"] * mel + c["stft_loss_scale"] * stft
        metrics.update(mel_l1=mel.item(), stft=stft.item())
        if self.discriminator is not None:
            # The plain module, not its DDP wrapper: only the generator's gradients are synchronised here.
            with self._autocast():
                _, scores_gen, fmaps_real, fmaps_gen = self.discriminator(audio, audio_gen)
            gen_adv = generator_adversarial_loss(scores_gen)
            feature = feature_matching_loss(fmaps_real, fmaps_gen)
            loss = loss + c["gen_loss_scale"] * gen_adv + c["feature_loss_scale"] * feature
            metrics.update(gen_adv=gen_adv.item(), feature=feature.item())
        self._backward_step(loss, self.opt_g, self.scaler_g)
        if self.opt_d is not None:
            self.opt_d.zero_grad(set_to_none=True)  # drop the discriminator gradients of the generator pass
        metrics["g_loss"] = loss.item()
        return metrics

    # -- validation, logging ----------------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> tuple[dict[str, float], list[np.ndarray]]:
        """Reconstruction losses on the fixed validation clips (mean over clips) and their decoded audio."""
        self.generator.eval()
        sums, decoded = {"val_mel_l1": 0.0, "val_stft": 0.0, "val_time_l1": 0.0}, []
        for samples in self.val_audio:
            audio = torch.from_numpy(samples)[None].to(self.device)
            length = torch.tensor([audio.shape[1]], device=self.device)
            with self._autocast():
                gen, _, _ = self.generator(audio, length)
            audio, length = self.generator.pad_audio(audio, length)
            gen = gen.float()
            sums["val_mel_l1"] += self.mel_loss(audio, gen, length).item()
            sums["val_stft"] += self.stft_loss(audio, gen, length).item()
            sums["val_time_l1"] += (gen - audio).abs().mean().item()
            decoded.append(gen[0, : len(samples)].cpu().numpy())
        self.generator.train()
        if not self.val_audio:
            return {}, []
        out = {k: v / len(self.val_audio) for k, v in sums.items()}
        out["val_loss"] = out["val_mel_l1"] + out["val_stft"] + out["val_time_l1"]  # NeMo's val_loss
        return out, decoded

    def _tensorboard(self):
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                log.warning("tensorboard is not installed: scalars go to %s only (pip install tensorboard)", METRICS_NAME)
                self._writer = False
                return None
            self._writer = SummaryWriter(str(self.out / "tensorboard"))
        return self._writer or None

    def _log_row(self, row: dict) -> None:
        path = self.out / METRICS_NAME
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)
        tb = self._tensorboard()
        if tb is not None:
            for key, value in row.items():
                if key not in ("step", "epoch") and isinstance(value, (int, float)):
                    tb.add_scalar(key, value, self.step)

    def _write_samples(self, metrics: dict, decoded: list[np.ndarray]) -> None:
        from codec.audio import save_audio

        sr = self.config["generator"]["sample_rate"]
        folder = self.out / "samples" / f"step_{self.step:07d}"
        tb = self._tensorboard()
        for i, audio in enumerate(decoded):
            save_audio(folder / f"val_{i}.wav", audio, sr)
            reference = self.out / "samples" / "reference" / f"val_{i}.wav"
            if not reference.exists():
                save_audio(reference, self.val_audio[i], sr)
            if tb is not None:
                tb.add_audio(f"val_{i}", torch.from_numpy(audio)[None], self.step, sample_rate=sr)
        self.last_val = metrics
        self._log_row({"step": self.step, "epoch": self.epoch, **metrics})

    # -- checkpoints ------------------------------------------------------------------------------------------
    def save_state(self) -> Path:
        """Write the resumable training state atomically (rank 0)."""
        state = {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "skipped": self.skipped,
            "generator_config": generator_section(self.generator),
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.trainable_state_dict() if self.discriminator is not None else None,
            "opt_g": self.opt_g.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "opt_d": self.opt_d.state_dict() if self.opt_d is not None else None,
            "sched_d": self.sched_d.state_dict() if self.sched_d is not None else None,
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "rng": _rng_state(),
        }
        path = self.out / STATE_NAME
        with replacing(path) as tmp:  # a crash never leaves a half-written state
            torch.save(state, tmp)
        return path

    def _load_state(self, state: dict) -> None:
        """Put a state from `read_state` into the built models, optimisers, schedulers, counters and RNGs."""
        path = self.out / STATE_NAME
        ours = generator_section(self.generator)
        if state["generator_config"] != ours:
            raise UserError(
                f"{path}: checkpoint of another architecture (generator {state['generator_config']} vs the "
                f"configured {ours}); resume with the run's own settings or start a new --out"
            )
        if (state["discriminator"] is None) != (self.discriminator is None):
            raise UserError(f"{path}: checkpoint of another architecture (use_discriminator differs)")
        try:
            self.generator.load_state_dict(state["generator"], strict=True)
            if self.discriminator is not None:
                self.discriminator.load_trainable_state_dict(state["discriminator"])
                self.opt_d.load_state_dict(state["opt_d"])
            self.opt_g.load_state_dict(state["opt_g"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{path}: checkpoint of another architecture ({str(exc).splitlines()[0]})") from None
        try:
            self.sched_g.load_state_dict(state["sched_g"])
            if self.sched_d is not None:
                self.sched_d.load_state_dict(state["sched_d"])
            self.scaler_g.load_state_dict(state["scaler_g"])
            self.scaler_d.load_state_dict(state["scaler_d"])
            _set_rng_state(state["rng"])
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
            reason = " ".join(str(exc).split()[:12]) or type(exc).__name__
            raise UserError(f"{path}: damaged training state ({reason}); start a new --out") from None
        self.step, self.epoch = state["step"], state["epoch"]
        self.batch_in_epoch, self.skipped = state["batch_in_epoch"], state["skipped"]
        log.info("resumed %s at step %d (epoch %d, batch %d)", path, self.step, self.epoch, self.batch_in_epoch)

    def _truncate_metrics(self) -> None:
        """Drop log rows written after the resumed state, so the curve has no duplicate steps."""
        path = self.out / METRICS_NAME
        if self.rank != 0 or not path.exists():
            return
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= self.step]
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    def export(self, path: Path | None = None) -> Path:
        """Write the generator as a .nemo with NeMo's full model config (rank 0)."""
        path = path or self.out / EXPORT_NAME
        extra = nemo_model_config(self.config, getattr(self, "slm_shape", None))
        return save_nemo(path, self.generator, extra_config=extra)

    def _save_run_config(self) -> None:
        stored = dict(self.config)
        stored["manifests"] = [[str(m.path), m.weight] for m in self.spec.manifests]
        stored["freeze_encoder"] = self.spec.freeze_encoder
        stored["init_from"] = str(self.spec.init_from.resolve()) if self.spec.init_from else None
        write_text_atomic(self.out / CONFIG_NAME, yaml.safe_dump(stored, sort_keys=False))

    # -- the loop ---------------------------------------------------------------------------------------------
    def _done(self) -> bool:
        c = self.config
        return self.step >= c["max_steps"] or (c["max_epochs"] is not None and self.epoch >= c["max_epochs"])

    def fit(self) -> dict[str, float]:
        """Train until max_steps or max_epochs; returns the last validation metrics (rank 0)."""
        from tqdm import tqdm

        c = self.config
        main = self.rank == 0
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
            if self.spec.resume:
                self._truncate_metrics()
            self._save_run_config()
            self._setup_file_log()
        if main and self.init_report and self.step == 0:
            r = self.init_report
            log.info(
                "data-dependent init of %d weight-normed convs on %d frames: latent std %.3g -> %.3g, distinct tokens "
                "%d -> %d, output std %.3g (audio %.3g)", r["layers"], r["frames"], r["latent_std_before"],
                r["latent_std"], r["distinct_tokens_before"], r["distinct_tokens"], r["output_std"], r["audio_std"],
            )
        self.generator.train()
        if self.discriminator is not None:
            self.discriminator.train()
        if main and self.step == 0:
            self._write_samples(*self.validate())
        bar = tqdm(total=c["max_steps"], initial=self.step, disable=not main, unit="step", dynamic_ncols=True)
        window_start, window_steps, last = time.perf_counter(), 0, {}
        while not self._done():
            sampler = self._sampler(self.batch_in_epoch)
            loader = torch.utils.data.DataLoader(
                self.dataset, batch_sampler=sampler, collate_fn=collate, num_workers=c["num_workers"],
                pin_memory=self.device.type == "cuda",
            )
            for batch in loader:
                for reason in batch.skipped:
                    log.warning("skipped unreadable training file: %s", reason)
                self.skipped += len(batch.skipped)
                if len(batch.audio_len):
                    last = self.train_step(batch, self.batch_in_epoch)
                self.batch_in_epoch += 1
                self.step += 1
                window_steps += 1
                bar.update(1)
                if main and self.step % c["log_every"] == 0:
                    now = time.perf_counter()
                    rate = window_steps / (now - window_start)
                    window_start, window_steps = now, 0
                    row = {"step": self.step, "epoch": self.epoch, "lr": self.opt_g.param_groups[0]["lr"],
                           "steps_per_s": rate, "skipped": self.skipped, **last}
                    self._log_row(row)
                    bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k in ("g_loss", "mel_l1", "d_loss", "steps_per_s")})
                if main and self.step % c["sample_every"] == 0:
                    self._write_samples(*self.validate())
                if main and self.step % c["checkpoint_every"] == 0:
                    self.save_state()
                if main and self.step % c["export_every"] == 0:
                    self.export(self.out / f"model_step{self.step}.nemo")
                if self._done():
                    break
            else:
                self.epoch += 1
                self.batch_in_epoch = 0
                self.sched_g.step()
                if self.sched_d is not None:
                    self.sched_d.step()
        bar.close()
        if main:
            if self.step % c["sample_every"]:
                self._write_samples(*self.validate())
            self.save_state()
            path = self.export()
            log.info("done at step %d: training state %s, model %s (%d unreadable files skipped)",
                     self.step, self.out / STATE_NAME, path, self.skipped)
            log.removeHandler(self._file_log)
            self._file_log.close()
        if self._writer:
            self._writer.close()
        return self.last_val

    def _setup_file_log(self) -> None:
        self._file_log = logging.FileHandler(self.out / LOG_NAME)
        self._file_log.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(self._file_log)
