"""The values an LFSC config accepts, checked before a model is built. Each field's type is its annotation in the
config dataclasses of codec.lfsc.model and its range their `Accepts` metadata (one definition); the rules that tie
fields together are here. A bad value is a one-line UserError naming the field as NeMo's model_config.yaml spells
it (`audio_encoder.base_channels`)."""

from __future__ import annotations

import math
import reprlib
import typing
from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from typing import Any, Iterator

from codec.bitstream import MAX_CODEBOOK_SIZE
from codec.errors import UserError
from codec.lfsc.model import MIN_FRAMES, Accepts, DecoderConfig, EncoderConfig, LFSCConfig, MelEncoderConfig

MAX_CHANNELS = 8192  # the released LFSC's widest layer has 1536
MAX_CODEBOOK = MAX_CODEBOOK_SIZE  # what a .lfsc file can carry: a model must not make files its decoder refuses


class _Short(reprlib.Repr):
    """Shows a refused value in a few dozen characters, whatever its size."""

    def repr_int(self, x: int, level: int) -> str:
        # repr() of an integer of thousands of digits raises (sys.set_int_max_str_digits)
        return repr(x) if x.bit_length() <= 64 else f"<an integer of {x.bit_length()} bits>"


_short = _Short()
_short.maxstring = _short.maxother = 40


def shown(value: Any) -> str:
    """`value` as Python writes it, cut to a few dozen characters whatever its size or depth."""
    return _short.repr(value)


def _scalar(value: Any, kind: type, accepts: Accepts) -> Any:
    """`value` as `kind` when it is one and within `accepts`, else None."""
    if kind is str:
        return value if isinstance(value, str) and value in accepts.choices else None
    if kind is bool:
        return value if type(value) is bool else None
    # bool is an int to Python, not to a config; NaN fails the range test
    number = type(value) is int or (kind is float and type(value) is float)
    if not number or not accepts.low <= value <= accepts.high or (accepts.odd and value % 2 == 0):
        return None
    return kind(value)


def _value(value: Any, hint: Any, accepts: Accepts) -> Any:
    """`value` as the field's type (a tuple for a sequence) when it is acceptable, else None."""
    if typing.get_origin(hint) is not Sequence:
        return _scalar(value, hint, accepts)
    fewest, most = accepts.items
    if not isinstance(value, (list, tuple)) or not fewest <= len(value) <= most:
        return None
    item = typing.get_args(hint)[0]
    if typing.get_origin(item) is Sequence:  # a list of (start, end) pairs
        items = [_value(v, item, replace(accepts, items=(2, 2))) for v in value]
    else:
        items = [_scalar(v, item, accepts) for v in value]
    return None if None in items else tuple(items)


def _described(hint: Any, accepts: Accepts) -> str:
    """What a field accepts, in words: 'an odd integer from 1 to 31', 'a list of 1 to 5 integers from 1 to 32'."""
    if accepts.choices:
        return "one of " + ", ".join(map(repr, accepts.choices))
    if hint is bool:
        return "true or false"
    sequence = typing.get_origin(hint) is Sequence
    kind = typing.get_args(hint)[0] if sequence else hint
    if typing.get_origin(kind) is Sequence:
        return f"a list of {accepts.items[0]} to {accepts.items[1]} pairs of integers from {accepts.low:g} to " \
               f"{accepts.high:g}"
    what = ("odd " if accepts.odd else "") + ("integer" if kind is int else "number")
    span = f"from {accepts.low:g} to {accepts.high:g}"
    if sequence:
        return f"a list of {accepts.items[0]} to {accepts.items[1]} {what}s {span}"
    return f"{'an' if what[0] in 'aeiou' else 'a'} {what} {span}"


def _build(cls: type, values: Any, where: str, prefix: str, **parts: Any) -> Any:
    """An instance of the config dataclass `cls` from the mapping `values` (absent fields take their defaults) and
    the already built `parts`."""
    if not isinstance(values, Mapping):
        raise UserError(f"{where}: {prefix.rstrip('.')} must be a mapping of settings, got {shown(values)}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f.metadata["accepts"] for f in fields(cls) if "accepts" in f.metadata}
    unknown = [k for k in values if k not in known]
    if unknown:
        raise UserError(f"{where}: {prefix.rstrip('.')} has settings this LFSC implementation does not support: "
                        f"{shown(unknown)}")
    args = {}
    for name, value in values.items():
        args[name] = _value(value, hints[name], known[name])
        if args[name] is None:
            raise UserError(f"{where}: {prefix}{name} must be {_described(hints[name], known[name])}, "
                            f"got {shown(value)}")
    return cls(**args, **parts)


def _section_class(hint: Any, values: Any) -> type:
    """The config class of a section whose annotation may name several (the encoder's): the first that has every
    setting given (else the first, which then names the settings it lacks)."""
    classes = typing.get_args(hint) or (hint,)
    if isinstance(values, Mapping):
        for cls in classes:
            if all(key in {f.name for f in fields(cls)} for key in values):
                return cls
    return classes[0]


def build_config(values: Mapping, where: str) -> LFSCConfig:
    """An LFSCConfig from plain values laid out as in NeMo's model_config.yaml (sample_rate, samples_per_frame and a
    mapping per section: audio_encoder, audio_decoder, vector_quantizer; other keys are not the generator's and are
    ignored), each field and each rule between fields checked; `where` starts every error message."""
    hints = typing.get_type_hints(LFSCConfig)
    parts, top = {}, {}
    for f in fields(LFSCConfig):
        if "section" in f.metadata:
            section = f.metadata["section"]
            parts[f.name] = _build(_section_class(hints[f.name], values.get(section, {})), values.get(section, {}),
                                   where, f"{section}.")
        elif f.name in values:
            top[f.name] = values[f.name]
    config = _build(LFSCConfig, top, where, "", **parts)
    _check_rules(config, where)
    return config


def _check_rules(config: LFSCConfig, where: str) -> None:
    """The rules between fields: each a one-line UserError naming the field to change."""
    spf, enc, dec, fsq = config.samples_per_frame, config.encoder, config.decoder, config.quantizer
    codebook = math.prod(fsq.num_levels_per_group)
    if codebook > MAX_CODEBOOK:
        raise UserError(f"{where}: vector_quantizer.num_levels_per_group {list(fsq.num_levels_per_group)} gives "
                        f"{codebook} codes per codebook, more than {MAX_CODEBOOK}")
    if isinstance(enc, MelEncoderConfig):
        _check_mel_rules(config, where)
    elif (widest := enc.base_channels * 2 ** len(enc.down_sample_rates)) > MAX_CHANNELS:  # doubled at each stage
        raise UserError(f"{where}: audio_encoder.base_channels {enc.base_channels} doubled at each of its "
                        f"{len(enc.down_sample_rates)} stages gives {widest} channels, more than {MAX_CHANNELS}")
    if dec.base_channels < 2 ** len(dec.up_sample_rates):  # the decoder halves its width at each stage
        raise UserError(f"{where}: audio_decoder.base_channels must be at least 2^{len(dec.up_sample_rates)} = "
                        f"{2 ** len(dec.up_sample_rates)} (halved at each up-sampling stage), got {dec.base_channels}")
    products = [("audio_decoder.up_sample_rates", dec.up_sample_rates)]
    if isinstance(enc, EncoderConfig):
        products.insert(0, ("audio_encoder.down_sample_rates", enc.down_sample_rates))
    for name, rates in products:
        if math.prod(rates) != spf:
            raise UserError(f"{where}: {name} must multiply to samples_per_frame ({spf}), got {list(rates)} "
                            f"(product {math.prod(rates)})")
    latent = fsq.num_groups * len(fsq.num_levels_per_group)
    encoded = ("audio_encoder.encoded_dim", enc.encoded_dim) if isinstance(enc, EncoderConfig) else \
        ("audio_encoder.out_channels x the number of mel_bands", enc.out_channels * len(enc.mel_bands))
    for name, dim in (encoded, ("audio_decoder.input_dim", dec.input_dim)):
        if dim != latent:
            raise UserError(f"{where}: {name} must equal vector_quantizer.num_groups x the length of "
                            f"num_levels_per_group ({fsq.num_groups} x {len(fsq.num_levels_per_group)} = {latent}), "
                            f"got {dim}")
    for name, pad, length in _reflect_pads(config):
        if pad >= length:
            raise UserError(f"{where}: {name} too large: a conv pads {pad} steps by reflection where the shortest "
                            f"input ({MIN_FRAMES} frames) has {length}; use smaller kernels or dilations")


def _check_mel_rules(config: LFSCConfig, where: str) -> None:
    """The Mel Codec encoder's rules: one mel frame a token frame, bands within the mel channels covering them all,
    an even hop (NeMo's exact padding needs one)."""
    enc = config.encoder
    if enc.hop_length != config.samples_per_frame or enc.hop_length % 2 or enc.win_length < enc.hop_length:
        raise UserError(f"{where}: audio_encoder.mel_processor.hop_length must be even, equal samples_per_frame "
                        f"({config.samples_per_frame}) and be at most win_length ({enc.win_length}), got "
                        f"{enc.hop_length}")
    covered = set()
    for start, end in enc.mel_bands:
        if not 0 <= start < end <= enc.mel_dim:
            raise UserError(f"{where}: audio_encoder.mel_bands has ({start}, {end}), not a band of the "
                            f"{enc.mel_dim} mel channels (mel_dim)")
        covered.update(range(start, end))
    if len(covered) != enc.mel_dim:
        raise UserError(f"{where}: audio_encoder.mel_bands must cover all {enc.mel_dim} mel channels (mel_dim)")
    if max(enc.hidden_channels, enc.filters) > MAX_CHANNELS:
        raise UserError(f"{where}: audio_encoder.hidden_channels/filters above {MAX_CHANNELS}")


def _reflect_pads(config: LFSCConfig) -> Iterator[tuple[str, int, int]]:
    """(fields, padding, length) of each group of reflect-padded convs on the shortest input: reflect padding must
    be shorter than what it mirrors."""
    enc, dec = config.encoder, config.decoder
    if isinstance(enc, MelEncoderConfig) and enc.pad_mode == "reflect":  # the shortest input's mel frames
        yield "audio_encoder.kernel_size", (enc.kernel_size - 1) // 2, MIN_FRAMES - 1
    elif enc.pad_mode == "reflect":
        length = MIN_FRAMES * config.samples_per_frame
        yield "audio_encoder.in_kernel_size", (enc.in_kernel_size - 1) // 2, length
        for rate in enc.down_sample_rates:  # the strided conv pads (rate + 1) // 2 < 4 * rate: always fits
            yield "audio_encoder.resblock_kernel_sizes/resblock_dilation_sizes", _resblock_pad(enc), length
            length //= rate
        yield "audio_encoder.out_kernel_size", (enc.out_kernel_size - 1) // 2, length
    if dec.pad_mode == "reflect" and not dec.causal:  # causal convs pad with zeros
        length = MIN_FRAMES
        yield "audio_decoder.in_kernel_size", (dec.in_kernel_size - 1) // 2, length
        for rate in dec.up_sample_rates:
            length *= rate
            yield "audio_decoder.resblock_kernel_sizes/resblock_dilation_sizes", _resblock_pad(dec), length
        yield "audio_decoder.out_kernel_size", (dec.out_kernel_size - 1) // 2, length


def _resblock_pad(section: EncoderConfig | DecoderConfig) -> int:
    """The widest padding in a residual layer: its dilated convs pad d (k - 1) / 2."""
    return max(section.resblock_dilation_sizes) * (max(section.resblock_kernel_sizes) - 1) // 2
