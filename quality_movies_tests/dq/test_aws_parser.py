"""AWS's own DQDL parser (awslabs/dqdl, built in ../shared/tools/aws-dqdl) judges every ruleset the project
ships, documents or tests, and a fixed-seed sample of generated ones: ours must give the same verdict and
the same number of rules and analyzers, apart from the differences docs/dqdl.md lists ("Conformance").

Marked ``aws_parser``; skipped when ../shared (or $QUALITY_MOVIES_AWS_DQDL) or Java is missing.
"""

import re
from pathlib import Path

import pytest

from quality_movies_tests.dq import aws_oracle, corpus, dqdl_fuzz

pytestmark = [pytest.mark.aws_parser, pytest.mark.xdist_group("aws_parser")]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "dqdl.md"
CI_SAMPLE = 300


@pytest.fixture(scope="module")
def script() -> Path:
    found = aws_oracle.oracle()
    if found is None:
        pytest.skip("AWS's DQDL parser (../shared/tools/aws-dqdl/run.sh) or Java is missing")
    return found


def _report(found) -> str:
    return "\n".join(
        f"{text!r}\n    AWS: {theirs}\n    ours: {ours}" for text, theirs, ours in found[:20]
    )


def test_every_ruleset_of_the_project_gets_aws_verdict(script: Path) -> None:
    rulesets = corpus.everything()
    texts = list(rulesets.values())
    assert len(texts) > 300, "the corpus lost its sources"
    found = aws_oracle.differences(texts, aws_oracle.aws_verdicts(texts, script))
    assert not found, f"{len(found)} disagreements with AWS's parser:\n{_report(found)}"


def test_a_fixed_seed_sample_of_generated_rulesets_gets_aws_verdict(script: Path) -> None:
    real = list(corpus.everything().values())
    texts = dqdl_fuzz.generate(CI_SAMPLE, seed=dqdl_fuzz.SEED, real=real)
    found = aws_oracle.differences(texts, aws_oracle.aws_verdicts(texts, script))
    assert not found, f"{len(found)} disagreements with AWS's parser:\n{_report(found)}"


STRICTER = [
    # AWS's grammar has no end-of-file rule: whatever follows the closing bracket is dropped.
    'Rules = [ RowCount > 0 ] IsComplete "x"',
    "Rules = [ RowCount > 0 ]\nAnalyzers = [ RowCount ]\nRules = [ RowCount > 1 ]",
    'Rules = [ IsPrimaryKey "col-A"] Monitors = [ Completeness "colA" ]',
]


@pytest.mark.parametrize("text", STRICTER)
def test_where_ours_is_stricter_it_says_what_glue_would_do(script: Path, text: str) -> None:
    [theirs] = aws_oracle.aws_verdicts([text], script)
    ours = aws_oracle.our_verdict(text)
    assert theirs.ok and not ours.ok
    assert aws_oracle.STRICTER_MARK in ours.message and "ignore" in ours.message


def test_docs_list_each_difference() -> None:
    conformance = DOCS.read_text(encoding="utf-8").split("## Conformance", 1)[-1]
    for phrase in ("after the closing", "carriage return", "last line", "filterOrder"):
        assert re.search(re.escape(phrase), conformance), phrase
