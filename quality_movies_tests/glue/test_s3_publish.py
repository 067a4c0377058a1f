"""How the job publishes on S3 (as on Glue, where Spark writes part files under --TempDir)."""

import pytest

from quality_movies.quality.glue_job import JobFiles, QualityJobError, split_s3
from quality_movies_tests.glue.conftest import client

BUCKET = "publish-bucket"


@pytest.fixture
def s3(aws_env):
    s3 = client("s3", aws_env)
    s3.create_bucket(Bucket=BUCKET)
    return s3


@pytest.mark.server
def test_part_file_is_copied_to_its_final_key_and_staging_removed(s3):
    staging = f"s3://{BUCKET}/tmp/quality-movies/run-1"
    s3.put_object(Bucket=BUCKET, Key="tmp/quality-movies/run-1/bad_records/_SUCCESS", Body=b"")
    s3.put_object(
        Bucket=BUCKET,
        Key="tmp/quality-movies/run-1/bad_records/part-00000-a.json",
        Body=b'{"a":1}\n',
    )
    files = JobFiles(s3)
    part = files.single_part(f"{staging}/bad_records", ".json")
    assert part == f"{staging}/bad_records/part-00000-a.json"
    final = f"s3://{BUCKET}/bad-records/source_file=a.csv/bad_records.jsonl"
    files.publish(part, final)
    files.remove_tree(staging)
    assert s3.get_object(Bucket=BUCKET, Key=split_s3(final)[1])["Body"].read() == b'{"a":1}\n'
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert keys == ["bad-records/source_file=a.csv/bad_records.jsonl"]


@pytest.mark.server
def test_more_than_one_part_file_is_refused(s3):
    for name in ("part-00000-a.json", "part-00001-a.json"):
        s3.put_object(Bucket=BUCKET, Key=f"tmp/run-2/bad_records/{name}", Body=b"{}\n")
    with pytest.raises(QualityJobError, match="holds 2 part files, expected one"):
        JobFiles(s3).single_part(f"s3://{BUCKET}/tmp/run-2/bad_records", ".json")
