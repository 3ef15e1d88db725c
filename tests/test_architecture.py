"""The layout holds: the layers and acyclic packages of docs/architecture.md (import-linter contracts in
pyproject.toml), short product functions, and light imports where start-up time depends on them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("codec", "eval", "train", "workbench")
MAX_FUNCTION_LINES = 60


def test_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def long_functions(paths: list[Path], root: Path = ROOT) -> list[str]:
    """'path:line name (N lines)' (path relative to `root`) of every function in `paths` longer than
    MAX_FUNCTION_LINES."""
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_product_function_is_longer_than_60_lines():
    paths = sorted(p for package in PRODUCT for p in (ROOT / package).rglob("*.py"))
    assert len(paths) > 50
    assert long_functions(paths) == []


def test_the_length_check_finds_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "long.py").write_text(f"def long():\n{body}\n\n\ndef short():\n    return 1\n")
    assert long_functions([tmp_path / "long.py"], tmp_path) == [f"long.py:1 long ({MAX_FUNCTION_LINES + 1} lines)"]
