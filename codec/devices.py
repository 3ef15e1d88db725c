"""The torch device used when the user names none."""

from __future__ import annotations


def default_device() -> str:
    """'cuda' when PyTorch sees a GPU, else 'cpu'."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
