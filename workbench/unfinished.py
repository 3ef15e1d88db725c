"""Unfinished listening tests: read the answers a test saved so far and rebuild the session to go on with it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from codec.errors import UserError
from workbench.blind_test import BlindTest
from workbench.mushra import KIND as MUSHRA
from workbench.mushra import MushraTest


def resume(path: str | Path, clock: Callable[[], float] = time.monotonic) -> BlindTest | MushraTest:
    """The session saved in an `unfinished-blind-*.json` file, at its first unanswered trial."""
    path = Path(path)
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        head, rows = saved["summary"], saved["trials"]
        if not isinstance(head, dict) or not isinstance(rows, list):
            raise TypeError("its summary is not an object or its trials not a list")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path.name}: not a saved listening test ({type(exc).__name__}: {exc}); pick an "
                        "unfinished-blind-*.json file from the blind-tests folder") from None
    if head.get("finished") is not False:
        raise UserError(f"{path.name}: a finished test, nothing to resume; open its results instead")
    if "plan" not in head:
        raise UserError(f"{path.name}: written by a version that did not save the test's plan, so it cannot be "
                        "resumed; its answers stay in the file")
    session_type = MushraTest if head.get("kind") == MUSHRA else BlindTest
    try:
        return session_type.resume(head, rows, clock)
    except UserError as exc:
        raise UserError(f"{path.name}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UserError(f"{path.name}: damaged ({type(exc).__name__}: {exc}); it cannot be resumed, and its answers "
                        "stay in the file") from None
