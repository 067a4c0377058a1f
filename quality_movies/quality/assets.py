"""The quality gate: validated movies, bad records and rule outcomes from one run of the ruleset."""

import json
from collections.abc import Iterator

import dagster as dg
import pandas as pd
from dagster_pandera import pandera_schema_to_dagster_type

from quality_movies.ingestion.assets import markdown_table, movies_catalog_table
from quality_movies.ingestion.resources import Lake
from quality_movies.partitions import movie_files
from quality_movies.quality.checks import (
    conservation_check_result,
    conservation_check_spec,
    rule_check_results,
    rule_check_specs,
)
from quality_movies.quality.resources import QualityJobRunner
from quality_movies.warehouse.contract import WAREHOUSE_COLUMNS, validated_movies_schema

ValidatedMovies = pandera_schema_to_dagster_type(validated_movies_schema())

_PANDAS_TYPES = {"string": "string", "double": "float64", "long": "Int64"}

VALIDATED_COLUMN_SCHEMA = dg.TableSchema(
    columns=[dg.TableColumn(name, t) for name, t in WAREHOUSE_COLUMNS]
    + [dg.TableColumn("source_file", "string")]
)
ROW_LEVEL_COLUMNS = [
    "DataQualityRulesPass",
    "DataQualityRulesFail",
    "DataQualityRulesSkip",
    "DataQualityEvaluationResult",
]


def read_validated_movies(lake: Lake, source_file: str) -> pd.DataFrame:
    """The validated Parquet of one file as a frame with the contract's pandas types."""
    with lake.local_copy(lake.validated_key(source_file)) as path:
        frame = pd.read_parquet(path)
    for name, glue_type in WAREHOUSE_COLUMNS:
        if glue_type == "string":
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
        else:
            frame[name] = frame[name].astype(_PANDAS_TYPES[glue_type])
    return frame


def rule_outcomes_table(rule_outcomes: list[dict]) -> dg.TableMetadataValue:
    """Rule outcomes as a table for the UI."""
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord(
                {
                    "rule": o["Rule"],
                    "outcome": o["Outcome"],
                    "failure_reason": o.get("FailureReason") or "",
                    "metrics": json.dumps(o.get("EvaluatedMetrics") or {}, sort_keys=True),
                }
            )
            for o in rule_outcomes
        ],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("rule", "string"),
                dg.TableColumn("outcome", "string"),
                dg.TableColumn("failure_reason", "string"),
                dg.TableColumn("metrics", "string"),
            ]
        ),
    )


def build_quality_gate(rule_texts: list[str]) -> dg.AssetsDefinition:
    """The quality stage with one asset check per rule of the ruleset in force."""

    @dg.multi_asset(
        name="quality_gate",
        partitions_def=movie_files,
        group_name="quality",
        deps=[movies_catalog_table],
        outs={
            "validated_movies": dg.AssetOut(
                dagster_type=ValidatedMovies,
                description="Good rows of the file, mapped to the warehouse types (pandera contract).",
                metadata={"dagster/column_schema": VALIDATED_COLUMN_SCHEMA},
            ),
            "bad_records": dg.AssetOut(
                dagster_type=dg.Nothing,
                description="Rows that failed a rule, with Glue's row-level outcome columns (JSON Lines).",
            ),
            "rule_outcomes": dg.AssetOut(
                dagster_type=dg.Nothing,
                description="Glue-shaped outcome of each rule for the file (JSON Lines).",
            ),
        },
        check_specs=[*rule_check_specs(rule_texts), conservation_check_spec],
    )
    def quality_gate(
        context: dg.AssetExecutionContext, lake: Lake, quality_job: QualityJobRunner
    ) -> Iterator:
        """Run the DQDL ruleset over the file: bad rows and rule outcomes to the lake, good rows on."""
        source_file = context.partition_key
        result = quality_job.run(context, lake, source_file)
        validated = read_validated_movies(lake, source_file)
        preview = validated.head(5).astype(object).where(validated.head(5).notna(), "")
        yield dg.Output(
            validated,
            output_name="validated_movies",
            metadata={
                "dagster/row_count": len(validated),
                "rows_read": result.rows_read,
                "good_rows": result.good_rows,
                "bad_rows": result.bad_rows,
                "engine": result.engine,
                "uri": dg.MetadataValue.path(lake.uri(result.validated_key)),
                "preview": dg.MetadataValue.md(
                    markdown_table(list(preview.columns), preview.values.tolist())
                ),
            },
        )
        yield dg.Output(
            None,
            output_name="bad_records",
            metadata={
                "dagster/row_count": result.bad_rows,
                "uri": dg.MetadataValue.path(lake.uri(result.bad_records_key)),
                "row_level_columns": ", ".join(ROW_LEVEL_COLUMNS),
            },
        )
        yield dg.Output(
            None,
            output_name="rule_outcomes",
            metadata={
                "uri": dg.MetadataValue.path(lake.uri(result.rule_outcomes_key)),
                "rules": len(result.rule_outcomes),
                "rules_failed": sum(o["Outcome"] != "Passed" for o in result.rule_outcomes),
                "rule_outcomes": rule_outcomes_table(result.rule_outcomes),
                "rule_outcomes_json": dg.MetadataValue.json(result.rule_outcomes),
            },
        )
        yield from rule_check_results(rule_texts, result.rule_outcomes)
        yield conservation_check_result(result.rows_read, len(validated), result.bad_rows)

    return quality_gate
