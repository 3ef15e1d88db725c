"""STOI (Taal 2011) and extended STOI (Jensen & Taal 2016) in bounded memory, equal to `pystoi` (to rounding).

pystoi holds every 30-frame segment of both signals at once (about 1.5 GB for 10 minutes of speech); here the
silent-frame removal, the band envelopes and the segment sums go a block at a time, so memory grows only with the
signal itself. The steps and constants are pystoi's (its third-octave band matrix is used as is).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from eval.interruptible import checkpoint

RATE = 10000  # Hz: STOI's own rate; callers resample to it
FRAME = 256  # samples per frame (window support)
HOP = FRAME // 2
NFFT = 512
SEGMENT = 30  # frames in one intermediate-intelligibility segment (384 ms)
DYN_RANGE = 40.0  # dB below the loudest reference frame that still counts as speech
BETA = -15.0  # lower signal-to-distortion bound (dB) of the clipping in STOI
EPS = np.finfo(float).eps
BLOCK_FRAMES = 4096  # frames per block: a few MB of intermediates whatever the length


def _window() -> np.ndarray:
    return np.hanning(FRAME + 2)[1:-1]


def _frames(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The windowed frames starting at rows * HOP."""
    return x[rows[:, None] * HOP + np.arange(FRAME)] * _window()


def _frame_blocks(x: np.ndarray) -> Iterator[np.ndarray]:
    """The windowed frames of x (pystoi's: starts 0, HOP, ... before len(x) - FRAME), BLOCK_FRAMES at a time."""
    count = len(range(0, len(x) - FRAME, HOP))
    for start in range(0, count, BLOCK_FRAMES):
        yield _frames(x, np.arange(start, min(start + BLOCK_FRAMES, count)))


def remove_silent_frames(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both signals rebuilt (overlap-add) from the frames where the reference is within DYN_RANGE of its loudest."""
    energies = np.concatenate([20 * np.log10(np.linalg.norm(frames, axis=1) + EPS) for frames in _frame_blocks(x)]
                              or [np.zeros(0)])
    kept = np.flatnonzero((np.max(energies, initial=-np.inf) - DYN_RANGE - energies) < 0)
    return _overlap_add(x, kept), _overlap_add(y, kept)


def _overlap_add(x: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Frames `kept` of x, windowed, laid one HOP after another and summed where they overlap."""
    if not len(kept):
        return np.zeros(0)
    out = np.zeros((len(kept) + 1, HOP))
    for s in range(0, len(kept), BLOCK_FRAMES):
        frames = _frames(x, kept[s:s + BLOCK_FRAMES])
        out[s:s + len(frames)] += frames[:, :HOP]
        out[s + 1:s + 1 + len(frames)] += frames[:, HOP:]
    return out.reshape(-1)


def band_envelopes(x: np.ndarray) -> np.ndarray:
    """Third-octave band magnitudes (15 bands x frames) of the STFT of x."""
    from pystoi.utils import thirdoct

    bands, _ = thirdoct(RATE, NFFT, 15, 150)
    return np.concatenate([np.sqrt(bands @ np.square(np.abs(np.fft.rfft(frames, n=NFFT))).T)
                           for frames in _frame_blocks(x)] or [np.zeros((len(bands), 0))], axis=1)


def _segments(tob: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Segments `start`..`stop` (segment j = frames j..j+SEGMENT-1) as (segments, bands, SEGMENT)."""
    return sliding_window_view(tob[:, start:stop + SEGMENT - 1], SEGMENT, axis=1).transpose(1, 0, 2)


def _stoi_sum(x: np.ndarray, y: np.ndarray) -> float:
    """Sum over segments and bands of the correlation of the clipped, normalised envelopes (STOI)."""
    y = y * (np.linalg.norm(x, axis=2, keepdims=True) / (np.linalg.norm(y, axis=2, keepdims=True) + EPS))
    y = np.minimum(y, x * (1 + 10 ** (-BETA / 20)))
    y = y - np.mean(y, axis=2, keepdims=True)
    x = x - np.mean(x, axis=2, keepdims=True)
    y /= np.linalg.norm(y, axis=2, keepdims=True) + EPS
    x /= np.linalg.norm(x, axis=2, keepdims=True) + EPS
    return float(np.sum(y * x))


def _row_col_normalize(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows, then columns, of each segment to zero mean and unit norm (pystoi's, with its EPS dither)."""
    x = x + EPS * rng.standard_normal(x.shape)
    x = x - np.mean(x, axis=-1, keepdims=True)
    x = x / np.sqrt(np.sum(np.square(x), axis=-1, keepdims=True))
    x = x + EPS * rng.standard_normal(x.shape)
    x = x - np.mean(x, axis=1, keepdims=True)
    return x / np.sqrt(np.sum(np.square(x), axis=1, keepdims=True))


def stoi(x: np.ndarray, y: np.ndarray, extended: bool = False) -> float | None:
    """STOI (or ESTOI) of y against the reference x, both at RATE; None when fewer than SEGMENT speech frames."""
    x, y = remove_silent_frames(np.asarray(x, np.float64), np.asarray(y, np.float64))
    x_tob, y_tob = band_envelopes(x), band_envelopes(y)
    count = x_tob.shape[1] - SEGMENT + 1
    if count < 1:
        return None
    rng = np.random.default_rng(0)
    total = 0.0
    for s in range(0, count, BLOCK_FRAMES):
        checkpoint()
        xs, ys = _segments(x_tob, s, min(s + BLOCK_FRAMES, count)), _segments(y_tob, s, min(s + BLOCK_FRAMES, count))
        if extended:
            total += float(np.sum(_row_col_normalize(xs, rng) * _row_col_normalize(ys, rng))) / SEGMENT
        else:
            total += _stoi_sum(xs, ys)
    return total / count if extended else total / (count * x_tob.shape[0])
