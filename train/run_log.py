"""What a run records as it trains (rank 0): metrics.csv rows, TensorBoard scalars and audio, validation samples,
and train.log."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
import torch

from codec.audio import save_audio
from train.run_folder import LOG_NAME, METRICS_NAME

log = logging.getLogger("lfsc-train")

CSV_COLUMNS = (
    "step", "epoch", "lr", "steps_per_s", "g_loss", "mel_l1", "stft", "gen_adv", "feature", "d_loss",
    "val_loss", "val_mel_l1", "val_stft", "val_time_l1", "skipped",
)


class RunLog:
    """The run folder's logs; TensorBoard is opened at its first use (and left out, with a warning, when missing)."""

    def __init__(self, out: Path, sample_rate: int):
        self.out, self.sample_rate = out, sample_rate
        self._writer = None
        self._file_log: logging.Handler | None = None

    def open_file_log(self) -> None:
        """Copy the log lines into train.log."""
        self._file_log = logging.FileHandler(self.out / LOG_NAME)
        self._file_log.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(self._file_log)

    def close(self) -> None:
        """Stop copying into train.log and close TensorBoard."""
        if self._file_log is not None:
            log.removeHandler(self._file_log)
            self._file_log.close()
        if self._writer:
            self._writer.close()

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

    def row(self, row: dict) -> None:
        """Append `row` (its step and epoch, and values named by CSV_COLUMNS) to metrics.csv and TensorBoard."""
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
                    tb.add_scalar(key, value, row["step"])

    def samples(self, step: int, epoch: int, metrics: dict, decoded: list[np.ndarray], references: list[np.ndarray]) -> None:
        """Write the decoded validation clips (and, once, their references) and log the validation losses."""
        sr = self.sample_rate
        folder = self.out / "samples" / f"step_{step:07d}"
        tb = self._tensorboard()
        for i, audio in enumerate(decoded):
            save_audio(folder / f"val_{i}.wav", audio, sr)
            reference = self.out / "samples" / "reference" / f"val_{i}.wav"
            if not reference.exists():
                save_audio(reference, references[i], sr)
            if tb is not None:
                tb.add_audio(f"val_{i}", torch.from_numpy(audio)[None], step, sample_rate=sr)
        self.row({"step": step, "epoch": epoch, **metrics})

    def truncate(self, step: int) -> None:
        """Drop metrics.csv rows written after `step` (a resumed state's), so the curve has no duplicate steps."""
        path = self.out / METRICS_NAME
        if not path.exists():
            return
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
