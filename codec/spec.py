"""Codec names: `codec@condition@condition` (`opus-6k@reverb0.6@white10`), parsed here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codec.conditions import Condition, apply_chain, describe_chain, parse
from codec.errors import UserError

FLOOR = "identity"  # the codec whose round trip under a chain of conditions is what the conditions alone cost


@dataclass(frozen=True)
class CodecSpec:
    """A registered codec's name and the input conditions it hears, in order; `str()` gives the name back."""

    base: str
    conditions: tuple[Condition, ...] = ()

    @classmethod
    def parse(cls, name: str) -> CodecSpec:
        """The spec of `name`; a UserError for an empty codec name or a condition that is not one."""
        base, *chain = name.split("@")
        if not base:
            raise UserError(f"codec name {name!r} has no codec before '@': write it as codec@condition (opus-6k@white10)")
        return cls(base, tuple(parse(spec) for spec in chain))

    def __str__(self) -> str:
        return "@".join((self.base, *self.chain))

    @property
    def chain(self) -> tuple[str, ...]:
        """The conditions' specs, in order ('reverb0.6', 'white10')."""
        return tuple(c.spec for c in self.conditions)

    @property
    def conditioned(self) -> bool:
        """Whether the codec hears its input under any condition."""
        return bool(self.conditions)

    @property
    def is_floor(self) -> bool:
        """Whether this is a floor: identity under conditions."""
        return self.base == FLOOR and self.conditioned

    @property
    def floor(self) -> CodecSpec:
        """Identity under the same conditions: what they alone cost."""
        return CodecSpec(FLOOR, self.conditions)

    @property
    def input_description(self) -> str:
        """What the codec hears, in words ('the clean input' for none)."""
        return describe_chain(self.conditions)

    def heard(self, audio: np.ndarray, sample_rate: int) -> np.ndarray | None:
        """What this codec codes of `audio`: the input under its conditions (None for the clean input). Only for
        audio decoded earlier, such as a report row's kept audio: a round trip carries it as `RoundTrip.heard`."""
        return apply_chain(self.conditions, audio, sample_rate) if self.conditions else None

    def under(self, chain: tuple[Condition, ...]) -> CodecSpec:
        """This codec with `chain` added after its own conditions."""
        return CodecSpec(self.base, self.conditions + tuple(chain))


def parse_chain(chain: str) -> tuple[Condition, ...]:
    """The conditions of a chain of specs such as 'reverb0.6@white10' ('' for none), in order."""
    return CodecSpec.parse(f"{FLOOR}@{chain}").conditions if chain else ()


def sweep(codecs: list[str], chains: list[str]) -> list[str]:
    """The codecs of a robustness sweep: each codec clean and under each chain of conditions, with identity under
    each chain first as that chain's floor (what the conditions alone cost)."""
    parsed = [parse_chain(chain) for chain in chains]
    names = list(codecs)
    for conditions in parsed:
        names += [str(CodecSpec.parse(codec).under(conditions)) for codec in dict.fromkeys((FLOOR, *codecs))]
    return list(dict.fromkeys(names))
