"""The new-files sensor: new, changed, same-second and ignored keys, and its cursor."""

import json
import os
import time
from datetime import UTC, datetime

import dagster as dg

from quality_movies.ingestion.resources import LakeObject
from quality_movies.ingestion.sensors import build_new_files_sensor, plan_input_files
from quality_movies.jobs import ingest_movie_file
from quality_movies.partitions import ETAG_TAG, movie_files

NOON = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


def obj(key: str, etag: str) -> LakeObject:
    return LakeObject(key=key, size=10, etag=etag, last_modified=NOON)


def test_plan_picks_new_and_changed_csvs_and_reports_the_rest():
    seen = {"input_data/a.csv": "e1", "input_data/b.csv": "e2"}
    objects = [
        obj("input_data/a.csv", "e1"),  # unchanged
        obj("input_data/b.csv", "e9"),  # changed
        obj("input_data/c.csv", "e3"),  # new, same second as d
        obj("input_data/d.CSV", "e4"),  # new, same second as c
        obj("input_data/notes.txt", "e5"),
    ]
    plan = plan_input_files(objects, seen)
    assert [o.key for o in plan.to_process] == [
        "input_data/b.csv",
        "input_data/c.csv",
        "input_data/d.CSV",
    ]
    assert plan.ignored == ["input_data/notes.txt"]
    assert plan.seen == {
        "input_data/a.csv": "e1",
        "input_data/b.csv": "e9",
        "input_data/c.csv": "e3",
        "input_data/d.CSV": "e4",
    }


def write(lake_root, key: str, text: str, mtime: float) -> None:
    path = lake_root / "quality-movie-bucket" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (mtime, mtime))


def evaluate(sensor, lake, instance, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"lake": lake})
    return sensor(context)


def test_sensor_requests_one_run_per_new_or_changed_file(tmp_path):
    from quality_movies.ingestion.resources import LocalLake

    lake = LocalLake(root=str(tmp_path))
    sensor = build_new_files_sensor(ingest_movie_file)
    second = time.time() // 1
    write(tmp_path, "input_data/one.csv", "a,b\n1,2\n", second)
    write(tmp_path, "input_data/two.csv", "a,b\n3,4\n", second)  # same second as one.csv
    write(tmp_path, "input_data/readme.md", "not data", second)

    with dg.instance_for_test() as instance:
        first = evaluate(sensor, lake, instance, None)
        assert sorted(r.partition_key for r in first.run_requests) == ["one.csv", "two.csv"]
        assert all(r.tags[ETAG_TAG] for r in first.run_requests)
        assert [set(r.partition_keys) for r in first.dynamic_partitions_requests] == [
            {"one.csv", "two.csv"}
        ]
        cursor = json.loads(first.cursor)
        assert set(cursor) == {"input_data/one.csv", "input_data/two.csv"}
        instance.add_dynamic_partitions(movie_files.name, ["one.csv", "two.csv"])

        again = evaluate(sensor, lake, instance, first.cursor)
        assert again.run_requests == []
        assert again.cursor == first.cursor

        write(tmp_path, "input_data/two.csv", "a,b\n3,5\n", second)  # new content, same mtime
        changed = evaluate(sensor, lake, instance, first.cursor)
        assert [r.partition_key for r in changed.run_requests] == ["two.csv"]
        assert changed.dynamic_partitions_requests == []  # partition exists already
        assert json.loads(changed.cursor)["input_data/two.csv"] != cursor["input_data/two.csv"]
        assert (
            changed.run_requests[0].run_key != f"input_data/two.csv@{cursor['input_data/two.csv']}"
        )

        write(tmp_path, "input_data/two.csv", "a,b\n3,5\n", second + 5)  # touched, same content
        touched = evaluate(sensor, lake, instance, changed.cursor)
        assert touched.run_requests == []
