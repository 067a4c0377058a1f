"""Rulesets from DQDL text or files, each text parsed once per version of the engine.

A parsed ruleset is kept in the user's cache folder (``$QUALITY_MOVIES_CACHE_DIR``, else
``$XDG_CACHE_HOME/quality_movies`` or ``~/.cache/quality_movies``; an empty
``QUALITY_MOVIES_CACHE_DIR`` turns it off), keyed by the text, its source name and the engine's own
files, so a process that evaluates a known ruleset neither imports lark nor parses (about 25 ms,
as much as evaluating a small file). Rulesets that do not load are not kept: their errors come again.
"""

import hashlib
import os
import pickle
import sys
from functools import cache
from importlib import resources
from pathlib import Path

from quality_movies.dq.errors import UnreadableInputError
from quality_movies.dq.model import Ruleset

MAX_KEPT = 256  # parsed rulesets kept; the least recently written go first


def parse_ruleset(text: str, source: str = "<ruleset>") -> Ruleset:
    """Parse DQDL text and check every rule and analyzer against the engine's rule types.

    Raises DQDLSyntaxError, InvalidRuleError or UnsupportedRuleError naming the line and column.
    """
    folder = cache_folder()
    entry = folder / f"{_key(text, source)}.pickle" if folder else None
    if entry is not None:
        kept = _read(entry)
        if kept is not None:
            return kept
    from quality_movies.dq import parser

    ruleset = parser.parse_ruleset(text, source)
    if entry is not None:
        _write(entry, ruleset)
    return ruleset


def load_ruleset(path: str | Path) -> Ruleset:
    """Read and parse a ``.dqdl`` file; raises UnreadableInputError when it cannot be read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise UnreadableInputError(f"{path}: cannot read the ruleset ({error})") from None
    return parse_ruleset(text, source=str(path))


def default_ruleset_path() -> Path:
    """The packaged movies ruleset, the source of truth for the pipeline's rules."""
    return Path(str(resources.files("quality_movies.dq").joinpath("rulesets", "movies.dqdl")))


def cache_folder() -> Path | None:
    """Where parsed rulesets are kept (None: not kept)."""
    chosen = os.environ.get("QUALITY_MOVIES_CACHE_DIR")
    if chosen is not None:
        return Path(chosen) / "dqdl" if chosen else None
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = Path.home() / ".cache"
        except (RuntimeError, KeyError):  # no home (an anonymous container user): keep nothing
            return None
    return Path(base) / "quality_movies" / "dqdl"


@cache
def _engine_stamp() -> str:
    """The engine's files (name, size, modification time) and Python's version: a new grammar,
    rule type or model makes every kept ruleset stale."""
    package = Path(__file__).parent
    files = sorted(p for pattern in ("*.py", "*.lark") for p in package.rglob(pattern))
    parts = [sys.version]
    for path in files:
        stat = path.stat()
        parts.append(f"{path.relative_to(package)}:{stat.st_size}:{stat.st_mtime_ns}")
    return "\n".join(parts)


def _key(text: str, source: str) -> str:
    digest = hashlib.sha256()
    for part in (_engine_stamp(), source, text):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def _read(entry: Path) -> Ruleset | None:
    try:
        with entry.open("rb") as kept:
            ruleset = pickle.load(kept)
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - an unreadable entry (cut short, older Python) is parsed again
        return None
    return ruleset if isinstance(ruleset, Ruleset) else None


def _write(entry: Path, ruleset: Ruleset) -> None:
    """Keep ``ruleset`` (written whole, then renamed); a folder that cannot be written is skipped."""
    partial = entry.with_name(f".{entry.name}.{os.getpid()}")
    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial.write_bytes(pickle.dumps(ruleset, protocol=pickle.HIGHEST_PROTOCOL))
        partial.replace(entry)
        kept = sorted(entry.parent.glob("*.pickle"), key=lambda p: p.stat().st_mtime_ns)
        for stale in kept[:-MAX_KEPT]:
            stale.unlink(missing_ok=True)
    except OSError:
        partial.unlink(missing_ok=True)
