"""Lossless entropy coding of token frames, with constriction's range coder and one of three models:

- "adaptive": per-codebook counts that start uniform and learn as frames go by (no prior); encoder and decoder
  update the same integer counts after each block of frames (blocks of 1, 1, 2, 4, 8, then 16 frames).
- a static `Prior`: one fitted distribution per codebook.
- a context `Prior`: each code conditioned on a coarse bucket of the same codebook's previous code.

Every model is floored (see codec.entropy_models), so any code below the codebook size can be coded, seen or not.

`encode_tokens` gives the body: crc32 u32 of the tokens (with their shape) | the range coder's 32-bit words.
`pack` adds a header so that a payload describes itself, little-endian, version 1:
    magic "LFEC" | version u8 | model u8 (0 adaptive, 1 static, 2 context) | prior sha256 32 bytes (zeros when
    adaptive) | num_frames u32 | num_codebooks u8 | codebook_size u32 | body bytes u32 | crc32 u32 | body
The crc32 covers the fields before it and the body. Tokens are [frames, codebooks] here (codec.lfsc_codec's are
[codebooks, frames]: transpose).
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from typing import Union

import numpy as np

from codec.entropy_models import (
    KINDS, MAX_CODEBOOK_SIZE, MAX_CODEBOOKS, MIN_SYMBOL_BITS, Prior, categorical, check_tokens, context_ids, floored,
    read_prior,
)
from codec.errors import UserError

Model = Union[str, Prior]  # "adaptive", or a fitted Prior
MAGIC = b"LFEC"
VERSION = 1
MODEL_IDS = {"adaptive": 0, **KINDS}
MAX_FRAMES = 2**24  # 9 days of LFSC frames
MAX_SYMBOLS = 2**25  # frames x codebooks a payload may claim (128 MiB of int32), whatever its size
ADAPT_STEP = 8  # what one occurrence adds to a count that starts at 1
ADAPT_MEMORY = 8192  # occurrences a codebook's adaptive counts remember before they are halved
MAX_BLOCK = 16  # frames coded with one adaptive model before it learns them
_FIELDS = struct.Struct("<4sBB32sIBII")
_CRC = struct.Struct("<I")


@dataclass(frozen=True)
class Header:
    """What a packed payload says about itself."""

    model: str  # "adaptive", "static" or "context"
    prior_sha256: str | None
    num_frames: int
    num_codebooks: int
    codebook_size: int


def encode_tokens(tokens: np.ndarray, codebook_size: int, model: Model) -> bytes:
    """Entropy-code tokens [frames, codebooks] (codes below `codebook_size`) losslessly with `model`."""
    import constriction

    tokens = np.asarray(tokens)
    check_tokens(tokens, codebook_size)
    _check_model(model, tokens.shape[1], codebook_size)
    encoder = constriction.stream.queue.RangeEncoder()
    if model == "adaptive":
        _adaptive(tokens.astype(np.int32), codebook_size, encoder=encoder)
    elif model.kind == "static":
        for c, models in enumerate(model.models()):
            encoder.encode(np.ascontiguousarray(tokens[:, c], np.int32), models[0])
    else:
        _encode_context(tokens, model, encoder)
    words = encoder.get_compressed().astype("<u4")
    return _CRC.pack(tokens_crc(tokens, codebook_size)) + words.tobytes()


def decode_tokens(payload: bytes, num_frames: int, num_codebooks: int, codebook_size: int, model: Model) -> np.ndarray:
    """Tokens int32 [num_frames, num_codebooks] from `encode_tokens`'s bytes, or a one-line UserError."""
    import constriction

    _check_sizes(num_frames, num_codebooks, codebook_size)
    _check_model(model, num_codebooks, codebook_size)
    payload = bytes(payload)
    if len(payload) < _CRC.size or len(payload) % 4:
        raise UserError("the entropy-coded tokens are damaged or cut off: they are not whole 32-bit words")
    if num_frames * num_codebooks > max_symbols(len(payload)):
        raise UserError(f"the entropy-coded tokens are damaged: {len(payload)} bytes cannot hold {num_frames} frames")
    words = np.frombuffer(payload, "<u4", offset=_CRC.size).astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words)
    try:
        if model == "adaptive":
            tokens = _adaptive(np.zeros((num_frames, num_codebooks), np.int32), codebook_size, decoder=decoder)
        elif model.kind == "static":
            columns = [decoder.decode(models[0], num_frames) if num_frames else [] for models in model.models()]
            tokens = np.array(columns, np.int32).reshape(num_codebooks, num_frames).T.copy()
        else:
            tokens = _decode_context(decoder, num_frames, model)
        exhausted = decoder.maybe_exhausted()
    except Exception as exc:  # constriction's "invalid compressed data" (an AssertionError) and kin
        raise UserError(f"the entropy-coded tokens are damaged: they do not decode ({exc})") from None
    if not exhausted or _CRC.unpack_from(payload)[0] != tokens_crc(tokens, codebook_size):
        raise UserError("the entropy-coded tokens are damaged, or were coded with another model: checksum fails")
    return tokens


def pack(tokens: np.ndarray, codebook_size: int, model: Model) -> bytes:
    """A self-describing entropy-coded payload: header (see module) and `encode_tokens`'s body."""
    tokens = np.asarray(tokens)
    body = encode_tokens(tokens, codebook_size, model)
    kind = model if isinstance(model, str) else model.kind
    sha = bytes.fromhex(model.sha256) if isinstance(model, Prior) else bytes(32)
    fields = _FIELDS.pack(MAGIC, VERSION, MODEL_IDS[kind], sha, len(tokens), tokens.shape[1], codebook_size, len(body))
    return fields + _CRC.pack(zlib.crc32(fields + body)) + body


def read_header(data: bytes) -> tuple[Header, bytes]:
    """The header and body of a packed payload, checked (magic, version, sizes, length, crc32) without a prior."""
    data = bytes(data)
    start = _FIELDS.size + _CRC.size
    if len(data) < start or data[:4] != MAGIC:
        raise UserError("not an entropy-coded token payload (no LFEC header), or cut off in its header")
    magic, version, model_id, sha, frames, codebooks, size, body_bytes = _FIELDS.unpack_from(data)
    if version != VERSION:
        raise UserError(f"entropy-coded payload version {version} is not supported (this program reads {VERSION})")
    if len(data) != start + body_bytes:
        raise UserError(f"the entropy-coded payload is cut off or damaged: {len(data) - start} bytes of body, "
                        f"its header says {body_bytes}")
    if zlib.crc32(data[:_FIELDS.size] + data[start:]) != _CRC.unpack_from(data, _FIELDS.size)[0]:
        raise UserError("the entropy-coded payload is damaged: its checksum fails")
    models = {v: k for k, v in MODEL_IDS.items()}
    if model_id not in models or (model_id == 0) != (sha == bytes(32)):
        raise UserError(f"the entropy-coded payload is damaged: unknown model {model_id}")
    _check_sizes(frames, codebooks, size)
    header = Header(models[model_id], sha.hex() if model_id else None, frames, codebooks, size)
    return header, data[start:]


def unpack(data: bytes, prior: Prior | None = None) -> np.ndarray:
    """Tokens int32 [frames, codebooks] of a packed payload; a prior-coded one needs that very prior."""
    header, body = read_header(data)
    if header.model == "adaptive":
        return decode_tokens(body, header.num_frames, header.num_codebooks, header.codebook_size, "adaptive")
    given = prior.sha256 if prior is not None else None
    if given != header.prior_sha256:
        raise UserError(f"made with prior {header.prior_sha256[:12]}, you gave {given[:12] if given else 'none'}: "
                        "pass the same prior (--entropy prior:FILE)")
    return decode_tokens(body, header.num_frames, header.num_codebooks, header.codebook_size, prior)


def coded_bits_per_frame(tokens_list: list[np.ndarray], codebook_size: int, model: Model) -> float:
    """Range-coded bits per frame over `tokens_list` (each array coded on its own; crc and header not counted)."""
    bits = frames = 0
    for tokens in tokens_list:
        bits += 8 * (len(encode_tokens(tokens, codebook_size, model)) - _CRC.size)
        frames += len(tokens)
    return bits / frames if frames else math.nan


def max_symbols(payload_bytes: int) -> int:
    """Most symbols a body of `payload_bytes` can hold: each costs at least MIN_SYMBOL_BITS (the range coder's
    flush and word rounding add under 64 bits)."""
    return min(MAX_SYMBOLS, int((8 * payload_bytes + 64) / MIN_SYMBOL_BITS) + 64)


def tokens_crc(tokens: np.ndarray, codebook_size: int) -> int:
    """crc32 of the tokens' shape, codebook size and codes (as uint16 little-endian, frame by frame)."""
    shape = struct.pack("<IBI", tokens.shape[0], tokens.shape[1], codebook_size)
    return zlib.crc32(np.ascontiguousarray(tokens, "<u2").tobytes(), zlib.crc32(shape))


def _adaptive(tokens: np.ndarray, codebook_size: int, encoder=None, decoder=None) -> np.ndarray:
    """Code `tokens` (encoder) or fill it in (decoder) block by block, each block with the counts before it."""
    num_frames, num_codebooks = tokens.shape
    counts = np.ones((num_codebooks, codebook_size), np.int64)
    limit = ADAPT_STEP * ADAPT_MEMORY + codebook_size
    start, which = 0, np.arange(num_codebooks)
    while start < num_frames:
        stop = min(num_frames, start + min(MAX_BLOCK, max(1, start)))
        for c, probabilities in enumerate(floored(counts)):
            model = categorical(probabilities)
            if encoder is not None:
                encoder.encode(np.ascontiguousarray(tokens[start:stop, c]), model)
            else:
                tokens[start:stop, c] = decoder.decode(model, stop - start)
        np.add.at(counts, (which, tokens[start:stop]), ADAPT_STEP)
        full = counts.sum(axis=1) > limit
        counts[full] = (counts[full] + 1) // 2
        start = stop
    return tokens


def _encode_context(tokens: np.ndarray, prior: Prior, encoder) -> None:
    """Code each codebook's column frame by frame, each code with the model of its context."""
    contexts = context_ids(tokens, prior.codebook_size, prior.buckets)
    for c, models in enumerate(prior.models()):
        for symbol, context in zip(tokens[:, c].tolist(), contexts[:, c].tolist()):
            encoder.encode(symbol, models[context])


def _decode_context(decoder, num_frames: int, prior: Prior) -> np.ndarray:
    """Decode each codebook's column frame by frame, the context following the codes decoded."""
    tokens = np.zeros((num_frames, prior.num_codebooks), np.int32)
    size, buckets = prior.codebook_size, prior.buckets
    for c, models in enumerate(prior.models()):
        column, context = tokens[:, c], 0
        for t in range(num_frames):
            symbol = decoder.decode(models[context])
            column[t] = symbol
            context = 1 + symbol * buckets // size
    return tokens


def _check_sizes(num_frames: int, num_codebooks: int, codebook_size: int) -> None:
    """Refuse sizes no real codec has (a damaged or hostile header) before anything is sized by them."""
    if not (0 <= num_frames <= MAX_FRAMES and 1 <= num_codebooks <= MAX_CODEBOOKS
            and 2 <= codebook_size <= MAX_CODEBOOK_SIZE and num_frames * num_codebooks <= MAX_SYMBOLS):
        raise UserError(f"the entropy-coded payload is damaged: impossible sizes ({num_frames} frames of "
                        f"{num_codebooks} codebooks of {codebook_size} codes)")


def _check_model(model: Model, num_codebooks: int, codebook_size: int) -> None:
    """Refuse an unknown model name, or a prior made for other token shapes."""
    if isinstance(model, Prior):
        if (model.num_codebooks, model.codebook_size) != (num_codebooks, codebook_size):
            raise UserError(f"the prior is for {model.num_codebooks} codebooks of {model.codebook_size} codes, "
                            f"the tokens have {num_codebooks} of {codebook_size}: pass a matching prior")
    elif model != "adaptive":
        raise UserError(f"unknown entropy model {model!r}: use 'adaptive' or a fitted prior")


FORMS = "none, adaptive, prior:FILE or context:FILE"
MAX_PRIOR_FILE_BYTES = 4 * 2**25 + 4096  # a prior's table at its cap, stored uncompressed, and its header


def model_named(choice: str) -> Model | None:
    """The model a user's choice names: 'none' (None: fixed-size frames), 'adaptive', or a prior file as
    'prior:FILE' (static or context) or 'context:FILE' (which must hold a context prior); a UserError otherwise."""
    if choice in ("none", "adaptive"):
        return None if choice == "none" else "adaptive"
    kind, _, path = choice.partition(":")
    if kind not in ("prior", "context") or not path:
        raise UserError(f"unknown entropy coding {choice!r}: use {FORMS}")
    from codec.files import input_file

    file = input_file(path)
    if file.stat().st_size > MAX_PRIOR_FILE_BYTES:
        raise UserError(f"{path}: {file.stat().st_size} bytes is larger than any entropy prior: not a prior file")
    try:
        prior = read_prior(file.read_bytes())
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None
    if kind == "context" and prior.kind != "context":
        raise UserError(f"{path}: holds a {prior.kind} prior, not a context one: use prior:{path}")
    return prior


def describe_model(model: Model) -> str:
    """'adaptive', or a prior's kind and the first 12 digits of its sha256 (for caches, manifests and messages)."""
    return model if isinstance(model, str) else f"{model.kind}:{model.sha256[:12]}"


def payload_problem(data: bytes, num_frames: int, num_codebooks: int, codebook_size: int) -> str:
    """What makes `data` unlike an entropy-coded payload of these frames ('' when nothing); its body is checked as
    it is decoded."""
    try:
        header, _ = read_header(data)
    except UserError as exc:
        return str(exc)
    expected = (num_frames, num_codebooks, codebook_size)
    got = (header.num_frames, header.num_codebooks, header.codebook_size)
    return "" if got == expected else f"it holds {got[0]} frames of {got[1]} x {got[2]} codes, not {expected[0]} of " \
        f"{expected[1]} x {expected[2]}"
