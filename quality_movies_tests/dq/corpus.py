"""Every DQDL ruleset the project ships, documents or tests, gathered for AWS's parser to judge.

- the packaged ruleset and the benchmarks' rulesets (``*.dqdl``);
- every inline DQDL example of docs/*.md and README.md (a code span starting with a rule type, or
  holding ``Rules = [``), a single rule wrapped as ``Rules = [ ... ]``;
- every string of the dq test modules (module-level values, parametrize values, the case tables'
  ``Case.rules``, ``Example.text()``) that is a ruleset or starts with a rule type.
"""

import importlib
import re
from dataclasses import fields, is_dataclass
from pathlib import Path

from quality_movies.dq.parser import DQDL_RULE_TYPES

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_MODULES = sorted(
    p.stem for p in (REPO_ROOT / "quality_movies_tests" / "dq").glob("*.py") if p.stem != "__init__"
)
_SECTION = re.compile(r"(^|\n)\s*(Rules\w*|Analyzers|Metadata|DataSources|DefaultLabels)\s*=")
_RULE = re.compile(r"^\(*\s*(" + "|".join(sorted(DQDL_RULE_TYPES)) + r")\b(\s|$|,)")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)


def as_ruleset(text: str) -> str | None:
    """``text`` as a ruleset: itself when it has a section, ``Rules = [ text ]`` when it is a rule."""
    stripped = text.strip()
    if _SECTION.search(stripped) and "[" in stripped or stripped.startswith(("Rules", "Analyzers")):
        return text
    if _RULE.match(stripped):
        return f"Rules = [ {stripped} ]"
    return None


def shipped() -> dict[str, str]:
    found = {}
    for path in sorted(REPO_ROOT.glob("quality_movies/**/*.dqdl")) + sorted(
        REPO_ROOT.glob("benchmarks/*.dqdl")
    ):
        found[str(path.relative_to(REPO_ROOT))] = path.read_text(encoding="utf-8-sig")
    return found


def documented() -> dict[str, str]:
    found = {}
    for path in sorted(REPO_ROOT.glob("docs/*.md")) + [REPO_ROOT / "README.md"]:
        text = path.read_text(encoding="utf-8")
        for match in _CODE_SPAN.finditer(text):
            ruleset = as_ruleset(match.group(2))
            if ruleset is not None:
                line = text.count("\n", 0, match.start()) + 1
                found.setdefault(ruleset, f"{path.relative_to(REPO_ROOT)}:{line}")
    return {where: ruleset for ruleset, where in found.items()}


def tested() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in TEST_MODULES:
        module = importlib.import_module(f"quality_movies_tests.dq.{name}")
        for attribute, value in vars(module).items():
            if attribute.startswith("__"):
                continue
            marks = getattr(value, "pytestmark", []) if callable(value) else []
            for mark in marks:
                if mark.name == "parametrize":
                    _strings(mark.args[1], f"{name}.{attribute}", found)
            if not callable(value) or is_dataclass(value) and not isinstance(value, type):
                _strings(value, f"{name}.{attribute}", found)
    return {where: ruleset for ruleset, where in found.items()}


def _strings(value, where: str, found: dict[str, str], depth: int = 0) -> None:
    if depth > 4:
        return
    if isinstance(value, str):
        ruleset = as_ruleset(value)
        if ruleset is not None:
            found.setdefault(ruleset, f"{where}[{len(found)}]")
    elif isinstance(value, (list, tuple)):
        for item in value:
            _strings(item, where, found, depth + 1)
    elif isinstance(value, (set, frozenset)):  # in a fixed order: the fuzzer's runs must repeat
        for item in sorted(value, key=repr):
            _strings(item, where, found, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, where, found, depth + 1)
    elif is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "text") and callable(value.text):
            _strings(value.text(), where, found, depth + 1)
        for item in fields(value):
            _strings(getattr(value, item.name), where, found, depth + 1)
    elif hasattr(value, "values") and type(value).__name__ == "ParameterSet":
        _strings(value.values, where, found, depth + 1)


def everything() -> dict[str, str]:
    """Where each ruleset comes from -> its text (each text once)."""
    seen: set[str] = set()
    gathered = {}
    for group in (shipped(), documented(), tested()):
        for where, text in group.items():
            if text not in seen:
                seen.add(text)
                gathered[where] = text
    return gathered
