"""Hand-written references the DQ engine is measured against, on the same file and rules.

(a) DuckDB merely reading the file, (b) hand-written DuckDB SQL, (c) pandas + pandera, (d) plain
PySpark. (b)-(d) write the same outputs as the engine: good_records and bad_records as JSON lines
with Glue's row-level columns (DataQualityRulesPass/Fail/Skip, DataQualityEvaluationResult), and
rule_outcomes.jsonl. The rules are written out by hand for each tool, as a user would.
"""

import json
from pathlib import Path
from typing import Any

SEED_RULE = 'ColumnValues "imdb_rating" between 8.5 and 10.3'
CERTIFICATES = ["U", "A", "UA", "R", "PG-13", "PG", "G", "Passed", "Approved"]

# Row-level rules as (DQDL text, DuckDB SQL predicate that is never NULL), per ruleset.
ROW_RULES_SQL: dict[str, list[tuple[str, str]]] = {
    "seed": [
        (
            SEED_RULE,
            "COALESCE(TRY_CAST(imdb_rating AS DOUBLE) > 8.5 "
            "AND TRY_CAST(imdb_rating AS DOUBLE) < 10.3, FALSE)",
        )
    ],
    "ten": [
        (
            SEED_RULE,
            "COALESCE(TRY_CAST(imdb_rating AS DOUBLE) > 8.5 "
            "AND TRY_CAST(imdb_rating AS DOUBLE) < 10.3, FALSE)",
        ),
        (
            'ColumnValues "no_of_votes" >= 100000',
            "COALESCE(TRY_CAST(no_of_votes AS DOUBLE) >= 100000, FALSE)",
        ),
        (
            'ColumnValues "meta_score" between 0 and 101',
            "COALESCE(TRY_CAST(meta_score AS DOUBLE) > 0 "
            "AND TRY_CAST(meta_score AS DOUBLE) < 101, FALSE)",
        ),
        ('IsComplete "series_title"', "series_title IS NOT NULL"),
        ('IsComplete "director"', "director IS NOT NULL"),
        ('ColumnLength "series_title" <= 30', "COALESCE(length(series_title), 0) <= 30"),
        (
            'ColumnValues "runtime" matches "[0-9]+ min"',
            "COALESCE(regexp_full_match(runtime, '[0-9]+ min'), FALSE)",
        ),
        (
            'ColumnValues "certificate" in ["U", "A", "UA", "R", "PG-13", "PG", "G", "Passed", '
            '"Approved"]',
            "COALESCE(certificate IN ("
            + ", ".join(f"'{value}'" for value in CERTIFICATES)
            + "), FALSE)",
        ),
    ],
}
MEAN_RULE = 'Mean "imdb_rating" between 7.0 and 9.5 where "released_year > 2000"'
CUSTOM_SQL_RULE = 'CustomSql "select count(*) from primary where no_of_votes > 1000000" > 0'
DATASET_RULES: dict[str, list[str]] = {
    "seed": [],
    "ten": ["RowCount > 0", MEAN_RULE, CUSTOM_SQL_RULE],
}
# The dataset rules' values in DuckDB SQL: the mean rating of rows after 2000 ("PG" is no year) and
# the count of rows with more than a million votes.
DATASET_SQL = (
    "avg(TRY_CAST(imdb_rating AS DOUBLE)) FILTER (WHERE TRY_CAST(released_year AS DOUBLE) > 2000), "
    "count_if(TRY_CAST(no_of_votes AS BIGINT) > 1000000)"
)


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _write_outcomes(out_dir: Path, outcomes: list[dict[str, Any]]) -> None:
    with (out_dir / "rule_outcomes.jsonl").open("w", encoding="utf-8") as handle:
        for outcome in outcomes:
            handle.write(json.dumps(outcome) + "\n")


def _outcome(rule: str, passed: bool, metrics: dict[str, float]) -> dict[str, Any]:
    return {
        "Rule": rule,
        "Outcome": "Passed" if passed else "Failed",
        "FailureReason": None if passed else "Hand-written reference: rule not met.",
        "EvaluatedMetrics": metrics,
        "EvaluatedRule": rule,
    }


def duckdb_read_only(data_path: Path, temp_directory: Path | None = None) -> dict[str, int]:
    """(a) The floor: DuckDB parses every column of the CSV and does nothing else."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    if temp_directory:
        con.execute(f"SET temp_directory = {_sql_text(str(temp_directory))}")
    columns = [row[0] for row in con.execute(_describe(data_path)).fetchall()]
    counts = ", ".join(f'count("{column}")' for column in columns)
    rows = con.execute(
        f"SELECT count(*), {counts} FROM read_csv({_sql_text(str(data_path))}, all_varchar = true)"
    ).fetchone()
    return {"rows_read": rows[0], "good_rows": -1, "bad_rows": -1}


def _describe(data_path: Path) -> str:
    return f"DESCRIBE SELECT * FROM read_csv({_sql_text(str(data_path))}, all_varchar = true)"


def duckdb_sql(
    data_path: Path, out_dir: Path, ruleset: str, temp_directory: Path | None = None
) -> dict[str, int]:
    """(b) One hand-written annotated SELECT, COPYed once for good and once for bad rows.

    A single ``COPY ... PARTITION_BY (DataQualityEvaluationResult)`` writes both files in one scan
    but was 2-4x slower in DuckDB 2.0 than two filtered COPYs, so the faster form is the reference.
    Rule metrics need one aggregate scan when there is more than the one rule.
    """
    import duckdb

    rules = ROW_RULES_SQL[ruleset]
    skipped = DATASET_RULES[ruleset]
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = false")
    if temp_directory:
        con.execute(f"SET temp_directory = {_sql_text(str(temp_directory))}")
    source = f"read_csv({_sql_text(str(data_path))}, all_varchar = true)"
    flags = ", ".join(f"{predicate} AS __p{i}" for i, (_, predicate) in enumerate(rules))
    passed = ", ".join(
        f"CASE WHEN __p{i} THEN {_sql_text(t)} END" for i, (t, _) in enumerate(rules)
    )
    failed = ", ".join(
        f"CASE WHEN NOT __p{i} THEN {_sql_text(t)} END" for i, (t, _) in enumerate(rules)
    )
    skip = (
        "[" + ", ".join(_sql_text(text) for text in skipped) + "]"
        if skipped
        else "CAST([] AS VARCHAR[])"
    )
    all_pass = " AND ".join(f"__p{i}" for i in range(len(rules)))
    exclude = ", ".join(f"__p{i}" for i in range(len(rules)))
    annotated = f"""
        SELECT * EXCLUDE ({exclude}),
            list_filter([{passed}], lambda x: x IS NOT NULL) AS DataQualityRulesPass,
            list_filter([{failed}], lambda x: x IS NOT NULL) AS DataQualityRulesFail,
            {skip} AS DataQualityRulesSkip,
            CASE WHEN {all_pass} THEN 'Passed' ELSE 'Failed' END AS DataQualityEvaluationResult
        FROM (SELECT *, {flags} FROM {source})
    """
    written = {}
    for result, name in (("Passed", "good_records.jsonl"), ("Failed", "bad_records.jsonl")):
        target = _sql_text(str(out_dir / name))
        written[result] = con.execute(
            f"COPY (SELECT * FROM ({annotated}) WHERE DataQualityEvaluationResult = '{result}') "
            f"TO {target} (FORMAT json)"
        ).fetchone()[0]
    good, total = written["Passed"], written["Passed"] + written["Failed"]
    if len(rules) == 1 and not skipped:
        compliant_counts, mean_rating, many_votes = [good], None, None
    else:
        compliant = ", ".join(f"count_if({predicate})" for _, predicate in rules)
        *compliant_counts, mean_rating, many_votes = con.execute(
            f"SELECT {compliant}, {DATASET_SQL} FROM {source}"
        ).fetchone()
    outcomes = [
        _outcome(text, count == total, {"ColumnValues.Compliance": count / total if total else 1.0})
        for (text, _), count in zip(rules, compliant_counts, strict=True)
    ]
    outcomes += _dataset_outcomes(ruleset, total, mean_rating, many_votes)
    _write_outcomes(out_dir, outcomes)
    return {"rows_read": total, "good_rows": good, "bad_rows": total - good}


def _dataset_outcomes(
    ruleset: str, total: int, mean_rating: float | None, many_votes: int | None
) -> list[dict[str, Any]]:
    if ruleset != "ten":
        return []
    rating = mean_rating if mean_rating is not None else float("nan")
    return [
        _outcome("RowCount > 0", total > 0, {"Dataset.*.RowCount": float(total)}),
        _outcome(MEAN_RULE, 7.0 < rating < 9.5, {"Column.imdb_rating.Mean": rating}),
        _outcome(
            CUSTOM_SQL_RULE, (many_votes or 0) > 0, {"Dataset.*.CustomSQL": float(many_votes or 0)}
        ),
    ]


def pandas_pandera(data_path: Path, out_dir: Path, ruleset: str) -> dict[str, int]:
    """(c) What a user writes by hand: read with pandas, validate lazily with pandera, split."""
    import pandas as pd
    import pandera.pandas as pa

    frame = pd.read_csv(data_path)
    frame.columns = [column.lower() for column in frame.columns]
    rating_check = pa.Check.in_range(8.5, 10.3, include_min=False, include_max=False)
    if ruleset == "seed":
        schema = pa.DataFrameSchema({"imdb_rating": pa.Column(float, rating_check)})
    else:
        schema = pa.DataFrameSchema(
            {
                "imdb_rating": pa.Column(
                    float,
                    [
                        rating_check,
                    ],
                ),
                "no_of_votes": pa.Column(int, pa.Check.ge(100000)),
                "meta_score": pa.Column(
                    float, pa.Check.in_range(0, 101, include_min=False, include_max=False)
                ),
                "series_title": pa.Column(str, pa.Check.str_length(max_value=30)),
                "director": pa.Column(str),
                "runtime": pa.Column(str, pa.Check.str_matches(r"^[0-9]+ min$")),
                "certificate": pa.Column(str, pa.Check.isin(CERTIFICATES)),
            },
            checks=[
                pa.Check(lambda df: len(df) > 0, name="row_count_above_0"),
                pa.Check(
                    lambda df: (
                        7.0
                        < df["imdb_rating"][
                            pd.to_numeric(df["released_year"], errors="coerce") > 2000
                        ].mean()
                        < 9.5
                    ),
                    name="mean_after_2000_between_7_and_9.5",
                ),
                pa.Check(
                    lambda df: (df["no_of_votes"] > 1000000).sum() > 0,
                    name="more_than_a_million_votes",
                ),
            ],
        )
    try:
        schema.validate(frame, lazy=True)
        failures = pd.DataFrame(columns=["column", "check", "index"])
    except pa.errors.SchemaErrors as errors:
        failures = errors.failure_cases
    row_failures = failures[failures["index"].notna()]
    failed_checks = (
        (row_failures["column"].astype(str) + ": " + row_failures["check"].astype(str))
        .groupby(row_failures["index"].astype("int64"))
        .agg(list)
    )
    is_bad = frame.index.isin(failed_checks.index)
    good = frame[~is_bad]
    bad = frame[is_bad].assign(DataQualityRulesFail=failed_checks)
    good.to_json(out_dir / "good_records.jsonl", orient="records", lines=True)
    bad.to_json(out_dir / "bad_records.jsonl", orient="records", lines=True)
    checks = failures[["column", "check"]].drop_duplicates().astype(str)
    _write_outcomes(
        out_dir,
        [
            _outcome(f"{c}: {k}", False, {})
            for c, k in zip(checks["column"], checks["check"], strict=True)
        ],
    )
    return {"rows_read": len(frame), "good_rows": len(good), "bad_rows": len(bad)}


def spark_session(driver_memory: str = "2g"):
    """The local SparkSession both the PySpark reference and the engine's Spark backend get."""
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[*]")
        .appName("quality-movies-benchmark")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def pyspark_split(spark, data_path: Path, out_dir: Path, ruleset: str) -> dict[str, int]:
    """(d) Plain PySpark: the rules as Column expressions, one partitioned write, one aggregate."""
    from pyspark.sql import functions as F

    frame = spark.read.option("header", True).option("escape", '"').csv(str(data_path))
    rating = F.col("imdb_rating").try_cast("double")
    rules = [(SEED_RULE, F.coalesce((rating > 8.5) & (rating < 10.3), F.lit(False)))]
    if ruleset == "ten":
        votes = F.col("no_of_votes").try_cast("double")
        meta = F.col("meta_score").try_cast("double")
        rules += [
            ('ColumnValues "no_of_votes" >= 100000', F.coalesce(votes >= 100000, F.lit(False))),
            (
                'ColumnValues "meta_score" between 0 and 101',
                F.coalesce((meta > 0) & (meta < 101), F.lit(False)),
            ),
            ('IsComplete "series_title"', F.col("series_title").isNotNull()),
            ('IsComplete "director"', F.col("director").isNotNull()),
            (
                'ColumnLength "series_title" <= 30',
                F.coalesce(F.length("series_title"), F.lit(0)) <= 30,
            ),
            (
                'ColumnValues "runtime" matches "[0-9]+ min"',
                F.coalesce(F.col("runtime").rlike("^[0-9]+ min$"), F.lit(False)),
            ),
            (
                ROW_RULES_SQL["ten"][7][0],
                F.coalesce(F.col("certificate").isin(CERTIFICATES), F.lit(False)),
            ),
        ]
    flagged = frame.select(
        "*", *[predicate.alias(f"__p{i}") for i, (_, predicate) in enumerate(rules)]
    )
    flags = [F.col(f"__p{i}") for i in range(len(rules))]
    all_pass = flags[0]
    for flag in flags[1:]:
        all_pass = all_pass & flag
    skipped = DATASET_RULES[ruleset]
    annotated = flagged.select(
        *frame.columns,
        F.filter(
            F.array(*[F.when(f, F.lit(t)) for f, (t, _) in zip(flags, rules, strict=True)]),
            lambda x: x.isNotNull(),
        ).alias("DataQualityRulesPass"),
        F.filter(
            F.array(*[F.when(~f, F.lit(t)) for f, (t, _) in zip(flags, rules, strict=True)]),
            lambda x: x.isNotNull(),
        ).alias("DataQualityRulesFail"),
        F.array(*[F.lit(text) for text in skipped])
        .cast("array<string>")
        .alias("DataQualityRulesSkip"),
        F.when(all_pass, "Passed").otherwise("Failed").alias("DataQualityEvaluationResult"),
    )
    annotated.write.mode("overwrite").partitionBy("DataQualityEvaluationResult").json(
        str(out_dir / "split")
    )
    row = flagged.select(
        F.count(F.lit(1)),
        F.count_if(all_pass),
        *[F.count_if(flag) for flag in flags],
        F.avg(F.when(F.col("released_year").try_cast("double") > 2000, rating)),
        F.count_if(F.col("no_of_votes").try_cast("bigint") > 1000000),
    ).first()
    total, good, *compliant_counts, mean_rating, many_votes = row
    outcomes = [
        _outcome(text, count == total, {"ColumnValues.Compliance": count / total if total else 1.0})
        for (text, _), count in zip(rules, compliant_counts, strict=True)
    ]
    outcomes += _dataset_outcomes(ruleset, total, mean_rating, many_votes)
    _write_outcomes(out_dir, outcomes)
    return {"rows_read": total, "good_rows": good, "bad_rows": total - good}
