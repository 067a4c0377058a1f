"""``quality-movies dq recommend``: a starting ruleset from the data, as Glue's recommendation runs make.

Expected rules are derived by hand from the small CSV below; the damage tests show the ruleset is not
trivially loose; AWS's parser (tier ``aws_parser``) accepts what it writes.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from quality_movies.dq import evaluate_file, parse_ruleset
from quality_movies.dq.cli import main
from quality_movies.dq.recommend import profile_duckdb, recommend
from quality_movies_tests.conftest import SEED_CSV
from quality_movies_tests.dq import aws_oracle

SMALL = "id,rating,grade,name\n1,7.5,A,Ann\n2,8.25,B,Bo\n3,9,A,\n4,8,B,Cy\n"
# By hand: 4 rows -> RowCount between half and one and a half times, one beyond each (between is
# exclusive): 2 - 1 and 6 + 1. id: complete, 4 distinct, whole numbers 1..4. rating: complete, 4
# distinct, numbers 7.5..9 with at most 2 decimals, so one step of 0.01 beyond each. grade: complete,
# 2 values each seen twice: the value set; lengths 1..1. name: 3 of 4 present (0.75), not complete so
# no uniqueness, 3 values in 3 rows (no set), lengths 0 (missing) to 3.
SMALL_RULES = [
    "RowCount between 1 and 7",
    'IsComplete "id"',
    'IsUnique "id"',
    'ColumnValues "id" between 0 and 5',
    'ColumnDataType "id" = "BIGINT"',
    'IsComplete "rating"',
    'IsUnique "rating"',
    'ColumnValues "rating" between 7.49 and 9.01',
    'ColumnDataType "rating" = "DOUBLE"',
    'IsComplete "grade"',
    'ColumnValues "grade" in ["A", "B"]',
    'ColumnLength "grade" between 0 and 2',
    'Completeness "name" >= 0.75',
    'ColumnLength "name" between -1 and 4',
]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _outcomes(ruleset_text: str, data: Path, out: Path) -> dict[str, str]:
    summary = evaluate_file(parse_ruleset(ruleset_text), data, out)
    return {outcome.rule: outcome.outcome for outcome in summary.rule_outcomes}


def test_the_recommended_rules_of_a_small_file(tmp_path: Path) -> None:
    text = recommend(profile_duckdb(_write(tmp_path, "small.csv", SMALL)))
    ruleset = parse_ruleset(text)
    assert [rule.text for rule in ruleset.rules] == SMALL_RULES
    lines = text.splitlines()
    for rule in SMALL_RULES:  # each rule follows a comment with the statistic it came from
        [at] = [i for i, line in enumerate(lines) if line.strip().rstrip(",") == rule]
        assert lines[at - 1].strip().startswith("# ")
    assert "# rating: numbers from 7.5 to 9" in text
    assert "# name: a value in 3 of 4 rows (0.7500)" in text


def test_the_recommendation_passes_on_its_own_data(tmp_path: Path) -> None:
    data = _write(tmp_path, "small.csv", SMALL)
    outcomes = _outcomes(recommend(profile_duckdb(data)), data, tmp_path / "out")
    assert set(outcomes.values()) == {"Passed"}


@pytest.mark.parametrize(
    ("damaged", "caught"),
    [
        # A column emptied.
        (SMALL.replace(",Ann\n", ",\n").replace(",Bo\n", ",\n").replace(",Cy\n", ",\n"),
         ['Completeness "name" >= 0.75']),
        # A value out of range.
        (SMALL.replace("8.25", "12.5"), ['ColumnValues "rating" between 7.49 and 9.01']),
        # A duplicated key (row 4 carries id 2 again).
        (SMALL.replace("4,8,B,Cy", "2,8,B,Cy"), ['IsUnique "id"']),
        # A value outside the set.
        (SMALL.replace("3,9,A,", "3,9,C,"), ['ColumnValues "grade" in ["A", "B"]']),
    ],
)  # fmt: skip
def test_the_recommendation_catches_obvious_damage(
    damaged: str, caught: list[str], tmp_path: Path
) -> None:
    rules = recommend(profile_duckdb(_write(tmp_path, "small.csv", SMALL)))
    outcomes = _outcomes(rules, _write(tmp_path, "damaged.csv", damaged), tmp_path / "out")
    assert [rule for rule, outcome in outcomes.items() if outcome == "Failed"] == caught


def test_cli_writes_the_ruleset_and_check_passes_on_it(tmp_path: Path, capsys) -> None:
    data = _write(tmp_path, "small.csv", SMALL)
    out = tmp_path / "rules.dqdl"
    assert main(["recommend", "--data", str(data), "--out", str(out)]) == 0
    assert f"Wrote {out}: 14 rules from 4 rows" in capsys.readouterr().out
    assert (
        main(["check", "--rules", str(out), "--data", str(data), "--out", str(tmp_path / "o")]) == 0
    )


def test_cli_without_out_prints_the_ruleset_and_names_an_unreadable_file(tmp_path: Path) -> None:
    data = _write(tmp_path, "small.csv", SMALL)
    done = subprocess.run(
        [sys.executable, "-m", "quality_movies.dq.cli", "recommend", "--data", str(data)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and 'IsUnique "id"' in done.stdout
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "quality_movies.dq.cli",
            "recommend",
            "--data",
            str(tmp_path / "no"),
        ],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "no such data file" in missing.stderr
    header_only = _write(tmp_path, "header.csv", "id,name\n")
    empty = subprocess.run(
        [sys.executable, "-m", "quality_movies.dq.cli", "recommend", "--data", str(header_only)],
        capture_output=True,
        text=True,
    )
    assert empty.returncode == 2 and "no rows to recommend rules from" in empty.stderr


@pytest.mark.aws_parser
def test_aws_parser_accepts_what_recommend_writes(tmp_path: Path) -> None:
    script = aws_oracle.oracle()
    if script is None:
        pytest.skip("AWS's DQDL parser (../shared/tools/aws-dqdl/run.sh) or Java is missing")
    texts = [recommend(profile_duckdb(_write(tmp_path, "small.csv", SMALL)))]
    if SEED_CSV.is_file():
        texts.append(recommend(profile_duckdb(SEED_CSV)))
    for text, theirs in zip(texts, aws_oracle.aws_verdicts(texts, script), strict=True):
        assert theirs.ok and theirs.rules == len(parse_ruleset(text).rules), theirs


@pytest.mark.spark
def test_spark_profiles_as_duckdb_does(tmp_path: Path, spark) -> None:
    from quality_movies.dq.recommend import profile_spark

    data = _write(tmp_path, "small.csv", SMALL)
    assert recommend(profile_spark(spark, data)) == recommend(profile_duckdb(data))


def test_seed_file_recommendation_passes_on_the_seed_file(tmp_path: Path) -> None:
    if not SEED_CSV.is_file():
        pytest.skip(f"seed data not found at {SEED_CSV}")
    data = tmp_path / "seed.csv"
    shutil.copy(SEED_CSV, data)
    outcomes = _outcomes(recommend(profile_duckdb(data)), data, tmp_path / "out")
    assert set(outcomes.values()) == {"Passed"}
