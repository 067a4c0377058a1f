"""The new-files sensor on S3 listing (SeaweedFS): new, changed, same-second and ignored keys."""

import json

import dagster as dg
import pytest

from quality_movies.ingestion.sensors import build_new_files_sensor
from quality_movies.jobs import ingest_movie_file
from quality_movies.partitions import movie_files

from .conftest import S3Server
from .test_s3_lake import make_lake

pytestmark = pytest.mark.server


def evaluate(lake, instance, cursor):
    sensor = build_new_files_sensor(ingest_movie_file)
    return sensor(
        dg.build_sensor_context(instance=instance, cursor=cursor, resources={"lake": lake})
    )


def test_sensor_on_s3_listing(seaweedfs: S3Server, s3_bucket: str) -> None:
    client = seaweedfs.client()
    lake = make_lake(seaweedfs, s3_bucket)
    for key, body in {
        "input_data/one.csv": b"a,b\n1,2\n",
        "input_data/two.csv": b"a,b\n3,4\n",
        "input_data/_SUCCESS": b"",
        "bad-records/source_file=one.csv/bad_records.jsonl": b"{}\n",
    }.items():
        client.put_object(Bucket=s3_bucket, Key=key, Body=body)
    # S3 keeps LastModified to the second: these puts share one, and the ETag cursor still sees both.

    with dg.instance_for_test() as instance:
        first = evaluate(lake, instance, None)
        assert sorted(r.partition_key for r in first.run_requests) == ["one.csv", "two.csv"]
        assert set(json.loads(first.cursor)) == {"input_data/one.csv", "input_data/two.csv"}
        instance.add_dynamic_partitions(movie_files.name, ["one.csv", "two.csv"])

        assert evaluate(lake, instance, first.cursor).run_requests == []

        client.put_object(Bucket=s3_bucket, Key="input_data/two.csv", Body=b"a,b\n3,5\n")
        changed = evaluate(lake, instance, first.cursor)
        assert [r.partition_key for r in changed.run_requests] == ["two.csv"]

        client.put_object(Bucket=s3_bucket, Key="input_data/two.csv", Body=b"a,b\n3,5\n")
        assert evaluate(lake, instance, changed.cursor).run_requests == []  # same content again

        client.put_object(Bucket=s3_bucket, Key="input_data/three.csv", Body=b"a,b\n5,6\n")
        new = evaluate(lake, instance, changed.cursor)
        assert [r.partition_key for r in new.run_requests] == ["three.csv"]
        assert [set(r.partition_keys) for r in new.dynamic_partitions_requests] == [{"three.csv"}]
