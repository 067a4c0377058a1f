"""``quality-movies glue-package`` builds what the Glue job imports and uploads it to the assets prefix."""

import zipfile
from pathlib import Path

import pytest

from quality_movies.glue_package import (
    PACKAGE_ZIP,
    SCRIPT_NAME,
    job_arguments,
    main,
    upload_glue_assets,
    wheel_name,
)
from quality_movies.settings import PipelineSettings
from quality_movies_tests.glue.conftest import client

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_FILES = {
    "quality_movies/dq/rulesets/movies.dqdl",
    "quality_movies/dq/dqdl.lark",
    "quality_movies/warehouse/redshift.sql",
}


def test_zip_and_wheel_carry_the_package_with_its_data_files(glue_assets):
    for archive in (glue_assets.package_zip, glue_assets.wheel):
        with zipfile.ZipFile(archive) as built:
            names = set(built.namelist())
            assert names >= DATA_FILES
            assert "quality_movies/glue_job.py" in names
            assert (
                built.read("quality_movies/dq/rulesets/movies.dqdl")
                == (REPO_ROOT / "quality_movies/dq/rulesets/movies.dqdl").read_bytes()
            )
            assert not any("__pycache__" in name for name in names)
    assert glue_assets.package_zip.name == PACKAGE_ZIP
    assert glue_assets.wheel.name == wheel_name()


def test_script_is_the_glue_entrypoint(glue_assets):
    assert glue_assets.script.name == SCRIPT_NAME
    assert glue_assets.script.read_bytes() == (REPO_ROOT / "glue" / SCRIPT_NAME).read_bytes()


def test_wheel_declares_what_glue_must_install(glue_assets):
    modules = {m.split("==")[0].lower() for m in glue_assets.additional_python_modules}
    # The parser needs lark, the SQL plans sqlglot, the script dagster-pipes, the contract check
    # pandera; Glue ships pyspark/boto3.
    assert {"lark", "sqlglot", "dagster-pipes", "pandera"} <= modules
    assert not modules & {"pyspark", "boto3", "quality_movies"}
    with zipfile.ZipFile(glue_assets.wheel) as wheel:
        metadata = wheel.read(f"{wheel_name()[: -len('-py3-none-any.whl')]}.dist-info/METADATA")
    for requirement in glue_assets.additional_python_modules:
        assert f"Requires-Dist: {requirement}".encode() in metadata


def test_job_arguments_point_at_the_uploaded_files(glue_assets):
    settings = PipelineSettings(bucket="b", glue_assets_prefix="glue-assets/")
    arguments = job_arguments(settings, glue_assets)
    assert arguments["--extra-py-files"] == f"s3://b/glue-assets/{PACKAGE_ZIP}"
    assert arguments["--additional-python-modules"].startswith(
        f"s3://b/glue-assets/{wheel_name()},"
    )


@pytest.mark.server
def test_upload_puts_the_files_under_the_assets_prefix(aws_env, glue_assets):
    settings = PipelineSettings(bucket="assets-bucket", glue_assets_prefix="glue-assets/")
    s3 = client("s3", aws_env)
    s3.create_bucket(Bucket=settings.bucket)
    uris = upload_glue_assets(glue_assets, settings, s3_client=s3)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=settings.bucket)["Contents"])
    assert keys == sorted(
        f"glue-assets/{name}" for name in (SCRIPT_NAME, PACKAGE_ZIP, wheel_name())
    )
    assert sorted(uris) == [f"s3://assets-bucket/{key}" for key in keys]


@pytest.mark.server
def test_cli_builds_and_uploads_with_the_endpoint_from_the_environment(
    aws_env, monkeypatch, tmp_path
):
    monkeypatch.setenv("QUALITY_MOVIES_AWS_ENDPOINT_URL", aws_env)
    monkeypatch.setenv("QUALITY_MOVIES_BUCKET", "cli-bucket")
    client("s3", aws_env).create_bucket(Bucket="cli-bucket")
    assert main(["--out", str(tmp_path / "dist"), "--upload"]) == 0
    assert (tmp_path / "dist" / SCRIPT_NAME).is_file()
    listed = client("s3", aws_env).list_objects_v2(Bucket="cli-bucket", Prefix="glue-assets/")
    assert {o["Key"] for o in listed["Contents"]} == {
        f"glue-assets/{name}" for name in (SCRIPT_NAME, PACKAGE_ZIP, wheel_name())
    }
