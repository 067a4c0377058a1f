"""The lake's ETags (computed once per file version), streaming reads and moves."""

import hashlib
import os

import pytest

from quality_movies import bucket_folder
from quality_movies.lake import LocalLake, S3Lake
from quality_movies.lake import local as resources

ABC_MD5 = "900150983cd24fb0d6963f7d28e17f72"  # MD5("abc"), RFC 1321 appendix A.5


@pytest.fixture
def lake(tmp_path) -> LocalLake:
    return LocalLake(root=str(tmp_path / "lake"), bucket="bucket")


@pytest.fixture
def hashes(monkeypatch) -> list[str]:
    """The files the lake reads to compute an ETag, in order."""
    calls: list[str] = []
    md5 = bucket_folder._md5

    def counting_md5(path):
        calls.append(path.name)
        return md5(path)

    monkeypatch.setattr(bucket_folder, "_md5", counting_md5)
    return calls


def drop(lake: LocalLake, key: str, content: bytes) -> None:
    """A file arriving in the bucket folder by other means than upload (a copy, a sync)."""
    path = lake._path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def test_the_etag_is_the_md5_of_the_content(lake):
    drop(lake, "input_data/a.csv", b"abc")
    assert lake.head("input_data/a.csv").etag == ABC_MD5


def test_listing_again_reads_no_unchanged_file(lake, hashes):
    for i in range(20):
        drop(lake, f"input_data/f{i:02}.csv", f"x,{i}\n".encode())
    first = lake.input_files()
    assert len(hashes) == 20
    hashes.clear()
    again = lake.input_files()
    assert hashes == []
    assert again == first


def test_another_process_reads_the_etags_already_computed(lake, hashes):
    for i in range(5):
        drop(lake, f"input_data/f{i}.csv", f"x,{i}\n".encode())
    lake.input_files()
    hashes.clear()
    other = LocalLake(root=lake.root, bucket=lake.bucket)
    assert other.input_files() == lake.input_files()
    assert hashes == []


def test_outputs_get_a_version_tag_without_being_read_or_cached(lake, hashes, tmp_path):
    key = "bad-records/source_file=a.csv/bad_records.jsonl"
    drop(lake, key, b"abc")
    [listed] = lake.list_objects("bad-records/")
    assert lake.head(key).etag == listed.etag
    src = tmp_path / "new.jsonl"
    src.write_bytes(b"abd")
    uploaded = lake.upload(src, key)  # the output written again
    assert uploaded.etag != listed.etag
    assert lake.head(key).etag == uploaded.etag
    assert hashes == []
    assert lake.etag_cache().entries == {}


def test_an_uploaded_output_is_not_a_copy_and_a_users_file_is(lake, tmp_path):
    src = tmp_path / "out.jsonl"
    src.write_bytes(b"abc")
    lake.upload(src, "bad-records/source_file=a.csv/bad_records.jsonl")
    assert os.path.samefile(src, lake._path("bad-records/source_file=a.csv/bad_records.jsonl"))
    stored = lake.upload(src, "input_data/a.csv")
    assert not os.path.samefile(src, lake._path("input_data/a.csv"))  # the user's file stays theirs
    assert stored.etag == ABC_MD5
    lake.upload(src, "reference_data/codes/codes.csv")
    assert not os.path.samefile(src, lake._path("reference_data/codes/codes.csv"))


def test_a_changed_file_is_hashed_again(lake, hashes):
    drop(lake, "input_data/a.csv", b"abc")
    lake.input_files()
    path = lake._path("input_data/a.csv")
    path.write_bytes(b"abd")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    hashes.clear()
    [obj] = lake.input_files()
    assert hashes == ["a.csv"]
    assert obj.etag == hashlib.md5(b"abd").hexdigest()


def test_an_upload_remembers_its_etag(lake, hashes, tmp_path):
    src = tmp_path / "abc.csv"
    src.write_bytes(b"abc")
    assert lake.upload(src, "input_data/abc.csv").etag == ABC_MD5
    assert lake.input_files()[0].etag == ABC_MD5
    assert hashes == []


def test_a_removed_file_leaves_the_cache(lake):
    drop(lake, "input_data/a.csv", b"abc")
    lake.input_files()
    lake.delete("input_data/a.csv")
    assert lake.input_files() == []
    assert lake.etag_cache().entries == {}


def test_open_streams_the_object_and_names_a_missing_one(lake):
    drop(lake, "input_data/a.csv", b"abc")
    with lake.open("input_data/a.csv") as stream:
        assert stream.read(2) == b"ab"
    with pytest.raises(FileNotFoundError, match="input_data/b.csv does not exist"):
        lake.open("input_data/b.csv").__enter__()


def test_local_file_is_the_object_itself(lake):
    drop(lake, "input_data/a.csv", b"abc")
    with lake.local_file("input_data/a.csv") as path:
        assert path == lake._path("input_data/a.csv")


def test_move_replaces_the_destination_and_removes_the_source(lake):
    drop(lake, "_staging/t/out.jsonl", b"new")
    drop(lake, "bad-records/out.jsonl", b"old")
    staged = lake.head("_staging/t/out.jsonl").etag
    assert staged != lake.head("bad-records/out.jsonl").etag
    lake.move("_staging/t/out.jsonl", "bad-records/out.jsonl")
    assert lake._path("bad-records/out.jsonl").read_bytes() == b"new"
    assert not lake._path("_staging/t/out.jsonl").exists()
    assert lake.head("bad-records/out.jsonl").etag == staged  # the staged object itself


@pytest.mark.server
def test_s3_open_and_move(seaweedfs, s3_bucket, tmp_path):
    lake = S3Lake(bucket=s3_bucket, endpoint_url=seaweedfs.endpoint_url)
    src = tmp_path / "abc.csv"
    src.write_bytes(b"abc" * 1000)
    lake.upload(src, "_staging/t/abc.csv")
    lake.move("_staging/t/abc.csv", "input_data/abc.csv")
    assert [o.key for o in lake.list_objects("")] == ["input_data/abc.csv"]
    with lake.open("input_data/abc.csv") as stream:
        assert stream.read(5) == b"abcab"
        assert len(stream.read()) == 2995
    with pytest.raises(FileNotFoundError, match=f"s3://{s3_bucket}/input_data/nope.csv"):
        lake.open("input_data/nope.csv").__enter__()
    with pytest.raises(FileNotFoundError, match="_staging/t/abc.csv"):
        lake.move("_staging/t/abc.csv", "input_data/other.csv")


def test_a_rewrite_with_the_same_size_and_mtime_is_hashed_again(lake):
    drop(lake, "input_data/a.csv", b"abc")
    path = lake._path("input_data/a.csv")
    stat = path.stat()
    lake.input_files()
    path.write_bytes(b"abd")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert lake.input_files()[0].etag == hashlib.md5(b"abd").hexdigest()


def test_a_move_removes_the_folders_it_leaves_empty_up_to_the_bucket(lake):
    staged = "validated_movies/_staging/0123-42-host/source_file=m.csv/validated_movies.parquet"
    drop(lake, staged, b"rows")
    drop(lake, "bad-records/_staging/0123-42-host/source_file=m.csv/bad_records.jsonl", b"bad")
    lake.move(staged, "validated_movies/source_file=m.csv/validated_movies.parquet")
    bucket = lake._path("")
    assert not (bucket / "validated_movies/_staging").exists()
    assert lake._path("validated_movies/source_file=m.csv/validated_movies.parquet").is_file()
    assert (bucket / "bad-records/_staging/0123-42-host/source_file=m.csv").is_dir()


def test_a_delete_removes_emptied_folders_but_never_the_bucket_or_a_folder_in_use(lake):
    drop(lake, "rule_outcome_from_etl/_staging/t1/source_file=a.csv/rule_outcomes.jsonl", b"a")
    drop(lake, "rule_outcome_from_etl/_staging/t2/source_file=b.csv/rule_outcomes.jsonl", b"b")
    lake.delete("rule_outcome_from_etl/_staging/t1/source_file=a.csv/rule_outcomes.jsonl")
    bucket = lake._path("")
    assert not (bucket / "rule_outcome_from_etl/_staging/t1").exists()
    assert (bucket / "rule_outcome_from_etl/_staging/t2/source_file=b.csv").is_dir()
    lake.delete("rule_outcome_from_etl/_staging/t2/source_file=b.csv/rule_outcomes.jsonl")
    assert bucket.is_dir() and list(bucket.iterdir()) == []
    lake.delete("input_data/never-there.csv")
    assert bucket.is_dir()


def test_an_upload_whose_folder_another_process_removes_meanwhile_still_lands(
    lake, tmp_path, monkeypatch
):
    src = tmp_path / "abc.csv"
    src.write_bytes(b"abc")
    copy = resources._copy_with_md5
    cleanups = []

    def copy_after_a_cleanup(source, dest):
        if not cleanups:  # another process deletes the folder's last object in between
            drop(lake, "input_data/last.csv", b"x")
            lake.delete("input_data/last.csv")
            cleanups.append(dest.parent.exists())
        return copy(source, dest)

    monkeypatch.setattr(resources, "_copy_with_md5", copy_after_a_cleanup)
    obj = lake.upload(src, "input_data/abc.csv")
    assert cleanups == [False]
    assert obj.etag == ABC_MD5
    assert lake._path("input_data/abc.csv").read_bytes() == b"abc"
