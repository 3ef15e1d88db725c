"""What every command-line tool promises for input it refuses: exit status 2, one line on stderr, no traceback,
no file written and nothing touched. `refused` runs a tool in its own process (so a crash, a hang or a leftover
child is seen as the user would see it) and checks all of it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TOOLS = {"lfsc-codec": "codec.cli", "lfsc-eval": "eval.cli", "lfsc-train": "train.cli"}


def snapshot(*folders: Path) -> dict[str, str]:
    """Every file and folder below `folders` with its sha256 (folders and others: their kind), to compare."""
    state: dict[str, str] = {}
    for folder in folders:
        folder = Path(folder)
        if not folder.exists():
            state[str(folder)] = "absent"
            continue
        for root, dirs, files in os.walk(folder):
            for name in dirs:
                state[os.path.join(root, name)] = "folder"
            for name in files:
                path = Path(root, name)
                if path.is_fifo() or not path.is_file():
                    state[str(path)] = "special"
                    continue
                state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def run_tool(tool: str, *args: object, cwd: Path | None = None, env: dict | None = None,
             timeout: float = 180) -> subprocess.CompletedProcess:
    """Run `tool` (lfsc-codec, lfsc-eval, lfsc-train) as `python -m ...` in a process of its own."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", TOOLS[tool], *map(str, args)], cwd=cwd or REPO, env=environment,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def refused(tool: str, *args: object, watch: list[Path], cwd: Path | None = None, env: dict | None = None,
            timeout: float = 180) -> str:
    """Run `tool` with `args` and assert that it refuses: exit 2, exactly one error line on stderr (notices
    aside), no traceback, and every file below `watch` as it was (nothing written, nothing replaced). Returns
    the error line."""
    before = snapshot(*watch)
    done = run_tool(tool, *args, cwd=cwd, env=env, timeout=timeout)
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("notice:")]
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert len(lines) == 1 and lines[0].startswith(f"{tool}: error: "), done.stderr
    assert snapshot(*watch) == before, "the refused command changed files"
    return lines[0]
