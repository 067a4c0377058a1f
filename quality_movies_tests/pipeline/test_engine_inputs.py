"""Rules against other data, file rules and catalog types inside the embedded pipeline: a reference CSV
under the lake's reference_data/, the warehouse table (rows of the other files), the input files under
input_data/, and an unknown name stopping the file with the names available. Expectations are counted
from the CSV files with Python's csv module."""

import csv
import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from quality_movies.definitions import build_definitions
from quality_movies.environment import Environment
from quality_movies.jobs import INGEST_JOB
from quality_movies.partitions import movie_files
from quality_movies.pipeline_runs import range_tags
from quality_movies.quality.engine_inputs import LakeFiles, catalog_column_types
from quality_movies.sample import write_sample

ALLOWED = ["PG-13", "R", "PG", "G"]
INPUTS = "s3://quality-movie-bucket/input_data/"
CERTIFICATES = 'ReferentialIntegrity "certificate" "certificates.{certificate}" >= 0.1'
NOT_LOADED = 'ReferentialIntegrity "series_title" "imdb_movies_rating.{series_title}" = 0'
ALL_UNIQUE = f'FileUniqueness "{INPUTS}" = 1.0'
SMALL = "FileSize < 1 MB"
RULESET = f"""Rules = [
    ColumnValues "imdb_rating" between 8.5 and 10.3,
    {CERTIFICATES},
    {NOT_LOADED},
    {ALL_UNIQUE},
    {SMALL}
]
"""


def deployment(tmp_path: Path, ruleset_text: str):
    ruleset = tmp_path / "rules.dqdl"
    ruleset.write_text(ruleset_text, encoding="utf-8")
    env = Environment.from_env(
        {"QUALITY_MOVIES_HOME": str(tmp_path / "home"), "QUALITY_MOVIES_RULESET": str(ruleset)}
    )
    return env, build_definitions(env)


def run_file(env, defs, instance, source_file: str) -> dg.ExecuteInProcessResult:
    if not instance.has_dynamic_partition(movie_files.name, source_file):
        instance.add_dynamic_partitions(movie_files.name, [source_file])
    return defs.resolve_job_def(INGEST_JOB).execute_in_process(
        partition_key=source_file, instance=instance, raise_on_error=False
    )


def outcomes(lake, source_file: str) -> dict[str, dict]:
    text = Path(lake.uri(lake.rule_outcomes_key(source_file))).read_text(encoding="utf-8")
    return {o["Rule"]: o for o in map(json.loads, text.splitlines())}


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_references_file_rules_and_the_warehouse_table(tmp_path):
    env, defs = deployment(tmp_path, RULESET)
    lake, warehouse = env.resources()["lake"], env.resources()["warehouse"]
    reference = tmp_path / "certificates.csv"
    reference.write_text("certificate,meaning\n" + "".join(f"{c},x\n" for c in ALLOWED))
    lake.upload(reference, "reference_data/certificates/certificates.csv")

    first = write_sample(tmp_path / "a.csv", rows=120, seed=3, title_suffix=" (a)").path
    lake.upload(first, lake.input_key("a.csv"))
    with dg.DagsterInstance.ephemeral() as instance:
        assert run_file(env, defs, instance, "a.csv").success
        got = outcomes(lake, "a.csv")
        loaded = set(warehouse.fetch_movies("a.csv")["series_title"])
        # run again: its own rows in the warehouse are not "another file's"
        assert run_file(env, defs, instance, "a.csv").success
        got_a_again = outcomes(lake, "a.csv")

        # b.csv: its own movies plus three that a.csv already loaded
        second = write_sample(tmp_path / "b.csv", rows=60, seed=4, title_suffix=" (b)").path
        a_rows = rows(first)
        again = [r for r in a_rows if r["Series_Title"] in loaded][:3]
        assert len(again) == 3
        with second.open("a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, list(a_rows[0]), lineterminator="\n").writerows(again)
        lake.upload(second, lake.input_key("b.csv"))
        assert run_file(env, defs, instance, "b.csv").success
        got_b = outcomes(lake, "b.csv")

        shutil.copyfile(first, tmp_path / "c.csv")  # same bytes as a.csv
        lake.upload(tmp_path / "c.csv", lake.input_key("c.csv"))
        assert run_file(env, defs, instance, "c.csv").success
        got_c = outcomes(lake, "c.csv")

    certificates = [r["Certificate"] for r in a_rows]
    share = sum(c in ALLOWED for c in certificates) / len(certificates)  # empty: not found
    assert got[CERTIFICATES]["EvaluatedMetrics"]["Column.certificates.ReferentialIntegrity"] == (
        pytest.approx(share, abs=1e-4)
    )
    assert got[CERTIFICATES]["Outcome"] == ("Passed" if share >= 0.1 else "Failed")

    assert got[NOT_LOADED]["Outcome"] == "Passed"  # nothing loaded before a.csv
    b_rows = rows(second)
    assert got_b[NOT_LOADED]["Outcome"] == "Failed"
    assert got_b[NOT_LOADED]["EvaluatedMetrics"][
        "Column.imdb_movies_rating.ReferentialIntegrity"
    ] == pytest.approx(3 / len(b_rows), abs=1e-4)
    assert got_a_again[NOT_LOADED]["Outcome"] == "Passed"

    assert got[SMALL]["Outcome"] == "Passed"
    assert got[SMALL]["EvaluatedMetrics"]["Dataset.*.MaximumFileSize"] == first.stat().st_size
    assert got[ALL_UNIQUE]["Outcome"] == "Passed"
    assert got[ALL_UNIQUE]["EvaluatedMetrics"]["Dataset.*.FileCount"] == 1
    assert got_b[ALL_UNIQUE]["EvaluatedMetrics"]["Dataset.*.FileCount"] == 2
    assert got_b[ALL_UNIQUE]["Outcome"] == "Passed"
    # a.csv and c.csv have the same bytes: only b.csv of the three is unique
    assert got_c[ALL_UNIQUE]["Outcome"] == "Failed"
    assert got_c[ALL_UNIQUE]["EvaluatedMetrics"]["Dataset.*.FileUniquenessRatio"] == (
        pytest.approx(1 / 3, abs=1e-4)
    )


def test_an_unknown_dataset_name_fails_the_file_with_the_names_available(tmp_path):
    env, defs = deployment(tmp_path, 'Rules = [ RowCountMatch "ratings" >= 0.9 ]\n')
    lake = env.resources()["lake"]
    lake.upload(tmp_path / "rules.dqdl", "reference_data/certificates/certificates.csv")
    sample = write_sample(tmp_path / "a.csv", rows=20, seed=5).path
    lake.upload(sample, lake.input_key("a.csv"))
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_file(env, defs, instance, "a.csv")
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "a.csv" in message and "'ratings'" in message
    assert "certificates, imdb_movies_rating, movies.imdb_movies_rating" in message
    assert "quality-movie-bucket/reference_data/<name>/" in message
    assert not Path(lake.uri(lake.rule_outcomes_key("a.csv"))).exists()


def test_lake_files_name_objects_as_s3_or_the_lake_does(tmp_path):
    env, _ = deployment(tmp_path, "Rules = [ RowCount > 0 ]\n")
    lake = env.resources()["lake"]
    (tmp_path / "x.csv").write_text("a\n1\n")
    (tmp_path / "y.csv").write_text("a\n22\n")
    lake.upload(tmp_path / "x.csv", lake.input_key("x.csv"))
    lake.upload(tmp_path / "y.csv", lake.input_key("nested/y.csv"))
    files = LakeFiles(lake, lake.input_key("x.csv"))
    assert files.current().uri == lake.uri(lake.input_key("x.csv"))
    assert files.current().size == 4
    listed = files.list(INPUTS)
    assert [f.size for f in listed] == [5, 4]  # sorted by key: input_data/nested/y.csv first
    assert [f.uri for f in files.list(lake.uri(lake.input_prefix))] == [f.uri for f in listed]
    assert [f.size for f in files.list(f"{INPUTS}x.csv")] == [4]
    assert files.list("s3://another-bucket/input_data/") == []
    assert list(files.current().chunks()) == [b"a\n1\n"]


def test_catalog_types_become_the_engines_column_types(tmp_path):
    env, _ = deployment(tmp_path, "Rules = [ RowCount > 0 ]\n")
    lake, catalog = env.resources()["lake"], env.resources()["catalog"]
    assert catalog_column_types(catalog) is None
    (tmp_path / "x.csv").write_text("Title,Votes,Score,Seen,Day\na,1,2.5,true,2024-01-02\n")
    lake.upload(tmp_path / "x.csv", lake.input_key("x.csv"))
    catalog.crawl(lake)
    assert catalog_column_types(catalog) == {
        "title": "string",
        "votes": "bigint",
        "score": "double",
        "seen": "boolean",
        "day": "string",  # the crawler's date: text for the engine, as Glue's CSV classifier
    }


def test_custom_sql_sees_the_catalogs_types_not_the_files_own(tmp_path):
    below_two = "CustomSql \"select count(*) from primary where no_of_votes < '2'\" >= 0"
    env, defs = deployment(tmp_path, f"Rules = [ {below_two} ]\n")
    lake = env.resources()["lake"]
    sample = write_sample(tmp_path / "a.csv", rows=200, seed=8).path
    lake.upload(sample, lake.input_key("a.csv"))
    votes = [r["No_of_Votes"] for r in rows(sample) if r["No_of_Votes"]]
    assert all(v.isdigit() for v in votes)
    with dg.DagsterInstance.ephemeral() as instance:
        assert run_file(env, defs, instance, "a.csv").success
        as_numbers = outcomes(lake, "a.csv")[below_two]["EvaluatedMetrics"]
        # another input file with a word among its votes: the crawler's merged column is a string
        wordy = tmp_path / "b.csv"
        text = sample.read_text(encoding="utf-8").splitlines(keepends=True)
        wordy.write_text(text[0] + text[1].replace(f",{votes[0]},", ",many,", 1))
        lake.upload(wordy, lake.input_key("b.csv"))
        assert run_file(env, defs, instance, "a.csv").success
        as_text = outcomes(lake, "a.csv")[below_two]["EvaluatedMetrics"]
    # bigint: '2' is cast to the number 2 (Spark's rule for a number against a string)
    assert as_numbers == {"Dataset.*.CustomSQL": float(sum(int(v) < 2 for v in votes))}
    # string: compared as text, so '19' and '100000' are below '2'
    assert as_text == {"Dataset.*.CustomSQL": float(sum(v < "2" for v in votes))}
    assert as_text != as_numbers


def test_in_one_run_a_file_sees_the_movies_of_the_files_staged_before_it(tmp_path):
    env, defs = deployment(tmp_path, f"Rules = [ {NOT_LOADED} ]\n")
    lake, warehouse = env.resources()["lake"], env.resources()["warehouse"]
    first = write_sample(tmp_path / "a.csv", rows=50, seed=6, title_suffix=" (a)").path
    a_rows = rows(first)
    second = write_sample(tmp_path / "b.csv", rows=40, seed=7, title_suffix=" (b)").path
    with second.open("a", newline="", encoding="utf-8") as f:
        csv.DictWriter(f, list(a_rows[0]), lineterminator="\n").writerows(a_rows[:4])
    for path in (first, second):
        lake.upload(path, lake.input_key(path.name))
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(movie_files.name, ["a.csv", "b.csv"])
        result = defs.resolve_job_def(INGEST_JOB).execute_in_process(
            instance=instance, tags=range_tags("a.csv", "b.csv"), raise_on_error=False
        )
    assert result.success
    assert outcomes(lake, "a.csv")[NOT_LOADED]["Outcome"] == "Passed"
    loaded = set(
        warehouse.fetch_movies("a.csv")["series_title"]
    )  # only a.csv's rows, no rule failed
    b_rows = rows(second)
    found = sum(r["Series_Title"] in loaded for r in b_rows)
    assert found == 4
    got = outcomes(lake, "b.csv")[NOT_LOADED]
    assert got["Outcome"] == "Failed"
    metric = got["EvaluatedMetrics"]["Column.imdb_movies_rating.ReferentialIntegrity"]
    assert metric == pytest.approx(found / len(b_rows), abs=1e-4)
