"""Training configuration: the recipe's defaults (default.yaml) with key=value overrides, checked against the defaults."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from codec.errors import UserError
from codec.lfsc.model import DecoderConfig, EncoderConfig, LFSCConfig, QuantizerConfig

DEFAULT_PATH = Path(__file__).with_name("default.yaml")
# Keys whose default is null but which take a value of this type.
OPTIONAL_TYPES = {"epoch_items": int, "max_epochs": int, "val_manifest": str, "slm_model_dir": str}
PRECISIONS = ("fp32", "bf16", "fp16")
BACKBONES = ("whisper", "wavlm", "none")


def default_config() -> dict:
    """The recipe's defaults."""
    return yaml.safe_load(DEFAULT_PATH.read_text())


def _check_type(key: str, value: Any, default: Any) -> Any:
    if default is None:
        wanted = OPTIONAL_TYPES[key.rsplit(".", 1)[-1]]
        if value is None or isinstance(value, wanted):
            return value
        return _check_type(key, value, wanted())
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, list):
        ok = isinstance(value, list)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise UserError(f"config {key}={value!r}: expected a {type(default).__name__} like {default!r}")
    return value


def set_key(config: dict, dotted: str, value: Any) -> None:
    """Set `dotted` (e.g. generator.decoder.base_channels) in `config`; an unknown key is an error naming it."""
    node, parts = config, dotted.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            raise UserError(f"unknown config key '{'.'.join(parts[: i + 1])}' (see codec/train/default.yaml for the keys)")
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
        if not sep or not key:
            raise UserError(f"{item!r}: overrides are written key=value, e.g. batch_size=8")
        try:
            out[key.strip()] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise UserError(f"{item!r}: the value is not valid YAML") from None
    return out


def build_config(overrides: dict[str, Any], base: dict | None = None) -> dict:
    """`base` (default: the recipe) with `overrides` applied and checked."""
    config = copy.deepcopy(base if base is not None else default_config())
    for key, value in overrides.items():
        set_key(config, key, value)
    if config["precision"] not in PRECISIONS:
        raise UserError(f"precision={config['precision']!r}: use one of {', '.join(PRECISIONS)}")
    if config["slm_backbone"] not in BACKBONES:
        raise UserError(f"slm_backbone={config['slm_backbone']!r}: use one of {', '.join(BACKBONES)}")
    if len(config["loss_resolutions"]) != len(config["mel_loss_dims"]):
        raise UserError("loss_resolutions and mel_loss_dims need the same number of entries")
    for key in ("batch_size", "n_samples", "max_steps", "log_every", "sample_every", "checkpoint_every", "export_every"):
        if config[key] <= 0:
            raise UserError(f"{key}={config[key]}: must be positive")
    return config


def generator_config(section: dict) -> LFSCConfig:
    """The LFSCConfig of a `generator` config section."""
    return LFSCConfig(
        sample_rate=section["sample_rate"],
        samples_per_frame=section["samples_per_frame"],
        encoder=EncoderConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in section["encoder"].items()}),
        decoder=DecoderConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in section["decoder"].items()}),
        quantizer=QuantizerConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in section["quantizer"].items()}),
    )
