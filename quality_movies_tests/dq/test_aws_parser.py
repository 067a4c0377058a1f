"""AWS's own DQDL parser (awslabs/dqdl, built in ../shared/tools/aws-dqdl) judges every ruleset the project
ships, documents or tests, and a fixed-seed sample of generated ones: ours must give the same verdict and
the same number of rules and analyzers, apart from the differences docs/dqdl.md lists ("Conformance").

Marked ``aws_parser``; skipped when ../shared (or $QUALITY_MOVIES_AWS_DQDL) or Java is missing. All the
rulesets go to AWS's parser in one ``run.sh --split`` call (a JVM start is ~0.5 s).
"""

import re
from pathlib import Path

import pytest

from quality_movies_tests.dq import aws_oracle, corpus, dqdl_fuzz

pytestmark = [pytest.mark.aws_parser, pytest.mark.xdist_group("aws_parser")]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "dqdl.md"
CI_SAMPLE = 300
# Glue's parser accepts these (its grammar has no end-of-file rule: whatever follows the closing bracket
# is dropped; it accepts any analyzer); ours refuses each, saying what Glue's parser would do.
STRICTER = [
    'Rules = [ RowCount > 0 ] IsComplete "x"',
    "Rules = [ RowCount > 0 ]\nAnalyzers = [ RowCount ]\nRules = [ RowCount > 1 ]",
    'Rules = [ IsPrimaryKey "col-A"] Monitors = [ Completeness "colA" ]',
    'Analyzers = [ FileMatch "s3://bucket/a.csv" ]',
]


@pytest.fixture(scope="module")
def judged() -> dict[str, list[tuple[str, aws_oracle.Verdict]]]:
    """Each group of rulesets with AWS's verdict on each."""
    script = aws_oracle.oracle()
    if script is None:
        pytest.skip("AWS's DQDL parser (../shared/tools/aws-dqdl/run.sh) or Java is missing")
    real = list(corpus.everything().values())
    groups = {
        "corpus": real,
        "generated": dqdl_fuzz.generate(CI_SAMPLE, seed=dqdl_fuzz.SEED, real=real),
        "stricter": STRICTER,
    }
    texts = [text for group in groups.values() for text in group]
    verdicts = iter(aws_oracle.aws_verdicts(texts, script))
    return {name: [(text, next(verdicts)) for text in group] for name, group in groups.items()}


def _disagreements(judged_group) -> list[str]:
    found = []
    for text, theirs in judged_group:
        kind, ours = aws_oracle.classify(text, theirs)
        if kind == "different":
            found.append(f"{text!r}\n    AWS: {theirs}\n    ours: {ours}")
    return found


def test_every_ruleset_of_the_project_gets_aws_verdict(judged) -> None:
    assert len(judged["corpus"]) > 300, "the corpus lost its sources"
    found = _disagreements(judged["corpus"])
    assert not found, f"{len(found)} disagreements with AWS's parser:\n" + "\n".join(found[:20])


def test_a_fixed_seed_sample_of_generated_rulesets_gets_aws_verdict(judged) -> None:
    found = _disagreements(judged["generated"])
    assert not found, f"{len(found)} disagreements with AWS's parser:\n" + "\n".join(found[:20])


def test_where_ours_is_stricter_it_says_what_glue_would_do(judged) -> None:
    for text, theirs in judged["stricter"]:
        ours = aws_oracle.our_verdict(text)
        assert theirs.ok and not ours.ok, text
        assert aws_oracle.STRICTER_MARK in ours.message, ours.message


def test_docs_list_each_difference() -> None:
    conformance = DOCS.read_text(encoding="utf-8").split("## Conformance", 1)[-1]
    for phrase in ("after the closing", "carriage return", "last line", "filterOrder", "analyzer"):
        assert re.search(re.escape(phrase), conformance), phrase
