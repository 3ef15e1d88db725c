"""What a training run is built from: the process's rank and device, the generator, the discriminators, their
optimisers, schedulers and gradient scalers."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from codec.devices import resolve_device
from codec.errors import UserError
from codec.lfsc.checkpoint import load_lfsc
from codec.lfsc.model import LFSCModel
from train.config import TrainConfig, generator_config
from train.data import CropDataset, EpochSampler, collate
from train.discriminators import Discriminator, MultiPeriodDiscriminator, MultiResolutionDiscriminatorSTFT
from train.run_folder import RunSpec
from train.weight_norm_init import data_dependent_init


@dataclass
class Models:
    """The trained modules and what updates them; gen_ddp/disc_ddp are the DDP wrappers (the modules themselves
    when one process trains)."""

    generator: LFSCModel
    discriminator: Discriminator | None
    slm_shape: tuple[int, int] | None  # (hidden size, hidden states) of the SLM backbone, for the export
    opt_g: torch.optim.Optimizer
    sched_g: torch.optim.lr_scheduler.LRScheduler
    opt_d: torch.optim.Optimizer | None
    sched_d: torch.optim.lr_scheduler.LRScheduler | None
    scaler_g: torch.amp.GradScaler
    scaler_d: torch.amp.GradScaler
    gen_ddp: nn.Module
    disc_ddp: nn.Module | None


def distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank), starting the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = torch.distributed.get_rank() if world > 1 else 0
    return rank, world, int(os.environ.get("LOCAL_RANK", "0"))


def training_device(choice: str, local_rank: int) -> torch.device:
    """The config's device for this process: "auto" on a GPU machine is this process's GPU (cuda:<local rank>)."""
    name = resolve_device(choice)
    device = torch.device(f"cuda:{local_rank}" if choice == "auto" and name == "cuda" else name)
    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL and the default CUDA stream follow this process's GPU
    return device


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and Python's random generators."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def build_generator(config: TrainConfig, spec: RunSpec) -> LFSCModel:
    """The generator: a new run with --init-from loads the checkpoint (trainable), any other builds `config`'s."""
    if spec.init_from and not spec.resume:
        model = load_lfsc(spec.init_from, device="cpu", trust=spec.trust_checkpoint, fold_weight_norm=False)
        model.train()
    else:
        try:
            model = LFSCModel(generator_config(config.generator))
        except (TypeError, ValueError, RuntimeError) as exc:
            raise UserError(f"generator config: {str(exc).splitlines()[0]}") from None
    if spec.freeze_encoder:
        for p in model.audio_encoder.parameters():
            p.requires_grad_(False)
    return model


def build_discriminator(c: TrainConfig) -> tuple[Discriminator | None, tuple[int, int] | None]:
    """The discriminators (none unless use_discriminator) and the SLM backbone's (hidden size, hidden states)."""
    if not c.use_discriminator:
        return None, None
    parts = [MultiResolutionDiscriminatorSTFT(c.stft_disc_resolutions), MultiPeriodDiscriminator(c.mpd_periods)]
    slm_shape = None
    if c.slm_backbone != "none":
        from train.slm import SLMDiscriminator, build_backbone

        backbone = build_backbone(c.slm_backbone, c.slm_model_dir)
        slm_shape = (backbone.hidden_size, backbone.num_states)
        parts.append(SLMDiscriminator(backbone, c.generator.sample_rate, c.slm_initial_channel))
    return Discriminator(parts), slm_shape


def build_models(c: TrainConfig, generator: LFSCModel, discriminator: Discriminator | None,
                 slm_shape: tuple[int, int] | None) -> Models:
    """Adam and ExponentialLR for each trained module, gradient scalers (active in fp16 only); no DDP yet."""
    gen_params = [p for p in generator.parameters() if p.requires_grad]
    opt_g = torch.optim.Adam(gen_params, lr=c.lr, betas=tuple(c.betas))
    sched_g = torch.optim.lr_scheduler.ExponentialLR(opt_g, gamma=c.lr_decay)
    opt_d = sched_d = None
    if discriminator is not None:
        disc_params = [p for p in discriminator.parameters() if p.requires_grad]
        opt_d = torch.optim.Adam(disc_params, lr=c.lr, betas=tuple(c.betas))
        sched_d = torch.optim.lr_scheduler.ExponentialLR(opt_d, gamma=c.lr_decay)
    fp16 = c.precision == "fp16"
    return Models(generator, discriminator, slm_shape, opt_g, sched_g, opt_d, sched_d,
                  scaler_g=torch.amp.GradScaler("cuda", enabled=fp16), scaler_d=torch.amp.GradScaler("cuda", enabled=fp16),
                  gen_ddp=generator, disc_ddp=discriminator)


def wrap_ddp(models: Models, device: torch.device) -> None:
    """Wrap the generator and discriminators for DistributedDataParallel (several processes)."""
    ids = [device.index] if device.type == "cuda" else None
    models.gen_ddp = nn.parallel.DistributedDataParallel(models.generator, device_ids=ids)
    if models.discriminator is not None:
        models.disc_ddp = nn.parallel.DistributedDataParallel(models.discriminator, device_ids=ids)


def initial_weights(generator: LFSCModel, dataset: CropDataset, sampler: EpochSampler,
                    device: torch.device) -> dict[str, float]:
    """Weight-norm data-dependent init of a from-scratch generator on the first usable batch of `sampler`.

    The caller gives rank 0's epoch-0 sampler on every rank, so all start from the same weights (DDP also
    broadcasts rank 0's).
    """
    for keys in sampler:
        batch = collate([dataset[key] for key in keys])
        if len(batch.audio_len) and batch.audio.abs().max() > 0:  # a silent batch has no scale to measure
            return data_dependent_init(generator, batch.audio.to(device), batch.audio_len.to(device))
    raise UserError("data_dependent_init: no readable, non-silent audio in the first epoch; check the manifests "
                    "or set data_dependent_init=false")
