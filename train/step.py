"""One training step of NeMo's recipe: a discriminator update on scheduled batches, then a generator update with
the mel, STFT, adversarial and feature-matching losses."""

from __future__ import annotations

import contextlib

import torch

from codec.devices import precision_dtype
from codec.lfsc.spectral_losses import MultiResolutionMelLoss, MultiResolutionSTFTLoss
from train.build import Models
from train.config import TrainConfig
from train.data import Batch
from train.losses import discriminator_loss, feature_matching_loss, generator_adversarial_loss


class TrainStep:
    """The step's losses, precision and device; called on a batch, it updates `models` and returns the losses."""

    def __init__(self, config: TrainConfig, models: Models, device: torch.device):
        c = config
        self.config, self.models, self.device = config, models, device
        self.amp_dtype = precision_dtype(c.precision)
        self.mel_loss = MultiResolutionMelLoss(
            c.generator.sample_rate, c.loss_resolutions, c.mel_loss_dims, c.mel_loss_log_guard
        ).to(device)
        self.stft_loss = MultiResolutionSTFTLoss(c.loss_resolutions, c.stft_loss_log_guard).to(device)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for the models' forward passes (none in fp32)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def should_update_disc(self, batch_idx: int) -> bool:
        """Whether this batch (index within the epoch) also updates the discriminator."""
        c = self.config
        return self.models.discriminator is not None and batch_idx % c.disc_update_period < c.disc_updates_per_period

    def __call__(self, batch: Batch, batch_idx: int) -> dict[str, float]:
        """One generator update, preceded by a discriminator update on scheduled batches; returns the losses."""
        c, m = self.config, self.models
        audio, audio_len = batch.audio.to(self.device), batch.audio_len.to(self.device)
        with self.autocast():
            audio_gen, _, _ = m.gen_ddp(audio, audio_len)
        audio, audio_len = m.generator.pad_audio(audio, audio_len)  # the losses see the padded target, as in NeMo
        metrics = {}
        if self.should_update_disc(batch_idx):
            with self.autocast():
                scores_real, scores_gen, _, _ = m.disc_ddp(audio, audio_gen.detach())
            loss_d = discriminator_loss(scores_real, scores_gen)
            _backward_step(loss_d, m.opt_d, m.scaler_d)
            metrics["d_loss"] = loss_d.item()

        mel = self.mel_loss(audio.float(), audio_gen.float(), audio_len)
        stft = self.stft_loss(audio.float(), audio_gen.float(), audio_len)
        loss = c.mel_loss_l1_scale * mel + c.stft_loss_scale * stft
        metrics.update(mel_l1=mel.item(), stft=stft.item())
        if m.discriminator is not None:
            # The plain module, not its DDP wrapper: only the generator's gradients are synchronised here.
            with self.autocast():
                _, scores_gen, fmaps_real, fmaps_gen = m.discriminator(audio, audio_gen)
            gen_adv = generator_adversarial_loss(scores_gen)
            feature = feature_matching_loss(fmaps_real, fmaps_gen)
            loss = loss + c.gen_loss_scale * gen_adv + c.feature_loss_scale * feature
            metrics.update(gen_adv=gen_adv.item(), feature=feature.item())
        _backward_step(loss, m.opt_g, m.scaler_g)
        if m.opt_d is not None:
            m.opt_d.zero_grad(set_to_none=True)  # drop the discriminator gradients of the generator pass
        metrics["g_loss"] = loss.item()
        return metrics


def _backward_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
