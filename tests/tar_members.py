"""Tar archives built in memory for the checkpoint tests (a .nemo is a tar)."""

from __future__ import annotations

import io
import tarfile


def tar_bytes(members: list[tuple[str | tarfile.TarInfo, bytes]], gzipped: bool = False) -> bytes:
    """A tar (GNU format) of `members`: a name and its bytes, or a TarInfo of another type with no data."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gzipped else "w:", format=tarfile.GNU_FORMAT) as tar:
        for member, data in members:
            info = member if isinstance(member, tarfile.TarInfo) else tarfile.TarInfo(member)
            if info.isfile():
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()
