"""The new-files sensor on S3 listing (SeaweedFS) with the ledger in the same bucket: new, changed,
same-second and ignored keys, each version claimed once."""

import dagster as dg
import pytest

from quality_movies.jobs import INGEST_JOB
from quality_movies.notifications.resources import LocalNotifier
from quality_movies.partitions import movie_files
from quality_movies.pipeline_runs import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG
from quality_movies.quality.resources import EmbeddedQualityJobRunner
from quality_movies.runs.new_files_sensor import build_new_files_sensor
from quality_movies.runs.resources import S3Ledger

from .conftest import S3Server
from .test_s3_lake import make_lake

pytestmark = pytest.mark.server


def test_sensor_on_s3_listing(seaweedfs: S3Server, s3_bucket: str, tmp_path) -> None:
    client = seaweedfs.client()
    lake = make_lake(seaweedfs, s3_bucket)
    ledger = S3Ledger(bucket=s3_bucket, endpoint_url=seaweedfs.endpoint_url)
    resources = {
        "lake": lake,
        "ledger": ledger,
        "notifier": LocalNotifier(outbox_path=str(tmp_path / "outbox.jsonl")),
        "quality_job": EmbeddedQualityJobRunner(work_dir=str(tmp_path / "work")),
    }
    sensor = build_new_files_sensor(INGEST_JOB)
    for key, body in {
        "input_data/one.csv": b"a,b\n1,2\n",
        "input_data/two.csv": b"a,b\n3,4\n",
        "input_data/_SUCCESS": b"",
        "bad-records/source_file=one.csv/bad_records.jsonl": b"{}\n",
    }.items():
        client.put_object(Bucket=s3_bucket, Key=key, Body=body)
    # S3 keeps LastModified to the second: these puts share one, and the ETag ledger still sees both.

    def evaluate(instance):
        return sensor(dg.build_sensor_context(instance=instance, resources=resources))

    def finish_all():
        for version in ledger.claims_by("sensor:"):
            ledger.finish(version.input_key, version.etag, "processed", "run")

    with dg.instance_for_test() as instance:
        [first] = evaluate(instance).run_requests
        assert (first.tags[RANGE_START_TAG], first.tags[RANGE_END_TAG]) == ("one.csv", "two.csv")
        assert {v.input_key for v in ledger.versions()} == {
            "input_data/one.csv",
            "input_data/two.csv",
        }
        instance.add_dynamic_partitions(movie_files.name, ["one.csv", "two.csv"])
        assert evaluate(instance).run_requests == []  # claimed, in flight
        finish_all()
        assert evaluate(instance).run_requests == []  # processed

        client.put_object(Bucket=s3_bucket, Key="input_data/two.csv", Body=b"a,b\n3,5\n")
        [changed] = evaluate(instance).run_requests
        assert changed.tags[PARTITION_TAG] == "two.csv"
        finish_all()

        client.put_object(Bucket=s3_bucket, Key="input_data/two.csv", Body=b"a,b\n3,5\n")
        assert evaluate(instance).run_requests == []  # same content again

        client.put_object(Bucket=s3_bucket, Key="input_data/three.csv", Body=b"a,b\n5,6\n")
        new = evaluate(instance)
        assert [r.tags[PARTITION_TAG] for r in new.run_requests] == ["three.csv"]
        assert [set(r.partition_keys) for r in new.dynamic_partitions_requests] == [{"three.csv"}]
