"""AWS's own DQDL parser (awslabs/dqdl, ../shared/tools/aws-dqdl) beside ours: one verdict per ruleset.

``aws_verdicts`` sends many rulesets through one ``run.sh --split`` call (a JVM start is ~0.5 s);
``our_verdict`` asks ``quality_movies.dq.parser.parse_ruleset`` (the language and the engine's rule
checks, without the ruleset cache). ``differences`` compares the two and leaves out the documented
cases where ours is deliberately stricter or more lenient (docs/dqdl.md, "Conformance").
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from quality_movies.dq.errors import DataQualityError
from quality_movies.dq.parser import parse_ruleset

REPO_ROOT = Path(__file__).resolve().parents[2]
SEPARATOR = "----"
# Every message of ours for a ruleset Glue's parser accepts but ours refuses says what Glue would do.
STRICTER_MARK = "Glue's parser"


@dataclass(frozen=True)
class Verdict:
    """Accepted with so many top-level rules and analyzers, or refused with a message."""

    ok: bool
    rules: int = 0
    analyzers: int = 0
    message: str = ""

    def same_as(self, other: "Verdict") -> bool:
        if self.ok != other.ok:
            return False
        return not self.ok or (self.rules, self.analyzers) == (other.rules, other.analyzers)

    def __str__(self) -> str:
        if self.ok:
            return f"accepted ({self.rules} rules, {self.analyzers} analyzers)"
        return f"refused: {self.message}"


def oracle() -> Path | None:
    """AWS's parser's run.sh ($QUALITY_MOVIES_AWS_DQDL, else ../shared beside the repository), or None
    when it or Java is missing."""
    chosen = os.environ.get("QUALITY_MOVIES_AWS_DQDL")
    script = (
        Path(chosen) if chosen else REPO_ROOT.parent / "shared" / "tools" / "aws-dqdl" / "run.sh"
    )
    if not script.is_file() or shutil.which("java") is None or shutil.which("javac") is None:
        return None
    return script


def aws_verdicts(texts: list[str], script: Path) -> list[Verdict]:
    """AWS's verdict on each ruleset, in order, from one JVM."""
    for text in texts:
        if re.search(rf"(^|\n){SEPARATOR}(\n|$)", text):
            raise ValueError(f"a ruleset holds the separator line {SEPARATOR!r}: {text!r}")
    with tempfile.TemporaryDirectory(prefix="aws-dqdl-") as folder:
        batch = Path(folder) / "rulesets.txt"
        batch.write_text(f"\n{SEPARATOR}\n".join(texts) + "\n", encoding="utf-8")
        done = subprocess.run(
            [str(script), "--split", SEPARATOR, str(batch)],
            capture_output=True,
            text=True,
            check=True,
            timeout=1800,
        )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if len(lines) != len(texts):
        raise RuntimeError(f"AWS's parser answered {len(lines)} of {len(texts)} rulesets")
    return [
        Verdict(True, entry["rules"], entry["analyzers"])
        if entry["ok"]
        else Verdict(False, message=f"{entry['exception']}: {entry['error']}")
        for entry in lines
    ]


def our_verdict(text: str) -> Verdict:
    try:
        ruleset = parse_ruleset(text, source="<fuzz>")
    except DataQualityError as error:
        return Verdict(False, message=str(error))
    return Verdict(True, len(ruleset.rules), len(ruleset.analyzers))


def lenient(text: str) -> str | None:
    """Why ours accepts a ruleset AWS's parser refuses on purpose (docs/dqdl.md), or None."""
    if "\r" in text:
        return "a carriage return (Windows line ends) is read as a line end"
    if re.search(r"with\s+filterOrder\s*=\s*\[", text):
        return "a list as a tag's value (filterOrder, AWS Glue guide), which AWS's grammar lacks"
    last_line = text.rsplit("\n", 1)[-1]
    if re.search(r"(#|//)", last_line) and not text.endswith("\n"):
        return "a comment on the last line without a line end after it"
    return None


def classify(text: str, theirs: Verdict) -> tuple[str, Verdict]:
    """``same``, ``stricter`` (ours refuses saying what Glue's parser would do), ``lenient`` (ours accepts
    for a reason ``lenient`` gives) or ``different``; with our verdict."""
    ours = our_verdict(text)
    if ours.same_as(theirs):
        return "same", ours
    if theirs.ok and not ours.ok and STRICTER_MARK in ours.message:
        return "stricter", ours
    if ours.ok and not theirs.ok and lenient(text):
        return "lenient", ours
    return "different", ours


def differences(texts: list[str], aws: list[Verdict]) -> list[tuple[str, Verdict, Verdict]]:
    """The rulesets on which the two parsers disagree, apart from the documented differences."""
    found = []
    for text, theirs in zip(texts, aws, strict=True):
        kind, ours = classify(text, theirs)
        if kind == "different":
            found.append((text, theirs, ours))
    return found
