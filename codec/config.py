"""Where the LFSC checkpoint comes from: --checkpoint, then $LFSC_CHECKPOINT, then the user config file."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from codec.errors import UserError
from codec.safe_yaml import read_yaml

ENV_VAR = "LFSC_CHECKPOINT"


def user_config_path() -> Path:
    """The user config file (YAML with a `checkpoint:` key), honouring XDG_CONFIG_HOME."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "lfsc-workbench" / "config.yaml"


def read_user_config() -> dict:
    """The user config as a dict ({} when absent)."""
    path = user_config_path()
    if not path.is_file():
        return {}
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping such as 'checkpoint: /path/to/model.nemo'")
    return data


def write_user_config(**values: object) -> Path:
    """Merge `values` into the user config file and return its path."""
    path = user_config_path()
    data = read_user_config()
    data.update(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=True))
    return path


HOW_TO_SET = (
    "point at an LFSC .nemo checkpoint with --checkpoint PATH, the environment variable "
    f"{ENV_VAR}=PATH, or 'checkpoint: PATH' in {{config}} (the official weights: "
    "nvidia/low-frame-rate-speech-codec-22khz on Hugging Face, NSCLv1 licence)"
)


def how_to_set() -> str:
    """One sentence telling the user how to configure a checkpoint."""
    return HOW_TO_SET.format(config=user_config_path())


def resolve_checkpoint(explicit: str | os.PathLike | None = None) -> Path | None:
    """The configured checkpoint path, or None when none is configured anywhere."""
    for value in (explicit, os.environ.get(ENV_VAR)):
        if value:
            return Path(os.path.expanduser(value))
    configured = read_user_config().get("checkpoint")
    if configured is not None and not isinstance(configured, str):
        raise UserError(f"{user_config_path()}: 'checkpoint' must be the path of a .nemo file, got {configured!r:.80}")
    return Path(os.path.expanduser(configured)) if configured else None


def checkpoint_problem(checkpoint: str | os.PathLike | None = None, **_: object) -> str:
    """Why LFSC cannot run with `checkpoint` (or the configured one): none configured, or no such file; '' when
    there is one."""
    path = resolve_checkpoint(checkpoint)
    if path is None:
        return f"no checkpoint configured; {how_to_set()}"
    if not path.exists():
        return f"checkpoint {path} does not exist; {how_to_set()}"
    return ""
