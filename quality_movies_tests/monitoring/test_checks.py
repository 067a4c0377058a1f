"""Per-file rule checks: names that survive ruleset edits, results per partition."""

import re

import dagster as dg
import pytest

from quality_movies.dq.check_names import (
    CONSERVATION_CHECK,
    MAX_CHECK_NAME_LENGTH,
    rule_check_names,
)
from quality_movies.dq.parser import parse_ruleset
from quality_movies.quality.checks import (
    VALIDATED_MOVIES,
    conservation_check_result,
    conservation_check_spec,
    rule_check_results,
    rule_check_specs,
    rule_metrics_metadata,
)

SEED = 'ColumnValues "imdb_rating" between 8.5 and 10.3'
DYNAMIC = "RowCount > avg(last(3)) * 0.5"
ANOMALY = 'DetectAnomalies "RowCount"'


def names_by_text(rules):
    texts = [r if isinstance(r, str) else r.text for r in rules]
    return dict(zip(texts, rule_check_names(rules), strict=True))


def test_names_come_from_the_rule_text():
    assert rule_check_names([SEED, "RowCount > 0", DYNAMIC, ANOMALY]) == [
        "columnvalues_imdb_rating_between_8_5_and_10_3",
        "rowcount_gt_0",
        "rowcount_gt_avg_last_3_times_0_5",
        "detectanomalies_rowcount",
    ]


def test_names_survive_insertion_removal_and_reordering():
    before = names_by_text([SEED, 'IsComplete "series_title"', "RowCount > 0"])
    after = names_by_text(["RowCount > 0", DYNAMIC, SEED, ANOMALY])
    assert after[SEED] == before[SEED]
    assert after["RowCount > 0"] == before["RowCount > 0"]


def test_a_check_label_names_the_check():
    ruleset = parse_ruleset(
        f'Rules = [\n  {SEED} labels = ["check" = "rating range"],\n  IsComplete "series_title"\n]'
    )
    assert rule_check_names(ruleset.rules) == ["rating_range", "iscomplete_series_title"]


def test_colliding_names_get_a_digest_of_their_text_in_any_order():
    # "RowCount > 0" and "RowCount>0" differ in text but not in words
    one = names_by_text(["RowCount > 0", "RowCount>0", "RowCount >= 0"])
    other = names_by_text(["RowCount >= 0", "RowCount>0", "RowCount > 0"])
    assert one == other
    assert one["RowCount >= 0"] == "rowcount_ge_0"
    assert re.fullmatch(r"rowcount_gt_0_[0-9a-f]{6}", one["RowCount > 0"])
    assert one["RowCount > 0"] != one["RowCount>0"]


def test_a_rule_written_twice_gets_a_counter_on_its_second_copy():
    assert rule_check_names(["RowCount > 0", "RowCount > 0"]) == [
        "rowcount_gt_0",
        "rowcount_gt_0_2",
    ]


def test_names_follow_dagster_rules():
    long_rule = 'ColumnValues "a_very_long_column_name_for_testing" in ' + str(
        [f"value_{i}" for i in range(30)]
    )
    names = rule_check_names(
        [long_rule, 'CustomSql "select 1"', '"__"', "rows_conserved", 'ColumnExists "class"']
    )
    assert len(set(names)) == 5
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9_]+", name) and len(name) <= MAX_CHECK_NAME_LENGTH
    assert CONSERVATION_CHECK not in names
    specs = rule_check_specs([long_rule, 'ColumnExists "class"'])

    @dg.multi_asset(specs=[dg.AssetSpec(VALIDATED_MOVIES)], check_specs=specs)
    def gate():
        """Dagster validates the check names when the definitions resolve."""

    dg.Definitions(assets=[gate]).resolve_asset_graph()


def test_results_carry_partition_and_float_metrics():
    outcomes = [
        {
            "Rule": SEED,
            "Outcome": "Failed",
            "FailureReason": "Value: 8.3 does not meet the constraint requirement!",
            "EvaluatedMetrics": {"Column.imdb_rating.ColumnValues.Compliance": 0.75},
        },
        {
            "Rule": "RowCount > 0",
            "Outcome": "Passed",
            "EvaluatedMetrics": {"Dataset.*.RowCount": 4},
        },
    ]
    rules = [SEED, "RowCount > 0", ANOMALY]
    seed, count, missing = rule_check_results(rules, outcomes, partition="movies_2.csv")
    assert isinstance(seed, dg.AssetCheckEvaluation) and seed.partition == "movies_2.csv"
    assert seed.check_name == "columnvalues_imdb_rating_between_8_5_and_10_3"
    assert not seed.passed and seed.severity == dg.AssetCheckSeverity.WARN
    assert seed.metadata["Column.imdb_rating.ColumnValues.Compliance"] == dg.FloatMetadataValue(
        0.75
    )
    assert count.passed and count.metadata["Dataset.*.RowCount"] == dg.FloatMetadataValue(4.0)
    assert not missing.passed and missing.severity == dg.AssetCheckSeverity.ERROR
    conserved = conservation_check_result(4, 3, 1, partition="movies_2.csv")
    assert conserved.passed and conserved.blocking and conserved.partition == "movies_2.csv"
    assert not conservation_check_result(4, 3, 0, partition="movies_2.csv").passed


@pytest.mark.filterwarnings("ignore::dagster.PreviewWarning")
def test_a_run_over_several_files_records_each_files_own_results():
    rules = ["RowCount > 0", SEED]
    files = dg.DynamicPartitionsDefinition(name="movie_files")
    rows = {"a.csv": 3, "b.csv": 0}

    @dg.multi_asset(
        specs=[dg.AssetSpec(VALIDATED_MOVIES)],
        partitions_def=files,
        check_specs=[*rule_check_specs(rules), conservation_check_spec],
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True,
    )
    def gate(context: dg.AssetExecutionContext):
        for source in context.partition_keys:
            yield dg.AssetMaterialization(VALIDATED_MOVIES, partition=source)
            outcomes = [
                {
                    "Rule": "RowCount > 0",
                    "Outcome": "Passed" if rows[source] else "Failed",
                    "EvaluatedMetrics": {"Dataset.*.RowCount": rows[source]},
                },
                {"Rule": SEED, "Outcome": "Passed", "EvaluatedMetrics": {}},
            ]
            yield from rule_check_results(rules, outcomes, partition=source)
            yield conservation_check_result(rows[source], rows[source], 0, partition=source)

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("movie_files", ["a.csv", "b.csv"])
    job = dg.Definitions(assets=[gate], jobs=[dg.define_asset_job("gate_job")]).resolve_job_def(
        "gate_job"
    )
    result = job.execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": "a.csv",
            "dagster/asset_partition_range_end": "b.csv",
        },
    )
    got = {(e.partition, e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert got == {
        ("a.csv", "rowcount_gt_0"): True,
        ("b.csv", "rowcount_gt_0"): False,
        ("a.csv", "columnvalues_imdb_rating_between_8_5_and_10_3"): True,
        ("b.csv", "columnvalues_imdb_rating_between_8_5_and_10_3"): True,
        ("a.csv", "rows_conserved"): True,
        ("b.csv", "rows_conserved"): True,
    }


def test_materialization_metadata_has_each_metric_once():
    outcomes = [
        {
            "Rule": "RowCount > 0",
            "Outcome": "Passed",
            "EvaluatedMetrics": {"Dataset.*.RowCount": 300},
        },
        {"Rule": ANOMALY, "Outcome": "Failed", "EvaluatedMetrics": {"Dataset.*.RowCount": 300}},
        {
            "Rule": SEED,
            "Outcome": "Passed",
            "EvaluatedMetrics": {"Column.imdb_rating.ColumnValues.Compliance": 1},
        },
    ]
    assert rule_metrics_metadata(outcomes) == {
        "Dataset.*.RowCount": 300.0,
        "Column.imdb_rating.ColumnValues.Compliance": 1.0,
    }
