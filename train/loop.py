"""The LFSC training loop (NeMo's recipe): a run built from its spec and config, trained epoch by epoch with logs,
validation samples, resumable states and .nemo exports along the way."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import torch

from codec.errors import UserError
from codec.lfsc.model import LFSCModel
from train.build import (
    build_discriminator,
    build_generator,
    build_models,
    distributed,
    initial_weights,
    seed_everything,
    training_device,
    wrap_ddp,
)
from train.config import check_lengths, generator_from_dict
from train.data import Batch, CropDataset, EpochSampler, collate, load_clips
from train.run_folder import EXPORT_NAME, STATE_NAME, RunSpec, prepare_run, save_run_config
from train.run_log import RunLog
from train.state import Progress, export, generator_section, load_state, read_state, save_state
from train.step import TrainStep
from train.validation import validate, validation_set

log = logging.getLogger("lfsc-train")


class Trainer:
    """Builds everything from a RunSpec and config overrides, then `fit()` trains until max_steps / max_epochs."""

    def __init__(self, spec: RunSpec, overrides: dict[str, Any]):
        # Everything the user handed in (run folder, config, state, checkpoint, manifests) is read and checked
        # before the first file is written: a refused run leaves --out as it was (fit() writes).
        self.rank, self.world, local_rank = distributed()
        self.spec, self.config = prepare_run(spec, overrides)
        self.out = self.spec.out_dir
        self.device = training_device(self.config.device, local_rank)
        if self.config.precision == "fp16" and self.device.type != "cuda":
            raise UserError("precision=fp16 needs a CUDA GPU (use bf16 or fp32 on CPU)")
        saved_state = read_state(self.out / STATE_NAME, self.spec.trust_checkpoint) if self.spec.resume else None
        seed_everything(self.config.seed)

        generator = self._generator()
        c = self.config
        self.clips, self.clip_weights = load_clips(self.spec.manifests, c.min_duration)
        self.dataset = CropDataset(self.clips, c.generator.sample_rate, c.n_samples, c.seed)
        self.progress = Progress()
        if self.sampler(0).batches_per_epoch() == 0:
            raise UserError(
                f"{len(self.clips)} clips make no full batch of batch_size={c.batch_size} x {self.world} GPU(s): "
                "lower batch_size or set epoch_items"
            )
        discriminator, slm_shape = build_discriminator(c)
        if discriminator is not None:
            discriminator.to(self.device)
        self.models = build_models(c, generator, discriminator, slm_shape)
        self.train_step = TrainStep(c, self.models, self.device)

        self.init_report: dict[str, float] | None = None
        if saved_state is not None:
            load_state(self.out / STATE_NAME, saved_state, self.models, self.progress)
        elif not self.spec.init_from and c.data_dependent_init:
            first_epoch = EpochSampler(self.clip_weights, len(self.clips), c.batch_size, c.seed, 0, c.epoch_items)
            self.init_report = initial_weights(generator, self.dataset, first_epoch, self.device)
        if self.world > 1:
            wrap_ddp(self.models, self.device)

        self.val_audio = validation_set(c, self.clips, generator.min_samples) if self.rank == 0 else []
        self.run_log = RunLog(self.out, c.generator.sample_rate)
        self.last_val: dict[str, float] = {}
        self._last: dict[str, float] = {}  # the losses of the last trained batch, for the next log row
        self._window_start, self._window_steps = 0.0, 0  # steps since the last log row, for steps/s

    def _generator(self) -> LFSCModel:
        """The generator on the device; with --init-from, the config's generator section becomes the checkpoint's."""
        model = build_generator(self.config, self.spec)
        if self.spec.init_from and not self.spec.resume:
            self.config = replace(self.config, generator=generator_from_dict(generator_section(model)))
        model.to(self.device)
        check_lengths(self.config, model.min_samples)
        return model

    def sampler(self, start_batch: int) -> EpochSampler:
        """This rank's batches of the current epoch, from batch `start_batch` on."""
        c = self.config
        return EpochSampler(
            self.clip_weights, len(self.clips), c.batch_size, c.seed, self.progress.epoch, c.epoch_items,
            self.rank, self.world, start_batch,
        )

    def fit(self) -> dict[str, float]:
        """Train until max_steps or max_epochs; returns the last validation metrics (rank 0)."""
        from tqdm import tqdm

        main = self.rank == 0
        if main:
            self._start_run_files()
        self.models.generator.train()
        if self.models.discriminator is not None:
            self.models.discriminator.train()
        if main and self.progress.step == 0:
            self._sample()
        bar = tqdm(total=self.config.max_steps, initial=self.progress.step, disable=not main, unit="step",
                   dynamic_ncols=True)
        self._window_start, self._window_steps = time.perf_counter(), 0
        while not self._done():
            self._train_epoch(bar)
        bar.close()
        if main:
            self._finish()
        self.run_log.close()
        return self.last_val

    def _done(self) -> bool:
        c, p = self.config, self.progress
        return p.step >= c.max_steps or (c.max_epochs is not None and p.epoch >= c.max_epochs)

    def _start_run_files(self) -> None:
        """Create the run folder, drop log rows after a resumed state, save config.yaml, start train.log (rank 0)."""
        self.out.mkdir(parents=True, exist_ok=True)
        if self.spec.resume:
            self.run_log.truncate(self.progress.step)
        save_run_config(self.spec, self.config)
        self.run_log.open_file_log()
        r = self.init_report
        if r and self.progress.step == 0:
            log.info(
                "data-dependent init of %d weight-normed convs on %d frames: latent std %.3g -> %.3g, distinct tokens "
                "%d -> %d, output std %.3g (audio %.3g)", r["layers"], r["frames"], r["latent_std_before"],
                r["latent_std"], r["distinct_tokens_before"], r["distinct_tokens"], r["output_std"], r["audio_std"],
            )

    def _train_epoch(self, bar) -> None:
        """Train on the rest of the current epoch, or until done; at the epoch's end, step the lr schedules."""
        c, p, m = self.config, self.progress, self.models
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_sampler=self.sampler(p.batch_in_epoch), collate_fn=collate,
            num_workers=c.num_workers, pin_memory=self.device.type == "cuda",
        )
        for batch in loader:
            self._train_on(batch)
            bar.update(1)
            if self.rank == 0:
                self._record(bar)
            if self._done():
                return
        p.epoch += 1
        p.batch_in_epoch = 0
        m.sched_g.step()
        if m.sched_d is not None:
            m.sched_d.step()

    def _train_on(self, batch: Batch) -> None:
        """One step on `batch` (whose unreadable files are logged and counted), moving the counters on."""
        p = self.progress
        for reason in batch.skipped:
            log.warning("skipped unreadable training file: %s", reason)
        p.skipped += len(batch.skipped)
        if len(batch.audio_len):
            self._last = self.train_step(batch, p.batch_in_epoch)
        p.batch_in_epoch += 1
        p.step += 1
        self._window_steps += 1

    def _record(self, bar) -> None:
        """After a step (rank 0): the log row, validation samples, training state and export that are due."""
        c, p = self.config, self.progress
        if p.step % c.log_every == 0:
            now = time.perf_counter()
            rate = self._window_steps / (now - self._window_start)
            self._window_start, self._window_steps = now, 0
            row = {"step": p.step, "epoch": p.epoch, "lr": self.models.opt_g.param_groups[0]["lr"],
                   "steps_per_s": rate, "skipped": p.skipped, **self._last}
            self.run_log.row(row)
            bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k in ("g_loss", "mel_l1", "d_loss", "steps_per_s")})
        if p.step % c.sample_every == 0:
            self._sample()
        if p.step % c.checkpoint_every == 0:
            save_state(self.out / STATE_NAME, self.models, p)
        if p.step % c.export_every == 0:
            export(self.out / f"model_step{p.step}.nemo", self.models, self.config)

    def _sample(self) -> None:
        """Validate, keep the losses as the last validation metrics, and write the samples and the log row."""
        metrics, decoded = validate(self.train_step, self.val_audio)
        self.last_val = metrics
        self.run_log.samples(self.progress.step, self.progress.epoch, metrics, decoded, self.val_audio)

    def _finish(self) -> None:
        """The end of training (rank 0): a last validation if due, the final state and model.nemo."""
        p = self.progress
        if p.step % self.config.sample_every:
            self._sample()
        state = save_state(self.out / STATE_NAME, self.models, p)
        path = export(self.out / EXPORT_NAME, self.models, self.config)
        log.info("done at step %d: training state %s, model %s (%d unreadable files skipped)",
                 p.step, state, path, p.skipped)
