"""S3Lake against a real S3 server (SeaweedFS): pagination, multipart uploads, ranged reads, misses."""

import hashlib
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from quality_movies.lake import S3Lake

from .conftest import S3Server

pytestmark = pytest.mark.server

MIB = 1024 * 1024


def make_lake(server: S3Server, bucket: str, **fields: float) -> S3Lake:
    return S3Lake(
        bucket=bucket, endpoint_url=server.endpoint_url, region_name="us-east-1", **fields
    )


def test_listing_pages_past_1000_keys(seaweedfs: S3Server, s3_bucket: str) -> None:
    client = seaweedfs.client()
    bodies = {
        f"input_data/movies_{i:04d}.csv": f"Series_Title\nfilm {i}\n".encode() for i in range(1005)
    }
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(
            pool.map(
                lambda item: client.put_object(Bucket=s3_bucket, Key=item[0], Body=item[1]),
                bodies.items(),
            )
        )
    client.put_object(Bucket=s3_bucket, Key="bad-records/elsewhere.jsonl", Body=b"{}")

    listed = make_lake(seaweedfs, s3_bucket).list_objects("input_data/")

    # One ListObjectsV2 page holds at most 1,000 keys: 1,005 means the listing followed the pages.
    assert len(listed) == 1005
    assert [o.key for o in listed] == sorted(bodies)
    for obj in (listed[0], listed[999], listed[1004]):
        assert obj.etag == hashlib.md5(bodies[obj.key]).hexdigest()
        assert obj.size == len(bodies[obj.key])
        assert obj.last_modified.tzinfo is not None


def test_large_upload_goes_up_in_parts_and_round_trips(
    seaweedfs: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    data = random.Random(7).randbytes(11 * MIB)
    src = tmp_path / "large.csv"
    src.write_bytes(data)
    lake = make_lake(seaweedfs, s3_bucket, multipart_threshold_mb=5, multipart_chunk_mb=5)

    stored = lake.upload(src, "input_data/large.csv")

    # 11 MiB in 5 MiB parts is 5 + 5 + 1: S3's ETag is the MD5 of the parts' binary MD5s, then "-3".
    parts = [data[0 : 5 * MIB], data[5 * MIB : 10 * MIB], data[10 * MIB :]]
    expected_etag = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    assert stored.etag == f"{expected_etag}-3"
    assert stored.size == len(data)
    assert lake.head("input_data/large.csv").etag == stored.etag
    assert lake.download("input_data/large.csv", tmp_path / "back.csv").read_bytes() == data
    assert lake.read_head("input_data/large.csv", 100) == data[:100]


def test_small_upload_is_one_part_with_the_md5_etag(
    seaweedfs: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "movies.csv"
    src.write_bytes(b"Series_Title,IMDB_Rating\nThe Godfather,9.2\n")
    lake = make_lake(seaweedfs, s3_bucket)

    stored = lake.upload(src, "input_data/movies.csv")

    assert stored.etag == hashlib.md5(src.read_bytes()).hexdigest()
    assert [o.key for o in lake.input_files()] == ["input_data/movies.csv"]
    with lake.local_copy("input_data/movies.csv") as local:
        assert local.read_bytes() == src.read_bytes()
    assert lake.uri("input_data/movies.csv") == f"s3://{s3_bucket}/input_data/movies.csv"


def test_read_head_of_short_and_empty_objects(seaweedfs: S3Server, s3_bucket: str) -> None:
    client = seaweedfs.client()
    client.put_object(Bucket=s3_bucket, Key="input_data/short.csv", Body=b"a,b\n")
    client.put_object(Bucket=s3_bucket, Key="input_data/empty.csv", Body=b"")
    lake = make_lake(seaweedfs, s3_bucket)

    assert lake.read_head("input_data/short.csv", 65536) == b"a,b\n"
    assert lake.read_head("input_data/short.csv", 2) == b"a,"
    assert lake.read_head("input_data/empty.csv") == b""


def test_missing_objects_name_their_uri_and_delete_is_idempotent(
    seaweedfs: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    lake = make_lake(seaweedfs, s3_bucket)
    src = tmp_path / "gone.csv"
    src.write_bytes(b"x\n")
    lake.upload(src, "input_data/gone.csv")

    lake.delete("input_data/gone.csv")
    lake.delete("input_data/gone.csv")

    uri = f"s3://{s3_bucket}/input_data/gone.csv"
    with pytest.raises(FileNotFoundError, match=uri):
        lake.head("input_data/gone.csv")
    with pytest.raises(FileNotFoundError, match=uri):
        lake.download("input_data/gone.csv", tmp_path / "out.csv")
    with pytest.raises(FileNotFoundError, match=uri):
        lake.read_head("input_data/gone.csv")
    assert lake.list_objects("input_data/") == []
