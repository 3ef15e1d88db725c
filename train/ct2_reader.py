"""Read the variables of a CTranslate2 `model.bin` (binary format version 6) into numpy arrays, without CTranslate2."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

from codec.errors import UserError

SUPPORTED_VERSION = 6
# CTranslate2's DataType enum, in its declaration order.
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def _unpack(f: BinaryIO, fmt: str):
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise EOFError("truncated file")
    return struct.unpack(fmt, data)[0]


def _string(f: BinaryIO) -> str:
    length = _unpack(f, "<H")  # includes the terminating NUL
    return f.read(length)[:-1].decode("utf-8")


def read_ct2(path: str | Path, prefix: str = "") -> dict[str, np.ndarray]:
    """All variables (optionally only those whose name starts with `prefix`) of a CTranslate2 model.bin."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            version = _unpack(f, "<I")
            if version != SUPPORTED_VERSION:
                raise UserError(f"{path}: CTranslate2 binary version {version}; only version {SUPPORTED_VERSION} is supported")
            _string(f)  # spec name, e.g. WhisperSpec
            _unpack(f, "<I")  # spec revision
            variables = {}
            for _ in range(_unpack(f, "<I")):
                name = _string(f)
                shape = tuple(_unpack(f, "<I") for _ in range(_unpack(f, "<B")))
                dtype_id = _unpack(f, "<B")
                num_bytes = _unpack(f, "<I")
                if dtype_id not in DTYPES:
                    raise UserError(f"{path}: variable {name} has unsupported CTranslate2 dtype id {dtype_id}")
                if not name.startswith(prefix):
                    f.seek(num_bytes, 1)
                    continue
                data = np.frombuffer(f.read(num_bytes), dtype=DTYPES[dtype_id])
                variables[name] = data.reshape(shape)
            for _ in range(_unpack(f, "<I")):  # aliases: one variable stored under two names
                alias, target = _string(f), _string(f)
                if alias.startswith(prefix) and target in variables:
                    variables[alias] = variables[target]
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{path}: not a readable CTranslate2 model file ({exc})") from None
    return variables
