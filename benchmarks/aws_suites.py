"""AWS's and Deequ's own DQDL test strings through AWS's parser and ours (issue 21's suite figures).

    git clone https://github.com/awslabs/dqdl /tmp/dqdl
    git clone https://github.com/awslabs/deequ /tmp/deequ
    PYTHONPATH=. .venv/bin/python benchmarks/aws_suites.py --dqdl /tmp/dqdl --deequ /tmp/deequ

Gathers every string literal passed to ``Arguments.of(...)`` in awslabs/dqdl's Java tests (``tst/``;
a single rule is wrapped as ``Rules = [ rule ]``, the strings of ``provideInvalidRulesets`` are taken as
they are) and every ruleset literal (``Rules...``) of awslabs/deequ's DQDL specs, asks AWS's parser
(../shared/tools/aws-dqdl) for its verdict on each, and compares ours: the same verdict and the same
numbers of rules and analyzers, or one of the documented differences (docs/dqdl.md, "Conformance").
Prints each disagreement, then the figures per suite. Exit 1 when any disagreement remains.
"""

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

from quality_movies_tests.dq import aws_oracle, corpus

_LITERAL = r'"(?:[^"\\\n]|\\.)*"'
_CONCATENATED = re.compile(rf"{_LITERAL}(?:\s*\+\s*{_LITERAL})*")
_PROVIDER = re.compile(r"Stream<Arguments>\s+(\w+)\s*\(")
_SECTION = re.compile(r"\s*(Rules|Analyzers|Metadata|DataSources)\s*=")


def java_string(source: str) -> str:
    """The value of Java (or Scala) string literals joined by ``+``."""
    parts = re.findall(_LITERAL, source)
    escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'"}
    return "".join(
        re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(0)), part[1:-1])
        for part in parts
    )


def _arguments(text: str) -> list[str]:
    """The first argument of each ``Arguments.of(...)`` when it is a string literal."""
    found = []
    for match in re.finditer(r"Arguments\.of\(\s*", text):
        literal = _CONCATENATED.match(text, match.end())
        if literal is not None:
            found.append(java_string(literal.group(0)))
    return found


def dqdl_suite(root: Path) -> dict[str, str]:
    """awslabs/dqdl's test strings as rulesets, each with where it came from."""
    found: dict[str, str] = {}
    for path in sorted((root / "tst").rglob("*.java")):
        text = path.read_text(encoding="utf-8")
        starts = [(m.start(), m.group(1)) for m in _PROVIDER.finditer(text)]
        for index, (start, provider) in enumerate(starts):
            end = starts[index + 1][0] if index + 1 < len(starts) else len(text)
            for value in _arguments(text[start:end]):
                ruleset = (
                    value if provider == "provideInvalidRulesets" else corpus.as_ruleset(value)
                )
                if ruleset is not None:
                    found.setdefault(ruleset, f"{path.name}:{provider}")
        for literal in _CONCATENATED.findall(text):  # rulesets written out in the tests themselves
            value = java_string(literal)
            if _SECTION.match(value):
                found.setdefault(value, path.name)
    return found


def deequ_suite(root: Path) -> dict[str, str]:
    """awslabs/deequ's DQDL specs' ruleset literals (``"Rules..."``, Scala's triple quotes too)."""
    found: dict[str, str] = {}
    for path in sorted((root / "src" / "test").rglob("*.scala")):
        if "dqdl" not in str(path).lower():
            continue
        text = path.read_text(encoding="utf-8")
        for triple in re.findall(r'"""(.*?)"""', text, re.S):
            if _SECTION.match(triple):
                found.setdefault(triple, path.name)
        for literal in _CONCATENATED.findall(re.sub(r'""".*?"""', "", text, flags=re.S)):
            value = java_string(literal)
            if _SECTION.match(value):
                found.setdefault(value, path.name)
    return found


def compare(name: str, rulesets: dict[str, str], script: Path) -> int:
    """Print the disagreements and the figures of one suite; the number of disagreements."""
    texts = list(rulesets)
    kinds: Counter[str] = Counter()
    accepted: Counter[str] = Counter()
    for text, theirs in zip(texts, aws_oracle.aws_verdicts(texts, script), strict=True):
        kind, ours = aws_oracle.classify(text, theirs)
        kinds[kind] += 1
        verdict = "accepted" if theirs.ok else "refused"
        accepted[verdict] += 1
        if kind == "same":
            accepted[f"same {verdict}"] += 1
        if kind == "different":
            print(f"[{rulesets[text]}] {text!r}\n    AWS: {theirs}\n    ours: {ours}")
    print(
        f"{name}: {len(texts)} rulesets; AWS's parser accepted {accepted['accepted']}, ours the same "
        f"(same rule and analyzer counts) on {accepted['same accepted']}; AWS refused "
        f"{accepted['refused']}, ours too on {accepted['same refused']}; documented stricter "
        f"{kinds['stricter']}, documented more lenient {kinds['lenient']}, disagreements "
        f"{kinds['different']}"
    )
    return kinds["different"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dqdl", type=Path, required=True, help="a checkout of awslabs/dqdl")
    parser.add_argument("--deequ", type=Path, help="a checkout of awslabs/deequ")
    args = parser.parse_args()
    script = aws_oracle.oracle()
    if script is None:
        print(
            "AWS's DQDL parser (../shared/tools/aws-dqdl/run.sh) or Java is missing",
            file=sys.stderr,
        )
        return 2
    different = compare("awslabs/dqdl tests", dqdl_suite(args.dqdl), script)
    if args.deequ is not None:
        different += compare("awslabs/deequ DQDL specs", deequ_suite(args.deequ), script)
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
