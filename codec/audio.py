"""Audio I/O and resampling shared by every part of the project (one loader, one resampler)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

import numpy as np
import soundfile as sf
import soxr

from codec.blocks import join_blocks
from codec.containers import check_data_size, check_ogg
from codec.errors import UserError
from codec.files import input_file, replacing

RESAMPLER = "soxr VHQ"  # recorded in every report so numbers can be reproduced
UNKNOWN_LENGTH = 2**63 - 1  # what libsndfile reports as the length of a file whose header does not give it
# Sample rates read from a file or asked for: telephone speech and below down to 1 kHz, up to the highest rate any
# audio interface offers. Outside, rates are damage or mistakes, and resampling to them overflows or exhausts memory.
MIN_RATE, MAX_RATE = 1000, 768000


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


def check_rate(rate: int, what: str) -> int:
    """`rate` if it lies within MIN_RATE..MAX_RATE Hz; a UserError that starts with `what` otherwise."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise UserError(f"{what} {rate} Hz, outside the {MIN_RATE}..{MAX_RATE} Hz this tool takes")
    return rate


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
            f = sf.SoundFile(str(input_file(self.path)))
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise UserError(f"{self.path}: not a readable audio file ({exc}); re-export it") from None
        with f:
            while True:
                try:  # read() rather than blocks(): blocks() pads a short read with its previous buffer's samples.
                    data = f.read(size, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as exc:
                    raise self._cut_off(f"reading failed after {done / self.file_rate:.2f} s ({exc})") from None
                if not len(data):
                    break
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
        if done != self.file_samples:
            raise self._cut_off(f"only {done / self.file_rate:.2f} s can be read")

    def _cut_off(self, what: str) -> UserError:
        return UserError(f"{self.path}: its header promises {self.file_samples / self.file_rate:.2f} s but {what}: the "
                         "file is cut off or damaged; re-export it")

    def blocks(self, block_seconds: float = 10.0) -> Iterator[np.ndarray]:
        """The samples at `sample_rate`, about `block_seconds` at a time; joined, they are what `read` returns."""
        return resample_blocks(self._file_blocks(block_seconds), self.file_rate, self.sample_rate)

    def read(self) -> np.ndarray:
        """All the samples at `sample_rate`, in one array."""
        return join_blocks(self.blocks(), self.num_samples)


def open_audio(path: str | Path, sample_rate: int | None = None) -> AudioFile:
    """Open any file soundfile reads, to be read as mono float32 at `sample_rate` (default: the file's rate); a
    file that is no regular file, has an absurd rate, or is cut off or damaged where its container can tell, is
    refused."""
    path = input_file(path)
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"OggS":  # before libsndfile, which calls a cut-off Ogg file empty or malformed
        check_ogg(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise UserError(f"{path}: not a readable audio file ({exc})") from None
    check_rate(int(info.samplerate), f"{path}: its header gives a sample rate of")
    if info.frames >= UNKNOWN_LENGTH:
        raise UserError(f"{path}: its header does not give its length (as a streamed FLAC may not): re-encode it, e.g. "
                        "with `flac -f` or ffmpeg, so that the length is written")
    check_data_size(path, int(info.frames), float(info.frames / info.samplerate))
    if info.frames <= 0:
        raise UserError(f"{path} is empty: it holds no samples")
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


class _Sink:
    """The file libsndfile writes through (its virtual I/O), keeping the OSError of a failed write: libsndfile sees
    only a short write and reports no cause, so a full disk would read as an unexplained library error."""

    def __init__(self, file: BinaryIO):
        self.file = file
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        """Write `data`; 0 bytes written (and the error kept) when the file system refuses."""
        try:
            return self.file.write(data)
        except OSError as exc:
            self.error = self.error or exc
            return 0

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move in the file."""
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        """Position in the file."""
        return self.file.tell()

    def read(self, size: int = -1) -> bytes:
        """Read back (libsndfile rereads its header to finish it)."""
        return self.file.read(size)


def write_audio(path: str | Path, blocks: Iterable[np.ndarray], sample_rate: int) -> int:
    """Write mono blocks as they come, clipped to [-1, 1]; the format follows the extension (16-bit PCM for WAV).
    The file appears only when complete (`replacing`); returns how many samples lay beyond full scale (clipped)."""
    check_output_path(path, sample_rate)
    suffix = Path(path).suffix.lstrip(".").upper()
    subtype = "PCM_16" if suffix == "WAV" else None
    clipped = 0
    with replacing(path) as tmp, open(tmp, "w+b") as file:
        sink = _Sink(file)
        try:
            with sf.SoundFile(sink, "w", sample_rate, 1, format=suffix, subtype=subtype) as f:
                for block in blocks:
                    block = np.asarray(block, dtype=np.float32)
                    clipped += int(np.count_nonzero(np.abs(block) > 1.0))
                    f.write(np.clip(block, -1.0, 1.0))
        except (sf.LibsndfileError, RuntimeError, AssertionError):  # soundfile asserts that all frames were written
            if sink.error is None:
                raise
        if sink.error is not None:
            raise sink.error  # `replacing` names the output in it
    return clipped


def save_audio(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write mono audio in one go (`write_audio`)."""
    write_audio(path, [samples], sample_rate)
