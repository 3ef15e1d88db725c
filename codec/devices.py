"""The torch device to run models on: the default, and a check of one the user names."""

from __future__ import annotations

from codec.errors import UserError


def default_device() -> str:
    """'cuda' when PyTorch sees a GPU, else 'cpu'."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(name: str) -> str:
    """`name` when torch can run on that device here; otherwise a UserError that says what can."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}: use cpu or cuda (cuda:1 for the second GPU)") from None
    count = torch.cuda.device_count() if device.type == "cuda" else 0
    if device.type == "cuda" and (count == 0 or (device.index or 0) >= count):
        raise UserError(f"device {name!r} is not available: this machine's PyTorch sees {count} GPU(s); use cpu")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"device {name!r} is not supported: use cpu or cuda")
    return name
