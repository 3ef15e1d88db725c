"""Fast LFSC inference: unmasked full-length batches, overlapping chunks for long inputs (which can also arrive
and leave as a stream of blocks, so a file of any length is coded in bounded memory), length-bucketed batching
for many clips, and a precision option (fp32 exact by default; bf16/fp16 run a packed twin of the generator where
codec/lfsc/packed.py covers the device: x86 CPUs with native bf16, and CUDA; otherwise autocast).

Why it is exact: every batch run here has all items at full length (audio is zero-padded to whole frames, as
the model itself does, and buckets hold clips of equal frame count), so the model's length masks multiply by
one everywhere; skipping them gives bit-identical results. The model is non-causal with a finite receptive
field (`receptive_field`), so a chunk whose window extends that far (plus a frame) beyond its core on both
sides yields the same tokens and samples for its core as the whole file does; chunk borders fall on frame
multiples (1024 samples) so tokens align, and the decoded cores are joined with hard cuts.
"""

from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from codec.blocks import join_blocks
from codec.devices import precision_dtype
from codec.errors import UserError
from codec.lfsc import packed
from codec.lfsc.mel_encoder import MultiBandMelEncoder
from codec.lfsc.model import LFSCModel, decoder_full, encoder_full
from codec.streaming import CodecStream

DEFAULT_CHUNK_SECONDS = 5.0  # chunk core: a 10 s core would add ~150 MB of peak RSS for 6% less overlap work


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context of a precision name ('fp32' runs plain float32; a UserError for an unknown name)."""
    dtype = precision_dtype(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


# -- receptive field -------------------------------------------------------------------------------------------
def _conv_back(conv: torch.nn.Module, lo: int, hi: int) -> tuple[int, int]:
    """Input steps [lo', hi'] that the output steps [lo, hi] of one (transposed) conv read."""
    k, s, d, p = conv.kernel_size[0], conv.stride[0], conv.dilation[0], conv.padding[0]
    if isinstance(conv, torch.nn.ConvTranspose1d):  # output o = s * i - p + d * m, m in [0, k)
        return -(-(lo + p - d * (k - 1)) // s), (hi + p) // s
    return s * lo - p, s * hi - p + d * (k - 1)


def _res_layer_back(layer: torch.nn.Module, lo: int, hi: int) -> tuple[int, int]:
    spans = []
    for block in layer.res_blocks:
        b_lo, b_hi = lo, hi
        for unit in reversed(block.res_blocks):  # y + skip_conv(act(input_conv(act(y)))): the identity too
            u_lo, u_hi = _conv_back(unit.input_conv.conv, *_conv_back(unit.skip_conv.conv, b_lo, b_hi))
            b_lo, b_hi = min(b_lo, u_lo), max(b_hi, u_hi)
        spans.append((b_lo, b_hi))
    return min(s[0] for s in spans), max(s[1] for s in spans)


def receptive_field(model: LFSCModel) -> tuple[int, int]:
    """Whole frames of context each side that one encoded frame / one decoded frame depends on.

    Walks the layers backwards from one output frame, through every branch, to the input steps it reads
    (reflect padding only matters within this span of an edge).
    """
    spf, mid = model.samples_per_frame, 1000  # any frame far from 0, so no span goes negative
    enc = model.audio_encoder
    if isinstance(enc, MultiBandMelEncoder):
        encoder = enc.context_frames()
    else:
        lo, hi = _conv_back(enc.post_conv.conv, mid, mid)
        for res_layer, down in zip(reversed(enc.res_layers), reversed(enc.down_sample_conv_layers)):
            lo, hi = _res_layer_back(res_layer, *_conv_back(down.conv, lo, hi))
        lo, hi = _conv_back(enc.pre_conv.conv, lo, hi)
        encoder = math.ceil(max(mid * spf - lo, hi - (mid + 1) * spf + 1) / spf)
    dec = model.audio_decoder
    lo, hi = _conv_back(dec.post_conv.conv, mid * spf, (mid + 1) * spf - 1)
    for up, res_layer in zip(reversed(dec.up_sample_conv_layers), reversed(dec.res_layers)):
        lo, hi = _conv_back(up.conv, *_res_layer_back(res_layer, lo, hi))
    lo, hi = _conv_back(dec.pre_conv.conv, lo, hi)
    return encoder, max(mid - lo, hi - mid)


# -- chunks and buckets ----------------------------------------------------------------------------------------
def windows(frames: int, core: int, context: int) -> list[tuple[int, int, int, int]]:
    """Chunks of a `frames`-long input: (window start, window end, core start, core end), all in frames.

    Cores tile [0, frames); each window holds its core plus `context` frames each side (or reaches the
    input's edge), and all windows have the same width when the input is at least that wide.
    """
    width = core + 2 * context
    if frames <= width:
        return [(0, frames, 0, frames)]
    spans = []
    for start in range(0, frames, core):
        left = min(max(start - context, 0), frames - width)
        spans.append((left, left + width, start, min(start + core, frames)))
    return spans


def buckets(frame_counts: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of equal frame count (at most batch_size each), shortest first."""
    by_length: dict[int, list[int]] = {}
    for i, n in sorted(enumerate(frame_counts), key=lambda item: item[1]):
        by_length.setdefault(n, []).append(i)
    return [group[i : i + batch_size] for group in by_length.values() for i in range(0, len(group), batch_size)]


def _batches(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class LFSCInference:
    """Runs an LFSCModel on whole clips of any length: full-length batches, chunks above one window, buckets."""

    def __init__(
        self,
        model: LFSCModel,
        precision: str = "fp32",
        chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
        batch_size: int = 1,
        compile_mode: str | None = None,
        pack: bool = True,
        conv_sizes: dict[str, list[int]] | None = None,
    ):
        """`compile_mode`: None (eager), or a torch.compile mode such as 'default' or 'reduce-overhead' (CUDA
        graphs); each new input shape compiles once, so it pays off for many equal-shape batches or chunks.
        `pack=False` runs a reduced precision under autocast even where the packed twin is available (to compare).
        `conv_sizes`: the inputs the packed twin's CPU kernels are blocked for (codec.lfsc.packed.packed_generator;
        default: this inference's windows)."""
        dtype = precision_dtype(precision)  # validates the name
        if chunk_seconds <= 0 or batch_size < 1:
            raise UserError("chunk_seconds must be positive and batch_size at least 1")
        self.model = model
        self.precision = precision
        self.batch_size = batch_size
        self.spf = model.samples_per_frame
        self.chunk_frames = max(1, round(chunk_seconds * model.sample_rate / self.spf))
        self.encoder_context, self.decoder_context = receptive_field(model)
        # Window widths in frames: inputs up to these run whole, longer ones in chunks of this width.
        self.encoder_window = self.chunk_frames + 2 * self.encoder_context
        self.decoder_window = self.chunk_frames + 2 * self.decoder_context
        self.min_frames = -(-model.min_samples // self.spf)
        self.compile_mode = compile_mode
        self.packed = pack and packed.available(model, dtype)
        # What runs the encoder and decoder: the model, or its packed twin, which holds the weights already in
        # `dtype` and so runs on inputs of that dtype rather than under autocast.
        self.generator: torch.nn.Module = model
        if self.packed:
            if model.device.type != "cpu":
                conv_sizes = {}
            elif conv_sizes is None:
                conv_sizes = packed.window_sizes(model, self.encoder_window, self.decoder_window)
            self.generator = packed.packed_generator(model, dtype, conv_sizes)
        self._autocast_precision = "fp32" if self.packed else precision
        self.input_dtype = dtype if self.packed else torch.float32
        self._encoder: Callable = encoder_full
        self._decoder: Callable = decoder_full
        if compile_mode is not None:
            self._encoder = torch.compile(encoder_full, mode=compile_mode)
            self._decoder = torch.compile(decoder_full, mode=compile_mode)

    @property
    def device(self) -> torch.device:
        """Device of the model's weights."""
        return self.model.device

    def frames_for(self, num_samples: int) -> int:
        """Token frames the model gives for `num_samples` of audio (short clips count as the minimum)."""
        return max(-(-num_samples // self.spf), self.min_frames)

    # -- full-length batches -------------------------------------------------------------------------------
    @torch.inference_mode()
    def encode_frames(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio [B, N * 1024] (every item full length) -> int32 tokens [B, 8, N]."""
        self._new_step()
        with self.autocast():
            latent = self._encoder(self.generator, audio.to(self.input_dtype))
        full = torch.full((audio.shape[0],), latent.shape[-1], device=audio.device)
        return self.model.quantize(encoded=latent.float(), encoded_len=full)

    @torch.inference_mode()
    def decode_frames(self, tokens: torch.Tensor) -> torch.Tensor:
        """Int32 tokens [B, 8, N] (every item full length) -> float32 audio [B, N * 1024]."""
        full = torch.full((tokens.shape[0],), tokens.shape[-1], device=tokens.device)
        latent = self.model.dequantize(tokens=tokens, tokens_len=full)
        self._new_step()
        with self.autocast():
            audio = self._decoder(self.generator, latent.to(self.input_dtype))
        # CUDA-graph outputs live in buffers that the next replay overwrites: hand out a copy.
        return audio.float().clone() if self.compile_mode == "reduce-overhead" else audio.float()

    def autocast(self) -> contextlib.AbstractContextManager:
        """The context the generator runs in: autocast to the precision, or none where the packed twin runs it."""
        return autocast(self.device, self._autocast_precision)

    def _new_step(self) -> None:
        if self.compile_mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()

    # -- one clip of any length ----------------------------------------------------------------------------
    def pad_to_frames(self, audio: np.ndarray) -> np.ndarray:
        """Mono float32 audio zero-padded to whole frames (at least the model's minimum), as the model pads it."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise UserError(f"expected mono audio (one dimension), got shape {audio.shape}")
        return np.pad(audio, (0, self.frames_for(len(audio)) * self.spf - len(audio)))

    def encode(self, audio: np.ndarray, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Mono audio at the model rate -> int32 tokens [8, N]; inputs longer than one window go in chunks."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise UserError(f"expected mono audio (one dimension), got shape {audio.shape}")
        return self.encode_blocks([audio], len(audio), progress)

    def encode_blocks(
        self, blocks: Iterable[np.ndarray], num_samples: int, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Tokens [8, N] of mono audio `num_samples` long that arrives in blocks of any size (the same as `encode`
        of the joined blocks), holding only about one window of it; `progress` hears how many frames each step
        finished."""
        frames = self.frames_for(num_samples)
        tokens = np.empty((self.model.num_codebooks, frames), dtype=np.int32)
        spans = windows(frames, self.chunk_frames, self.encoder_context)
        source = iter(blocks)
        held, held_from = np.zeros(0, dtype=np.float32), 0  # input samples [held_from, held_from + len(held))
        for first in range(0, len(spans), self.batch_size):
            group = spans[first : first + self.batch_size]
            while held_from + len(held) < min(group[-1][1] * self.spf, num_samples):
                block = next(source, None)
                if block is None:
                    raise ValueError(f"the audio ended after {held_from + len(held)} of its {num_samples} samples")
                block = np.asarray(block, dtype=np.float32)
                held = np.concatenate([held, block]) if len(held) else block  # one whole array: no copy
            # A window past the input's end is zero-padded to whole frames, as the model pads.
            batch = np.stack([
                self.pad_to_frames(held[start * self.spf - held_from : min(end * self.spf, num_samples) - held_from])
                for start, end, _, _ in group
            ])
            out = self.encode_frames(torch.from_numpy(batch).to(self.device)).cpu().numpy()
            for row, (start, _, a, b) in zip(out, group):
                tokens[:, a:b] = row[:, a - start : b - start]
            if first + self.batch_size < len(spans):  # window starts never go back: drop what lies before the next
                keep_from = spans[first + self.batch_size][0] * self.spf
                held, held_from = held[keep_from - held_from :], keep_from
            if progress is not None:
                progress(sum(b - a for _, _, a, b in group))
        return tokens

    def decode(
        self, tokens: np.ndarray, num_samples: int | None = None, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Int32 tokens [8, N] -> float32 audio (N * 1024 samples, or trimmed/padded to num_samples)."""
        total = tokens.shape[1] * self.spf if num_samples is None else num_samples
        return join_blocks(self.decode_blocks(tokens, total, progress), total)

    def decode_blocks(
        self, tokens: np.ndarray, num_samples: int | None = None, progress: Callable[[int], None] | None = None
    ) -> Iterator[np.ndarray]:
        """The audio `decode` gives, as consecutive blocks (a chunk core or a batch of them at a time); `progress`
        hears how many frames each step finished."""
        tokens = np.ascontiguousarray(tokens, dtype=np.int32)
        frames = tokens.shape[1]
        total = frames * self.spf if num_samples is None else num_samples
        done = 0
        for group in _batches(windows(frames, self.chunk_frames, self.decoder_context), self.batch_size):
            batch = np.stack([tokens[:, start:end] for start, end, _, _ in group])
            out = self.decode_frames(torch.from_numpy(batch).to(self.device)).cpu().numpy()
            for row, (start, _, a, b) in zip(out, group):
                core = row[(a - start) * self.spf : (b - start) * self.spf][: total - done]
                if len(core):
                    done += len(core)
                    yield core
            if progress is not None:
                progress(sum(b - a for _, _, a, b in group))
        if done < total:
            yield np.zeros(total - done, dtype=np.float32)

    # -- many clips ----------------------------------------------------------------------------------------
    def encode_many(self, clips: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Tokens of each clip, clips of equal frame count batched together (the same tokens as one by one)."""
        out: list[np.ndarray] = [np.empty(0)] * len(clips)
        frames = [self.frames_for(len(c)) for c in clips]
        for group in buckets(frames, self.batch_size):
            if frames[group[0]] > self.encoder_window:
                for i in group:
                    out[i] = self.encode(clips[i])
                continue
            batch = np.stack([self.pad_to_frames(clips[i]) for i in group])
            for i, row in zip(group, self.encode_frames(torch.from_numpy(batch).to(self.device)).cpu().numpy()):
                out[i] = row
        return out

    def decode_many(self, token_list: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Audio (1024 samples a frame) of each token array, equal frame counts batched together."""
        out: list[np.ndarray] = [np.empty(0)] * len(token_list)
        frames = [t.shape[1] for t in token_list]
        for group in buckets(frames, self.batch_size):
            if frames[group[0]] > self.decoder_window:
                for i in group:
                    out[i] = self.decode(token_list[i])
                continue
            batch = np.stack([np.asarray(token_list[i], dtype=np.int32) for i in group])
            for i, row in zip(group, self.decode_frames(torch.from_numpy(batch).to(self.device)).cpu().numpy()):
                out[i] = row
        return out


# -- live coding -------------------------------------------------------------------------------------------------
def split_lookahead(lookahead_frames: int | None, encoder_context: int, decoder_context: int) -> tuple[int, int]:
    """Frames of future the encoder and the decoder wait for, out of `lookahead_frames` (None: all they can use,
    which makes streaming exact): shared in proportion to their receptive fields, none beyond them."""
    full = encoder_context + decoder_context
    if lookahead_frames is None:
        return encoder_context, decoder_context
    if lookahead_frames < 0:
        raise UserError(f"lookahead_frames must be 0 or more, got {lookahead_frames}")
    used = min(lookahead_frames, full)
    encoder = min(encoder_context, round(used * encoder_context / full))
    return encoder, used - encoder


class LFSCStream(CodecStream):
    """LFSC coded live at its native rate, `hop` frames a step, as a transmitter and a receiver would: the encoder
    commits the tokens of a frame once it has `encoder_lookahead` frames of audio after it, and the decoder
    finalises a frame once it has `decoder_lookahead` frames of tokens after it. Each step runs one window of the
    encoder and one of the decoder, the past context included (as `encode_blocks`' chunks do); with the whole
    receptive field as lookahead every window is one of those exact chunks, so the output equals whole-file coding.
    `sent` hears each block of committed tokens [codebooks, frames]."""

    def __init__(self, inference: LFSCInference, lookahead_frames: int | None, hop_frames: int,
                 sent: Callable[[np.ndarray], None] | None = None):
        super().__init__()
        self.inference, self.hop, self.sent = inference, hop_frames, sent
        self.sample_rate = inference.model.sample_rate
        self.encoder_lookahead, self.decoder_lookahead = split_lookahead(
            lookahead_frames, inference.encoder_context, inference.decoder_context)
        self.lookahead_frames = self.encoder_lookahead + self.decoder_lookahead
        self.latency = (self.lookahead_frames + self.hop) * inference.spf - 1
        self._audio, self._audio_from = np.zeros(0, dtype=np.float32), 0  # samples from frame _audio_from on
        self._tokens = np.zeros((inference.model.num_codebooks, 0), dtype=np.int32)
        self._tokens_from = 0  # the frame of _tokens[:, 0]
        self._decoded = 0  # frames given out

    def _take(self, samples: np.ndarray) -> np.ndarray:
        self._audio = np.concatenate([self._audio, samples])
        out = []
        while self.pushed // self.inference.spf >= self._decoded + self.hop + self.lookahead_frames:
            out.append(self._step(self._decoded + self.hop, self._decoded + self.hop + self.decoder_lookahead))
        return np.concatenate([np.zeros(0, dtype=np.float32), *out])

    def _finish(self) -> np.ndarray:
        frames = self.inference.frames_for(self.pushed)
        self._audio = np.pad(self._audio, (0, (frames - self._audio_from) * self.inference.spf - len(self._audio)))
        return self._step(frames, frames)

    def _step(self, until: int, token_end: int) -> np.ndarray:
        """Commit the tokens up to frame `token_end`, and decode and give out the frames up to `until`."""
        spf, tokens_done = self.inference.spf, self._tokens_from + self._tokens.shape[1]
        if token_end > tokens_done:
            audio_end = min(token_end + self.encoder_lookahead, self._audio_from + len(self._audio) // spf)
            start = max(0, min(tokens_done - self.inference.encoder_context, audio_end - self.inference.min_frames))
            window = self._audio[(start - self._audio_from) * spf : (audio_end - self._audio_from) * spf]
            batch = torch.from_numpy(self.inference.pad_to_frames(window))[None].to(self.inference.device)
            new = self.inference.encode_frames(batch)
            new = new[0].cpu().numpy()[:, tokens_done - start : token_end - start]
            if self.sent is not None:
                self.sent(new)
            self._tokens = np.concatenate([self._tokens, new], axis=1)
        start = max(self._tokens_from, min(self._decoded - self.inference.decoder_context,
                                           token_end - self.inference.min_frames))
        window = self._tokens[:, start - self._tokens_from : token_end - self._tokens_from]
        # The first frames of a stream with little lookahead: the decoder's reflect padding needs min_frames, so
        # the last tokens stand in for the future not yet coded.
        window = np.pad(window, ((0, 0), (0, max(0, self.inference.min_frames - window.shape[1]))), mode="edge")
        batch = torch.from_numpy(np.ascontiguousarray(window))[None].to(self.inference.device)
        audio = self.inference.decode_frames(batch)[0].cpu().numpy()
        out = audio[(self._decoded - start) * spf : (until - start) * spf]
        self._decoded = until
        self._forget(token_end)
        return out

    def _forget(self, token_end: int) -> None:
        """Drop the audio and tokens that no later window reads."""
        keep_audio = max(self._audio_from, token_end - max(self.inference.encoder_context, self.inference.min_frames))
        self._audio = self._audio[(keep_audio - self._audio_from) * self.inference.spf :]
        self._audio_from = keep_audio
        keep_tokens = max(self._tokens_from, self._decoded - max(self.inference.decoder_context, self.inference.min_frames))
        self._tokens = self._tokens[:, keep_tokens - self._tokens_from :]
        self._tokens_from = keep_tokens
