"""Output files compared as the engine promises them: the same lines, in no particular order."""

from pathlib import Path


def sorted_lines(path: Path) -> list[bytes]:
    """The file's lines (each with its newline) sorted; two files are equal outputs when these are."""
    return sorted(path.read_bytes().splitlines(keepends=True))
