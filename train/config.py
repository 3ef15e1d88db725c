"""Training configuration: the recipe's defaults (default.yaml) with key=value overrides, checked once and held as
dataclasses whose fields are the yaml's keys."""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codec.devices import PRECISIONS
from codec.errors import UserError
from codec.lfsc import schema
from codec.lfsc.model import LFSCConfig
from codec.safe_yaml import parse_yaml, read_yaml

DEFAULT_PATH = Path(__file__).with_name("default.yaml")
BACKBONES = ("whisper", "wavlm", "none")
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
KINDS = {bool: "true or false", float: "a number", int: "a whole number", list: "a list", str: "a text"}
# Whole numbers that must be at least 1 (null allowed where the default is null).
AT_LEAST_ONE = ("batch_size", "n_samples", "max_steps", "log_every", "sample_every", "checkpoint_every", "export_every",
                "disc_update_period", "slm_initial_channel", "epoch_items", "max_epochs")
NOT_NEGATIVE = ("num_workers", "val_count", "disc_updates_per_period", "min_duration", "mel_loss_l1_scale",
                "stft_loss_scale", "gen_loss_scale", "feature_loss_scale")
POSITIVE = ("lr", "val_max_seconds", "mel_loss_log_guard", "stft_loss_log_guard")


@dataclass(frozen=True)
class EncoderConfig:
    """generator.encoder: NeMo's audio_encoder sizes."""

    base_channels: int
    down_sample_rates: list[int]
    encoded_dim: int


@dataclass(frozen=True)
class DecoderConfig:
    """generator.decoder: NeMo's audio_decoder sizes."""

    base_channels: int
    up_sample_rates: list[int]
    input_dim: int


@dataclass(frozen=True)
class QuantizerConfig:
    """generator.quantizer: NeMo's vector_quantizer (grouped FSQ) sizes."""

    num_groups: int
    num_levels_per_group: list[int]


@dataclass(frozen=True)
class GeneratorConfig:
    """The `generator` section: the architecture of the model trained."""

    sample_rate: int
    samples_per_frame: int
    encoder: EncoderConfig
    decoder: DecoderConfig
    quantizer: QuantizerConfig


@dataclass(frozen=True)
class TrainConfig:
    """A training run's settings, in default.yaml's order (which is also the order of a run's config.yaml)."""

    seed: int
    device: str
    precision: str
    batch_size: int
    n_samples: int
    min_duration: float
    epoch_items: int | None
    num_workers: int
    val_manifest: str | None
    val_count: int
    val_max_seconds: float
    data_dependent_init: bool
    max_steps: int
    max_epochs: int | None
    lr: float
    betas: list[float]
    lr_decay: float
    disc_update_period: int
    disc_updates_per_period: int
    mel_loss_l1_scale: float
    stft_loss_scale: float
    gen_loss_scale: float
    feature_loss_scale: float
    loss_resolutions: list[list[int]]
    mel_loss_dims: list[int]
    mel_loss_log_guard: float
    stft_loss_log_guard: float
    use_discriminator: bool
    stft_disc_resolutions: list[list[int]]
    mpd_periods: list[int]
    slm_backbone: str
    slm_model_dir: str | None
    slm_initial_channel: int
    log_every: int
    sample_every: int
    checkpoint_every: int
    export_every: int
    generator: GeneratorConfig

    def to_dict(self) -> dict:
        """The settings as the nested mapping of default.yaml (what a run's config.yaml holds)."""
        return dataclasses.asdict(self)


def default_config() -> TrainConfig:
    """The recipe's defaults."""
    return build_config({})


def build_config(overrides: dict[str, Any], saved: dict | None = None, saved_name: str = "") -> TrainConfig:
    """The recipe's defaults, then a run's `saved` config (named `saved_name` in errors), then `overrides`, checked:
    every key known, every value of its key's type and in its range."""
    values = read_yaml(DEFAULT_PATH)
    if saved is not None:
        for key, value in _leaves(saved).items():
            try:
                _set_key(values, key, value)
            except UserError as exc:
                raise UserError(f"{saved_name}: {exc}") from None
    for key, value in overrides.items():
        _set_key(values, key, value)
    config = _from_dict(TrainConfig, values)
    _check_values(config)
    return config


def generator_from_dict(section: dict) -> GeneratorConfig:
    """The GeneratorConfig of a `generator` mapping that holds (at least) the recipe's keys."""
    return _from_dict(GeneratorConfig, section)


def _from_dict(cls: type, values: dict) -> Any:
    """`cls` (a config dataclass) from a mapping of its fields, nested sections built as their own dataclasses."""
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _from_dict(hints[f.name], values[f.name]) if dataclasses.is_dataclass(hints[f.name])
                  else values[f.name] for f in dataclasses.fields(cls)})


def _field_type(dotted: str) -> tuple[Any, bool]:
    """(the type, whether null is allowed) of the field a dotted key names; the key was checked to exist."""
    hint: Any = TrainConfig
    for part in dotted.split("."):
        hint = typing.get_type_hints(hint)[part]
    args = typing.get_args(hint)
    if type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return typing.get_origin(hint) or hint, False


def _check_type(key: str, value: Any, current: Any) -> Any:
    """`value` for `key` as its field's type (a whole number is a number); an error naming `current` as example."""
    wanted, optional = _field_type(key)
    if optional and value is None:
        return value
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
        example = f" like {current!r}" if current is not None else ""
        raise UserError(f"config {key}={value!r}: expected {KINDS[wanted]}{example}")
    return value


def _set_key(values: dict, dotted: str, value: Any) -> None:
    """Set `dotted` (e.g. generator.decoder.base_channels) in `values`; an unknown key is an error naming it."""
    node, parts = values, dotted.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            raise UserError(f"unknown config key '{'.'.join(parts[: i + 1])}' (see train/default.yaml for the keys)")
        if i == len(parts) - 1:
            if isinstance(node[part], dict):
                raise UserError(f"config key '{dotted}' is a section; set its keys, e.g. {dotted}.<key>=...")
            node[part] = _check_type(dotted, value, node[part])
        else:
            node = node[part]


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`key=value` strings -> {key: value}; values are read as YAML (numbers, lists, null, true/false)."""
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{item!r}: overrides are written key=value, e.g. batch_size=8")
        try:
            out[key.strip()] = parse_yaml(text, item)
        except UserError:
            raise UserError(f"{item!r}: the value is not valid YAML (e.g. lr=2e-4, betas=[0.8,0.99], max_epochs=null)") from None
    return out


def _leaves(mapping: dict, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as {dotted key: value}, e.g. {"generator": {"sample_rate": 1}} -> {"generator.sample_rate": 1}."""
    out = {}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        out.update(_leaves(value, f"{dotted}.") if isinstance(value, dict) else {dotted: value})
    return out


def _check_values(c: TrainConfig) -> None:
    """Refuse values outside what training accepts, naming the key, the value and what is accepted."""
    def refuse(key: str, accepted: str) -> None:
        raise UserError(f"config {key}={getattr(c, key)!r}: {accepted}")

    for key in AT_LEAST_ONE:
        if getattr(c, key) is not None and getattr(c, key) < 1:
            refuse(key, "must be a whole number of at least 1")
    for key in NOT_NEGATIVE:
        if not (math.isfinite(getattr(c, key)) and getattr(c, key) >= 0):
            refuse(key, "must be zero or more")
    for key in POSITIVE:
        if not (math.isfinite(getattr(c, key)) and getattr(c, key) > 0):
            refuse(key, "must be a number above 0")
    if not 0 < c.lr_decay <= 1:
        refuse("lr_decay", "must be above 0 and at most 1 (1: no decay)")
    if len(c.betas) != 2 or not all(_number(b) and 0 <= b < 1 for b in c.betas):
        refuse("betas", "must be two numbers from 0 up to (not including) 1, e.g. [0.8,0.99]")
    if not 0 <= c.seed < 2**32:
        refuse("seed", "must be from 0 to 4294967295")
    if not DEVICE_PATTERN.fullmatch(c.device):
        refuse("device", "use auto, cpu, cuda or cuda:<index>")
    if c.precision not in PRECISIONS:
        refuse("precision", f"use one of {', '.join(PRECISIONS)}")
    if c.slm_backbone not in BACKBONES:
        refuse("slm_backbone", f"use one of {', '.join(BACKBONES)}")
    _check_loss_lists(c, refuse)
    _check_generator(c.generator)


def _check_loss_lists(c: TrainConfig, refuse: typing.Callable[[str, str], None]) -> None:
    """Refuse resolution and size lists that the losses and discriminators cannot be built from."""
    for key in ("loss_resolutions", "stft_disc_resolutions"):
        if not getattr(c, key) or not all(isinstance(r, list) and len(r) == 3 and all(_whole(x) and x >= 1 for x in r)
                                          and r[2] <= r[0] for r in getattr(c, key)):
            refuse(key, "must be a list of [fft size, hop, window] whole numbers of at least 1, window <= fft size")
    for key in ("mel_loss_dims", "mpd_periods"):
        if not getattr(c, key) or not all(_whole(x) and x >= 1 for x in getattr(c, key)):
            refuse(key, "must be a list of whole numbers of at least 1")
    if len(c.loss_resolutions) != len(c.mel_loss_dims):
        raise UserError("config loss_resolutions and mel_loss_dims need the same number of entries")


def _check_generator(g: GeneratorConfig) -> None:
    """Refuse a generator section whose sizes do not fit together (the model would fail at its first step)."""
    for key, value in _leaves(dataclasses.asdict(g), "generator.").items():
        if not all(_whole(x) and x >= 1 for x in (value if isinstance(value, list) else [value])):
            raise UserError(f"config {key}={value!r}: must be whole numbers of at least 1")
    latent = g.quantizer.num_groups * len(g.quantizer.num_levels_per_group)
    if not g.encoder.encoded_dim == g.decoder.input_dim == latent:
        raise UserError(f"config generator.encoder.encoded_dim={g.encoder.encoded_dim}, generator.decoder."
                        f"input_dim={g.decoder.input_dim}: both must equal quantizer.num_groups x the length of "
                        f"quantizer.num_levels_per_group ({latent})")
    for side, key, rates in (("encoder", "down_sample_rates", g.encoder.down_sample_rates),
                             ("decoder", "up_sample_rates", g.decoder.up_sample_rates)):
        if math.prod(rates) != g.samples_per_frame:
            raise UserError(f"config generator.{side}.{key}={rates}: must multiply to "
                            f"generator.samples_per_frame={g.samples_per_frame}")
    generator_config(g)


def _whole(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_lengths(config: TrainConfig, min_samples: int) -> None:
    """Refuse crops and clips shorter than the generator's `min_samples` or than half the longest STFT window,
    which the losses and discriminators reflect-pad by."""
    sr = config.generator.sample_rate
    windows = config.loss_resolutions + (config.stft_disc_resolutions if config.use_discriminator else [])
    shortest = max(min_samples, max(n_fft for n_fft, _, _ in windows) // 2 + 1)
    if config.n_samples < shortest:
        raise UserError(f"config n_samples={config.n_samples}: crops must be at least {shortest} samples "
                        f"({shortest / sr:.3f} s: the model's 4 frames and the longest STFT window)")
    if config.min_duration * sr < shortest:
        raise UserError(f"config min_duration={config.min_duration}: clips must be at least {shortest / sr:.3f} s "
                        f"({shortest} samples: the model's 4 frames and the longest STFT window); set "
                        f"min_duration={math.ceil(shortest / sr * 1000) / 1000} or more")


def generator_config(section: GeneratorConfig) -> LFSCConfig:
    """The LFSCConfig of a `generator` config section, every field and rule checked as a checkpoint's config is
    (codec.lfsc.schema), so that training never makes a model.nemo that the loader refuses."""
    nemo_layout = {"sample_rate": section.sample_rate, "samples_per_frame": section.samples_per_frame,
                   "audio_encoder": dataclasses.asdict(section.encoder),
                   "audio_decoder": dataclasses.asdict(section.decoder),
                   "vector_quantizer": dataclasses.asdict(section.quantizer)}
    return schema.build_config(nemo_layout, "config generator (encoder, decoder, quantizer are NeMo's audio_encoder, "
                        "audio_decoder, vector_quantizer)")
