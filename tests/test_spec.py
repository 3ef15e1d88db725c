"""codec.spec.CodecSpec, the one parser of codec names (`opus-6k@reverb0.6@white10`): a name and its spec give each
other back exactly, and anything else is a one-line UserError."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from codec.conditions import RANGES
from codec.conditions import parse as parse_condition
from codec.errors import UserError
from codec.spec import FLOOR, CodecSpec, parse_chain, sweep

BASES = st.text(st.characters(blacklist_characters="@", blacklist_categories=("Cs",)), min_size=1, max_size=20)


@st.composite
def condition_specs(draw) -> str:
    """A valid condition spec, spelt the one way parse accepts ('white10', 'reverb0.6', 'level-36', 'tel')."""
    kind = draw(st.sampled_from((*RANGES, "tel")))
    if kind == "tel":
        return kind
    low, high = RANGES[kind][:2]
    tenths = draw(st.integers(int(np.ceil(low * 10)), int(np.floor(high * 10))))
    return f"{kind}{tenths / 10:g}"


NAMES = st.builds(lambda base, chain: "@".join((base, *chain)), BASES, st.lists(condition_specs(), max_size=4))


@given(BASES, st.lists(condition_specs(), max_size=4))
def test_a_spec_parses_back_from_its_name(base, chain):
    spec = CodecSpec(base, tuple(parse_condition(c) for c in chain))
    assert CodecSpec.parse(str(spec)) == spec


@given(NAMES)
def test_a_name_comes_back_from_its_spec(name):
    assert str(CodecSpec.parse(name)) == name


@given(st.text(max_size=30))
def test_any_text_is_a_name_that_comes_back_or_a_one_line_user_error(name):
    try:
        spec = CodecSpec.parse(name)
    except UserError as exc:
        assert "\n" not in str(exc)
    else:
        assert str(spec) == name


@pytest.mark.parametrize("name, said", [
    ("", "has no codec before '@'"),
    ("@white10", "has no codec before '@'"),
    ("opus-6k@", "unknown input condition ''"),
    ("opus-6k@hiss10", "unknown input condition 'hiss10'"),
    ("opus-6k@white99", "white takes -20 to 60 dB SNR"),
    ("opus-6k@white10.0", "write it as white10"),
    ("opus-6k@reverb0.60@white10", "write it as reverb0.6"),
    ("opus-6k@level-36\nx", "unknown input condition"),
])
def test_bad_names_are_one_line_user_errors(name, said):
    with pytest.raises(UserError, match=said) as refusal:
        CodecSpec.parse(name)
    assert "\n" not in str(refusal.value)


def test_a_spec_knows_its_base_conditions_and_floor():
    spec = CodecSpec.parse("opus-6k@reverb0.6@white10")
    assert spec.base == "opus-6k"
    assert spec.chain == ("reverb0.6", "white10")
    assert spec.conditioned and not spec.is_floor
    assert str(spec.floor) == f"{FLOOR}@reverb0.6@white10" and spec.floor.is_floor
    assert not CodecSpec.parse(FLOOR).is_floor
    assert str(CodecSpec.parse("lfsc").under(parse_chain("tel@level-36"))) == "lfsc@tel@level-36"
    assert parse_chain("") == ()


def test_heard_is_the_input_under_the_conditions_and_none_for_the_clean_input():
    audio = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    assert CodecSpec.parse("opus-6k").heard(audio, 16000) is None
    heard = CodecSpec.parse("opus-6k@white10").heard(audio, 16000)
    assert np.array_equal(heard, parse_condition("white10").apply(audio, 16000))


def test_a_sweep_puts_each_chains_floor_first():
    assert sweep(["opus-6k", "identity"], ["white10"]) == ["opus-6k", "identity", "identity@white10",
                                                            "opus-6k@white10"]
