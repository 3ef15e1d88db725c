"""The one way the tools read YAML a user hands in (checkpoint configs, training configs, the user config):
bounded in size, no anchors or aliases (an alias bomb or a self-referencing config expands to gigabytes or
recurses without end once resolved; OmegaConf, which writes NeMo's configs, never emits them), errors as one
line."""

from __future__ import annotations

from pathlib import Path

import yaml

from codec.errors import UserError

MAX_BYTES = 1 << 20  # NeMo codec configs are about 10 KB; a training config far less
MAX_DEPTH = 64  # NeMo's configs nest 5 deep; PyYAML composes nested nodes recursively, so '[[[[...' would overflow


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses aliases instead of sharing (or recursing into) the anchored node, and
    nesting deeper than MAX_DEPTH instead of exhausting Python's stack."""

    depth = 0

    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "YAML aliases (*name) are not accepted here; write the "
                                              "values out", event.start_mark)
        if self.depth >= MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep",
                                              self.peek_event().start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _one_line(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())


def parse_yaml(text: str | bytes, what: str) -> object:
    """The YAML document in `text` (from `what`, named in errors); a one-line UserError for anything too large,
    not YAML, or using aliases."""
    if len(text) > MAX_BYTES:
        raise UserError(f"{what}: a YAML file of {len(text)} bytes is larger than the {MAX_BYTES} accepted")
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise UserError(f"{what}: not valid YAML ({_one_line(exc)}); fix the file") from None
    except (UnicodeDecodeError, ValueError) as exc:  # bytes that are not text; PyYAML's own reader errors
        raise UserError(f"{what}: not a YAML text file ({' '.join(str(exc).split())})") from None


def read_yaml(path: str | Path, what: str | None = None) -> object:
    """The YAML document in the file `path`, read no further than the size limit (see `parse_yaml`)."""
    path = Path(path)
    with open(path, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    return parse_yaml(data, what or str(path))
