"""`lfsc-eval run --shard i/N`: the i-th of N shards of a run's utterances, for a Slurm array of runs whose folders
`lfsc-eval merge` (eval.merge) joins.

An utterance's shard is a hash of its id (sha256, the same on every machine and Python), not its position: each
utterance lies in exactly one shard, and stays there when the input is reordered, filtered or grows. Shards are
numbered from 0, like `sbatch --array=0-<N-1>`'s SLURM_ARRAY_TASK_ID.
"""

from __future__ import annotations

import hashlib
import re

from codec.errors import UserError
from eval.manifest import Utterance


def parse(text: str) -> tuple[int, int]:
    """`i/N` as (i, N), with 0 <= i < N."""
    found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if found is None:
        raise UserError(f"--shard {text}: give i/N, the i-th of N shards counted from 0 (e.g. 0/4 ... 3/4)")
    index, count = int(found[1]), int(found[2])
    if count < 1 or index >= count:
        raise UserError(f"--shard {text}: the shard must be 0 to {max(count, 1) - 1} of {count} (counted from 0), "
                        "and there must be at least one")
    return index, count


def shard_of(utt_id: str, count: int) -> int:
    """The shard (of `count`) an utterance id lies in."""
    digest = hashlib.sha256(utt_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % count


def select(utterances: list[Utterance], index: int, count: int) -> list[Utterance]:
    """The utterances of shard `index` of `count`, in input order; a shard with none of them is refused."""
    chosen = [u for u in utterances if shard_of(u.id, count) == index]
    if not chosen:
        raise UserError(f"--shard {index}/{count}: none of the {len(utterances)} utterances falls in this shard: "
                        "use fewer shards")
    return chosen
