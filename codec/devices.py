"""The torch device and precision to run models at: the default device, "auto", and checks of what the user names."""

from __future__ import annotations

from codec.errors import UserError

PRECISIONS = ("fp32", "bf16", "fp16")  # model arithmetic: fp32 is exact; the others are faster, with measured deviation


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


def resolve_device(choice: str) -> str:
    """The device a choice names: 'auto' is `default_device()`; any other is checked by `check_device`."""
    return default_device() if choice == "auto" else check_device(choice)


def precision_dtype(precision: str):
    """The torch dtype of a precision ('fp32': None, full precision); a UserError for anything else."""
    import torch

    dtypes = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision not in dtypes:
        raise UserError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    return dtypes[precision]
