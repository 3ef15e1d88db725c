"""Audio I/O and resampling shared by every part of the project (one loader, one resampler)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import soundfile as sf
import soxr

from codec.blocks import join_blocks
from codec.errors import UserError
from codec.files import replacing

RESAMPLER = "soxr VHQ"  # recorded in every report so numbers can be reproduced
UNKNOWN_LENGTH = 2**63 - 1  # what libsndfile reports as the length of a file whose header does not give it


@dataclass
class Audio:
    """Mono float32 samples in [-1, 1] and their sample rate, plus what loading had to change."""

    samples: np.ndarray
    sample_rate: int
    notices: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate


def resample(samples: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample mono float audio with soxr (very high quality); identity when the rates match."""
    samples = np.asarray(samples, dtype=np.float32)
    if sr_in == sr_out:
        return samples
    return soxr.resample(samples, sr_in, sr_out, quality="VHQ").astype(np.float32, copy=False)


def fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad the end of `samples` to exactly `length` samples."""
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) >= length:
        return samples[:length]
    return np.pad(samples, (0, length - len(samples)))


def validate(samples: np.ndarray, what: str = "audio") -> np.ndarray:
    """Check that audio is a non-empty, finite 1-D float signal; raise UserError otherwise."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise UserError(f"{what} must be mono (1-D), got shape {samples.shape}")
    if samples.size == 0:
        raise UserError(f"{what} is empty: it holds no samples")
    if not np.all(np.isfinite(samples)):
        bad = int(np.count_nonzero(~np.isfinite(samples)))
        raise UserError(f"{what} holds {bad} NaN or infinite samples: repair or re-export the file")
    return samples


def resampled_length(num_samples: int, sr_in: int, sr_out: int) -> int:
    """How many samples `resample` gives for `num_samples`."""
    # soxr's own arithmetic, in doubles: exact halves round as its float ratio makes them (480 samples at
    # 48 kHz -> 220 at 22.05 kHz, not 221), so an exact rational rounding would be off by one there.
    return int(num_samples / (sr_in / sr_out) + 0.5)


def resample_blocks(blocks: Iterable[np.ndarray], sr_in: int, sr_out: int) -> Iterator[np.ndarray]:
    """Resample a stream of mono blocks; joined, the output is exactly `resample` of the joined input."""
    if sr_in == sr_out:
        yield from (np.asarray(block, dtype=np.float32) for block in blocks)
        return
    stream = soxr.ResampleStream(sr_in, sr_out, 1, dtype="float32", quality="VHQ")
    for block in blocks:
        yield stream.resample_chunk(np.asarray(block, dtype=np.float32))
    yield stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)


@dataclass(frozen=True)
class AudioFile:
    """An audio file read block by block as mono float32 at `sample_rate` (downmixed and resampled on the way),
    so that files of any length are read in bounded memory."""

    path: Path
    file_rate: int
    file_samples: int
    channels: int
    sample_rate: int

    @property
    def notices(self) -> tuple[str, ...]:
        """What reading changes: the downmix and the resampling, if any."""
        notices = []
        if self.channels > 1:
            notices.append(f"{self.path.name}: {self.channels} channels downmixed to mono")
        if self.sample_rate != self.file_rate:
            notices.append(f"{self.path.name}: resampled {self.file_rate} Hz -> {self.sample_rate} Hz ({RESAMPLER})")
        return tuple(notices)

    @property
    def num_samples(self) -> int:
        """Samples the blocks hold in all, at `sample_rate`."""
        return resampled_length(self.file_samples, self.file_rate, self.sample_rate)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.file_samples / self.file_rate

    def _file_blocks(self, block_seconds: float) -> Iterator[np.ndarray]:
        done = 0
        size = max(1, round(block_seconds * self.file_rate))
        try:
            with sf.SoundFile(str(self.path)) as f:
                # read() rather than blocks(): blocks() pads a short read with its previous buffer's samples.
                while len(data := f.read(size, dtype="float32", always_2d=True)):
                    if done + len(data) > self.file_samples:
                        raise UserError(f"{self.path}: holds more samples than its header says ({self.file_samples}): the "
                                        "file is damaged; re-export it")
                    block = data.mean(axis=1) if self.channels > 1 else data[:, 0]
                    if not np.all(np.isfinite(block)):
                        at = (done + int(np.argmin(np.isfinite(block)))) / self.file_rate
                        raise UserError(f"{self.path} holds NaN or infinite samples (the first at {at:.3f} s): repair or "
                                        "re-export the file")
                    done += len(block)
                    yield block
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise UserError(f"{self.path}: not a readable audio file ({exc}); re-export it") from None
        if done != self.file_samples:
            raise UserError(f"{self.path}: its header promises {self.file_samples / self.file_rate:.2f} s but only "
                            f"{done / self.file_rate:.2f} s can be read: the file is cut off or damaged; re-export it")

    def blocks(self, block_seconds: float = 10.0) -> Iterator[np.ndarray]:
        """The samples at `sample_rate`, about `block_seconds` at a time; joined, they are what `read` returns."""
        return resample_blocks(self._file_blocks(block_seconds), self.file_rate, self.sample_rate)

    def read(self) -> np.ndarray:
        """All the samples at `sample_rate`, in one array."""
        return join_blocks(self.blocks(), self.num_samples)


def open_audio(path: str | Path, sample_rate: int | None = None) -> AudioFile:
    """Open any file soundfile reads, to be read as mono float32 at `sample_rate` (default: the file's rate)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not an audio file")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise UserError(f"{path}: not a readable audio file ({exc})") from None
    if info.frames <= 0:
        raise UserError(f"{path} is empty: it holds no samples")
    if info.frames >= UNKNOWN_LENGTH:
        raise UserError(f"{path}: its header does not give its length (as a streamed FLAC may not): re-encode it, e.g. "
                        "with `flac -f` or ffmpeg, so that the length is written")
    return AudioFile(path, int(info.samplerate), int(info.frames), int(info.channels), int(sample_rate or info.samplerate))


def load_audio(path: str | Path, sample_rate: int | None = None) -> Audio:
    """Read any file soundfile reads as validated mono float32, downmixing and resampling when asked."""
    source = open_audio(path, sample_rate)
    return Audio(samples=source.read(), sample_rate=source.sample_rate, notices=source.notices)


def check_output_path(path: str | Path, sample_rate: int | None = None) -> None:
    """Raise a UserError unless soundfile can write audio in the format `path`'s extension names (at
    `sample_rate`, when given: MP3, for one, takes only some rates)."""
    suffix = Path(path).suffix.lstrip(".").upper()
    if suffix not in sf.available_formats() or (suffix != "WAV" and sf.default_subtype(suffix) is None):
        raise UserError(f"{path}: cannot write audio as '.{suffix.lower()}'; use .wav, .flac or .ogg")
    if suffix == "OGG" and sample_rate is not None and sample_rate > 192000:  # libvorbis crashes there
        raise UserError(f"{path}: cannot write '.ogg' above 192000 Hz; use .wav or .flac")
    if sample_rate is not None:
        try:  # libsndfile knows which rates a format takes: ask it with an empty file in memory
            sf.SoundFile(io.BytesIO(), "w", sample_rate, 1, format=suffix).close()
        except (sf.LibsndfileError, RuntimeError) as exc:
            why = getattr(exc, "error_string", str(exc))
            raise UserError(f"{path}: cannot write '.{suffix.lower()}' at {sample_rate} Hz ({why}); use .wav or .flac") from None


def write_audio(path: str | Path, blocks: Iterable[np.ndarray], sample_rate: int) -> int:
    """Write mono blocks as they come, clipped to [-1, 1]; the format follows the extension (16-bit PCM for WAV).
    The file appears only when complete (`replacing`); returns how many samples lay beyond full scale (clipped)."""
    check_output_path(path, sample_rate)
    subtype = "PCM_16" if Path(path).suffix.lower() == ".wav" else None
    clipped = 0
    with replacing(path) as tmp, sf.SoundFile(str(tmp), "w", sample_rate, 1, subtype=subtype) as f:
        for block in blocks:
            block = np.asarray(block, dtype=np.float32)
            clipped += int(np.count_nonzero(np.abs(block) > 1.0))
            f.write(np.clip(block, -1.0, 1.0))
    return clipped


def save_audio(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write mono audio in one go (`write_audio`)."""
    write_audio(path, [samples], sample_rate)
