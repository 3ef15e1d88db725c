"""Probability models for entropy-coding token frames (issue #22): a prior fitted on a corpus, its file format, and
the exact probability tables that encoder and decoder both derive from integer counts.

Every table is computed from integers with elementwise float operations only (no float reductions whose order could
differ between machines), then mixed with a uniform floor: p = (1 - FLOOR) q + FLOOR / K. So every code keeps a
nonzero probability (a code the prior never saw costs about log2(K) + 7 bits), and no code is likelier than
1 - FLOOR / 2, so every coded symbol costs at least MIN_SYMBOL_BITS: a decoder can bound the symbols a payload may
hold by its size (`max_symbols`), whatever its header claims.

Prior file layout (little-endian), version 1:
    magic "LFEP" | version u8 | kind u8 (1 static, 2 context) | num_codebooks u8 | codebook_size u32
    | contexts u32 | strength u32 | table bytes u32 | crc32 of the fields before it and the table u32 | zlib(table)
The table is uint32 counts [num_codebooks, contexts, codebook_size]: context 0 of a "context" prior is a
codebook's first frame, context 1 + b a previous code in bucket b = code * buckets // codebook_size; a "static"
prior has the one context. `Prior.sha256` hashes the header fields and the uncompressed table, so it names the
counts, not one zlib's output.
"""

from __future__ import annotations

import hashlib
import math
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from codec.errors import UserError

FLOOR = 1 / 128  # weight of the uniform distribution mixed into every table
MIN_SYMBOL_BITS = -math.log2(1 - FLOOR / 2)  # least information any symbol carries (0.0056 bits)
MAX_CODEBOOKS = 64
MAX_CODEBOOK_SIZE = 2**16
MAX_BUCKETS = 256
MAX_TABLE = 2**25  # counts in a prior's table (128 MiB as uint32): far beyond LFSC's 8 x 33 x 2016
MAX_TOTAL = 2**26  # counts a codebook's table may sum to, so that the integer weights fit int64 (below 2^59)
SMOOTH = 2  # a code unseen in the corpus weighs as 1/SMOOTH of one seen once (before the floor)
DEFAULT_BUCKETS = 32
DEFAULT_STRENGTH = 32  # pseudo-counts of the codebook's marginal in each context
STRENGTHS = tuple(4**k for k in range(8))  # what `Prior.fit` chooses from: 1 .. 16384
KINDS = {"static": 1, "context": 2}
PRIOR_MAGIC = b"LFEP"
PRIOR_VERSION = 1
_PRIOR_FIELDS = struct.Struct("<4sBBBIII")  # what sha256 covers, with the table
_PRIOR_HEADER = struct.Struct("<4sBBBIIIII")  # the fields, the table's size and crc32


@dataclass(frozen=True, eq=False)
class Prior:
    """Fitted count tables of a "static" or "context" model for tokens of `num_codebooks` x `codebook_size`."""

    kind: str
    codebook_size: int
    num_codebooks: int
    counts: np.ndarray  # uint32 [num_codebooks, contexts, codebook_size]
    strength: int = DEFAULT_STRENGTH  # context priors only (0 for a static one)
    _models: list = field(default_factory=list, repr=False)  # constriction models, built on first use

    def __post_init__(self) -> None:
        shape = (self.num_codebooks, 1 if self.kind == "static" else self.counts.shape[1], self.codebook_size)
        if self.kind not in KINDS or self.counts.shape != shape or self.counts.shape[1] < (self.kind == "context") + 1:
            raise ValueError(f"a {self.kind!r} prior's counts {self.counts.shape} do not match its sizes")

    @property
    def contexts(self) -> int:
        """Contexts per codebook: 1 (static) or 1 + buckets (context)."""
        return int(self.counts.shape[1])

    @property
    def buckets(self) -> int:
        """Buckets of the previous code (0 for a static prior)."""
        return self.contexts - 1 if self.kind == "context" else 0

    @property
    def sha256(self) -> str:
        """Hex sha256 of the header fields and the uncompressed table: what names this prior in a payload."""
        return hashlib.sha256(self._fields() + self._table()).hexdigest()

    @classmethod
    def fit(
        cls, tokens_list: list[np.ndarray], kind: str, codebook_size: int,
        buckets: int = DEFAULT_BUCKETS, strength: int | None = None,
    ) -> Prior:
        """Count the codes of `tokens_list` (arrays [frames, codebooks]) into a "static" or "context" prior; a
        context prior's smoothing `strength`, unless given, is the one that codes the last fifth of each array
        best from counts of the rest."""
        if kind not in KINDS:
            raise UserError(f"unknown prior kind {kind!r}: use one of {', '.join(KINDS)}")
        arrays = [np.asarray(t) for t in tokens_list]
        if not arrays:
            raise UserError("no token arrays to fit a prior on")
        num_codebooks = arrays[0].shape[1] if arrays[0].ndim == 2 else 0
        for tokens in arrays:
            check_tokens(tokens, codebook_size, num_codebooks)
        if kind == "static":
            return cls(kind, codebook_size, num_codebooks, _count(arrays, codebook_size, 0), 0)
        buckets = max(1, min(buckets, codebook_size, MAX_TABLE // (num_codebooks * codebook_size) - 1))
        if strength is None:
            strength = _best_strength(arrays, codebook_size, buckets)
        return cls(kind, codebook_size, num_codebooks, _count(arrays, codebook_size, buckets), strength)

    def probabilities(self) -> np.ndarray:
        """float64 [num_codebooks, contexts, codebook_size]: each context's distribution, floored (see module)."""
        counts = self.counts.astype(np.int64)
        marginal = counts.sum(axis=1, keepdims=True)  # [C, 1, K], exact integers
        if self.kind == "static":
            return floored(marginal * SMOOTH + 1)
        backoff = marginal * SMOOTH + 1  # the static weights, summing to `total` [C, 1, 1]
        total = backoff.sum(axis=2, keepdims=True)
        return floored(counts * total + self.strength * backoff)

    def models(self) -> list[list]:
        """constriction Categorical models [codebook][context], built once per prior."""
        if not self._models:
            built = [[categorical(row) for row in rows] for rows in self.probabilities()]
            self._models[:] = built  # one assignment: threads that build at once leave one set, not two
        return self._models

    def to_bytes(self) -> bytes:
        """The prior file: a versioned header and the zlib-compressed table (see module)."""
        fields, table = self._fields(), self._table()
        return fields + struct.pack("<II", len(table), zlib.crc32(fields + table)) + zlib.compress(table, 9)

    @classmethod
    def from_bytes(cls, data: bytes) -> Prior:
        """Read a prior file, refusing one that is damaged, cut off, not a prior, or sized beyond the limits."""
        return read_prior(bytes(data))

    def _fields(self) -> bytes:
        return _PRIOR_FIELDS.pack(
            PRIOR_MAGIC, PRIOR_VERSION, KINDS[self.kind], self.num_codebooks, self.codebook_size,
            self.contexts, self.strength,
        )

    def _table(self) -> bytes:
        return np.ascontiguousarray(self.counts, dtype="<u4").tobytes()


def read_prior(data: bytes) -> Prior:
    """Parse a prior file (see module): every size is checked before anything is allocated by it."""
    if len(data) < _PRIOR_HEADER.size or data[:4] != PRIOR_MAGIC:
        raise UserError("not an entropy-coding prior file (no LFEP header)")
    magic, version, kind_id, codebooks, size, contexts, strength, nbytes, crc = _PRIOR_HEADER.unpack_from(data)
    if version != PRIOR_VERSION:
        raise UserError(f"entropy prior file version {version} is not supported (this program reads {PRIOR_VERSION})")
    kinds = {v: k for k, v in KINDS.items()}
    entries = codebooks * contexts * size
    if (
        kind_id not in kinds or not 1 <= codebooks <= MAX_CODEBOOKS or not 2 <= size <= MAX_CODEBOOK_SIZE
        or not (contexts == 1 if kind_id == 1 else 2 <= contexts <= MAX_BUCKETS + 1) or strength > 2**16
        or entries > MAX_TABLE or nbytes != 4 * entries
    ):
        raise UserError("the entropy prior file is damaged: its header holds impossible sizes")
    inflate = zlib.decompressobj()
    try:
        table = inflate.decompress(data[_PRIOR_HEADER.size:], nbytes + 1)
    except zlib.error:
        table = b""
    if len(table) != nbytes or not inflate.eof or inflate.unconsumed_tail or inflate.unused_data:
        raise UserError("the entropy prior file is damaged or cut off: its table does not decompress whole")
    if zlib.crc32(data[:_PRIOR_FIELDS.size] + table) != crc:
        raise UserError("the entropy prior file is damaged: its checksum fails")
    counts = np.frombuffer(table, "<u4").reshape(codebooks, contexts, size).astype(np.uint32)
    if counts.sum(axis=(1, 2), dtype=np.int64).max() > MAX_TOTAL:
        raise UserError("the entropy prior file is damaged: its counts are beyond the limits")
    return Prior(kinds[kind_id], size, codebooks, counts, strength)


def _count(arrays: list[np.ndarray], codebook_size: int, buckets: int) -> np.ndarray:
    """uint32 counts [codebooks, 1 + buckets (or 1 when 0), codebook_size] of the codes in each context."""
    counts = np.zeros((arrays[0].shape[1], 1 + buckets, codebook_size), np.int64)
    for tokens in arrays:
        contexts = context_ids(tokens, codebook_size, buckets) if buckets else np.zeros_like(tokens)
        for c in range(tokens.shape[1]):
            np.add.at(counts[c], (contexts[:, c], tokens[:, c]), 1)
    while counts.sum(axis=(1, 2)).max(initial=0) > MAX_TOTAL:
        counts >>= 1  # a corpus of over 2^26 frames: keep the proportions, not the exact counts
    return counts.astype(np.uint32)


def _best_strength(arrays: list[np.ndarray], codebook_size: int, buckets: int) -> int:
    """The STRENGTHS entry whose context prior, counted on the first 4/5 of each array, codes the rest best."""
    cut = [(len(tokens) * 4) // 5 for tokens in arrays]
    counts = _count([tokens[:n] for tokens, n in zip(arrays, cut)], codebook_size, buckets)
    held = [(tokens[max(n - 1, 0):], n > 0) for tokens, n in zip(arrays, cut)]
    best, best_bits = DEFAULT_STRENGTH, math.inf
    for strength in STRENGTHS:
        log_p = np.log2(Prior("context", codebook_size, counts.shape[0], counts, strength).probabilities())
        bits = 0.0
        for tokens, after_first in held:
            contexts = context_ids(tokens, codebook_size, buckets)
            codebook = np.broadcast_to(np.arange(tokens.shape[1]), tokens.shape)
            bits -= log_p[codebook, contexts, tokens][int(after_first):].sum()  # the frame before is context only
        if bits < best_bits:
            best, best_bits = strength, bits
    return best


def floored(weights: np.ndarray) -> np.ndarray:
    """Integer weights [..., K] (rows of positive sums) as probabilities mixed with FLOOR of the uniform."""
    size = weights.shape[-1]
    q = weights.astype(np.float64) / weights.sum(axis=-1, keepdims=True).astype(np.float64)
    return q * (1 - FLOOR) + FLOOR / size


def categorical(probabilities: np.ndarray):
    """A constriction categorical model of a probability row (fast quantisation, the same in coder and decoder)."""
    import constriction

    return constriction.stream.model.Categorical(np.ascontiguousarray(probabilities, np.float64), perfect=False)


def context_ids(tokens: np.ndarray, codebook_size: int, buckets: int) -> np.ndarray:
    """int64 [frames, codebooks]: 0 for the first frame, else 1 + the bucket of the same codebook's previous code."""
    ids = np.zeros(tokens.shape, np.int64)
    ids[1:] = 1 + tokens[:-1].astype(np.int64) * buckets // codebook_size
    return ids


def check_tokens(tokens: np.ndarray, codebook_size: int, num_codebooks: int | None = None) -> None:
    """Raise ValueError unless `tokens` is an integer array [frames, codebooks] of codes below `codebook_size`."""
    if not 2 <= codebook_size <= MAX_CODEBOOK_SIZE:
        raise ValueError(f"codebook size {codebook_size} is outside 2..{MAX_CODEBOOK_SIZE}")
    if tokens.ndim != 2 or not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(f"tokens must be an integer array [frames, codebooks], not {tokens.dtype} {tokens.shape}")
    if not 1 <= tokens.shape[1] <= MAX_CODEBOOKS or (num_codebooks is not None and tokens.shape[1] != num_codebooks):
        raise ValueError(f"tokens have {tokens.shape[1]} codebooks, expected {num_codebooks or f'1..{MAX_CODEBOOKS}'}")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= codebook_size):
        raise ValueError(f"token codes must lie in 0..{codebook_size - 1}")
