"""The registry that maps names such as 'lfsc', 'codec2-2400', 'opus-6k' to codecs.

The GUI, the eval runner and the CLI all go through `get_codec`; nothing else builds codec classes directly.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

from codec.errors import UserError
from codec.conditions import Conditioned
from codec.interface import Codec
from codec.spec import CodecSpec


@dataclass
class CodecEntry:
    """A registered codec: how to build it and what to show in `lfsc-codec list`."""

    name: str
    factory: Callable[..., Codec]
    sample_rate: int
    nominal_bitrate: float
    description: str
    requires: tuple[str, ...] = field(default=())  # (module, pip package) pairs joined as "module:package"
    check: Callable[..., str] | None = None  # given the codec options: why it cannot run here, or ""

    def available(self, **options) -> tuple[bool, str]:
        """Whether the codec can run here, and if not, what to do about it."""
        import importlib.util

        for requirement in self.requires:
            module, _, package = requirement.partition(":")
            if importlib.util.find_spec(module) is None:
                return False, f"needs the Python package '{package or module}' (pip install {package or module})"
        if self.check is not None:
            why = self.check(**options)
            if why:
                return False, why
        return True, ""


_REGISTRY: dict[str, CodecEntry] = {}
_BUILTINS_LOADED = False


def register(entry: CodecEntry) -> None:
    """Add a codec to the registry (names are unique)."""
    if entry.name in _REGISTRY:
        raise ValueError(f"codec {entry.name!r} is registered twice")
    _REGISTRY[entry.name] = entry


def _load_builtin() -> None:
    # Importing these modules registers their codecs; they import their heavy dependencies lazily.
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        import codec.baselines  # noqa: F401
        import codec.lfsc_codec  # noqa: F401

        _BUILTINS_LOADED = True


def list_codecs() -> list[CodecEntry]:
    """All registered codecs, in registration order."""
    _load_builtin()
    return list(_REGISTRY.values())


def takes_option(name: str, option: str) -> bool:
    """Whether the codec named `name` (conditions allowed) takes `option` (such as LFSC's checkpoint and device)."""
    _load_builtin()
    entry = _REGISTRY.get(CodecSpec.parse(name).base)
    return entry is not None and option in inspect.signature(entry.factory).parameters


def get_codec(name: str, **options) -> Codec:
    """Build the codec registered under `name`, fed through the input conditions the name carries after '@'
    (`codec.conditions`); unknown names and conditions and missing packages are UserErrors."""
    spec = CodecSpec.parse(name)
    if spec.conditioned:
        return Conditioned(get_codec(spec.base, **options), spec.conditions)
    _load_builtin()
    entry = _REGISTRY.get(name)
    if entry is None:
        raise UserError(f"unknown codec {name!r}; known codecs: {', '.join(_REGISTRY)}")
    params = inspect.signature(entry.factory).parameters
    accepted = [n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    takes_any = any(p.kind == p.VAR_KEYWORD for p in params.values())  # such a factory checks its own options
    unknown = [] if takes_any else sorted(set(options) - set(accepted))
    if unknown:
        raise UserError(f"codec {name!r} has no option {', '.join(unknown)}; it takes: {', '.join(accepted) or 'none'}")
    ok, why = entry.available(**options)
    if not ok:
        raise UserError(f"codec {name!r} is not available on this machine: {why}")
    return entry.factory(**options)
