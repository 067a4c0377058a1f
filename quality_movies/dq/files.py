"""Joining the part files that parallel writers leave into the one output file."""

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO


def concatenate(parts: Sequence[Path], path: Path) -> None:
    """Join ``parts`` in order into ``path``: the first is renamed, the rest copied in the kernel."""
    if not parts:
        path.write_bytes(b"")
        return
    parts[0].replace(path)
    with path.open("r+b") as out:
        out.seek(0, os.SEEK_END)
        for part in parts[1:]:
            with part.open("rb") as source:
                _copy(source, out)


def _copy(source: BinaryIO, out: BinaryIO) -> None:
    """Append all of ``source`` to ``out`` (``copy_file_range`` where the OS has it)."""
    if not hasattr(os, "copy_file_range"):
        shutil.copyfileobj(source, out, 1 << 23)
        return
    remaining = os.fstat(source.fileno()).st_size
    while remaining > 0:
        copied = os.copy_file_range(source.fileno(), out.fileno(), remaining)
        if copied == 0:
            break
        remaining -= copied
