"""``quality-movies glue-package`` builds what the Glue job imports and uploads it to the assets prefix."""

import hashlib
import zipfile
from pathlib import Path

import pytest
from packaging import tags
from packaging.utils import parse_wheel_filename

from quality_movies import glue_package
from quality_movies.glue_package import (
    GLUE_PLATFORMS,
    GLUE_PROVIDED,
    SCRIPT_NAME,
    GlueAssets,
    build_glue_assets,
    fetch_locked_wheels,
    job_arguments,
    job_requirements,
    main,
    read_lock,
    upload_glue_assets,
    wheel_name,
)
from quality_movies.infra.state_machine import RULESET_FILE
from quality_movies.quality.glue_job import packaged_ruleset_text
from quality_movies.settings import PipelineSettings
from quality_movies_tests.glue.conftest import client

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_FILES = {
    "quality_movies/dq/rulesets/movies.dqdl",
    "quality_movies/dq/dqdl.lark",
    "quality_movies/warehouse/redshift.sql",
}


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def test_wheel_carries_the_package_with_its_data_files(glue_assets):
    with zipfile.ZipFile(glue_assets.wheel) as built:
        names = set(built.namelist())
        assert names >= DATA_FILES
        assert "quality_movies/quality/glue_job.py" in names
        assert (
            built.read("quality_movies/dq/rulesets/movies.dqdl")
            == (REPO_ROOT / "quality_movies/dq/rulesets/movies.dqdl").read_bytes()
        )
        assert not any("__pycache__" in name for name in names)
    assert glue_assets.wheel.name == wheel_name()


def test_script_is_the_glue_entrypoint(glue_assets):
    assert glue_assets.script.name == SCRIPT_NAME
    assert glue_assets.script.read_bytes() == (REPO_ROOT / "glue" / SCRIPT_NAME).read_bytes()


def test_wheel_declares_what_glue_must_install(glue_assets):
    requirements = job_requirements()
    modules = {canonical(m.split("==")[0]) for m in requirements}
    # The parser needs lark, the SQL plans sqlglot, the script dagster-pipes, the contract check
    # pandera; Glue ships pyspark/boto3.
    assert {"lark", "sqlglot", "dagster-pipes", "pandera"} <= modules
    assert not modules & {"pyspark", "boto3", "quality-movies"}
    with zipfile.ZipFile(glue_assets.wheel) as wheel:
        metadata = wheel.read(f"{wheel_name()[: -len('-py3-none-any.whl')]}.dist-info/METADATA")
    for requirement in requirements:
        assert f"Requires-Dist: {requirement}".encode() in metadata


def test_the_lock_pins_every_requirement_of_the_wheel_at_its_version():
    """A new import or version bump without `glue-package --lock` fails here, offline."""
    locked = {w.distribution: w.version for w in read_lock()}
    for requirement in job_requirements():
        name, pinned = requirement.split("==")
        assert locked.get(canonical(name)) == pinned, (
            f"{requirement} is not in glue/wheelhouse.lock: run `quality-movies glue-package --lock`"
        )


def test_the_lock_holds_wheels_for_glues_python_and_platform_only():
    # The tags pip accepts on CPython 3.11, manylinux x86_64 up to glibc 2.34 (packaging's own lists).
    glue = {
        *tags.cpython_tags((3, 11), abis=["cp311"], platforms=GLUE_PLATFORMS),
        *tags.compatible_tags((3, 11), interpreter="cp311", platforms=GLUE_PLATFORMS),
    }
    for wheel in read_lock():
        assert wheel.distribution not in GLUE_PROVIDED
        assert parse_wheel_filename(wheel.file)[3] & glue, wheel.file
        assert len(wheel.sha256) == 64


def fake_lock(tmp_path: Path, content: bytes) -> Path:
    lock = tmp_path / "wheelhouse.lock"
    digest = hashlib.sha256(content).hexdigest()
    lock.write_text(f"# comment\nlark-1.3.1-py3-none-any.whl sha256={digest}\n")
    return lock


def test_locked_wheels_are_taken_from_a_folder_and_checked(tmp_path, monkeypatch):
    source = tmp_path / "cache"
    source.mkdir()
    (source / "lark-1.3.1-py3-none-any.whl").write_bytes(b"wheel bytes")
    lock = fake_lock(tmp_path, b"wheel bytes")
    monkeypatch.setattr(glue_package, "lock_path", lambda: lock)

    (fetched,) = fetch_locked_wheels(tmp_path / "out", wheels_from=source)

    assert fetched.read_bytes() == b"wheel bytes"


def test_a_wheel_that_is_not_the_locked_one_is_refused(tmp_path, monkeypatch):
    source = tmp_path / "cache"
    source.mkdir()
    (source / "lark-1.3.1-py3-none-any.whl").write_bytes(b"something else")
    monkeypatch.setattr(glue_package, "lock_path", lambda: fake_lock(tmp_path, b"wheel bytes"))

    with pytest.raises(RuntimeError, match="lark-1.3.1-py3-none-any.whl does not match its sha256"):
        fetch_locked_wheels(tmp_path / "out", wheels_from=source)


def test_the_ruleset_in_force_goes_beside_the_script(tmp_path, monkeypatch):
    """The state machine's job runs read it (--ruleset_uri): the packaged ruleset, or the one
    QUALITY_MOVIES_RULESET names, as the Dagster path evaluates with."""
    monkeypatch.setattr(glue_package, "fetch_locked_wheels", stand_in_wheels)
    ours = tmp_path / "ours.dqdl"
    ours.write_text('Rules = [ IsComplete "Series_Title" ]\n')

    packaged = build_glue_assets(tmp_path / "packaged")
    monkeypatch.setenv("QUALITY_MOVIES_RULESET", str(ours))
    assert glue_package.main(["--out", str(tmp_path / "cli")]) == 0

    assert packaged.ruleset.name == RULESET_FILE and packaged.ruleset in packaged.files()
    assert packaged.ruleset.read_text() == packaged_ruleset_text()
    assert (
        tmp_path / "cli" / RULESET_FILE
    ).read_text() == 'Rules = [ IsComplete "Series_Title" ]\n'
    monkeypatch.setenv("QUALITY_MOVIES_RULESET", str(tmp_path / "missing.dqdl"))
    assert glue_package.main(["--out", str(tmp_path / "cli")]) == 1


def test_job_arguments_install_the_uploaded_wheels_and_nothing_from_an_index(tmp_path):
    assets = GlueAssets(
        script=tmp_path / SCRIPT_NAME,
        wheel=tmp_path / wheel_name(),
        dependencies=(tmp_path / "lark-1.3.1-py3-none-any.whl",),
    )
    settings = PipelineSettings(bucket="b", glue_assets_prefix="glue-assets/")

    arguments = job_arguments(settings, assets)

    assert arguments == {
        "--additional-python-modules": (
            f"s3://b/glue-assets/{wheel_name()},s3://b/glue-assets/lark-1.3.1-py3-none-any.whl"
        ),
        "--python-modules-installer-option": "--no-index",
    }


@pytest.mark.server
def test_upload_puts_the_files_under_the_assets_prefix(aws_env, glue_assets):
    settings = PipelineSettings(bucket="assets-bucket", glue_assets_prefix="glue-assets/")
    s3 = client("s3", aws_env)
    s3.create_bucket(Bucket=settings.bucket)
    uris = upload_glue_assets(glue_assets, settings, s3_client=s3)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=settings.bucket)["Contents"])
    assert keys == sorted(
        f"glue-assets/{name}" for name in (SCRIPT_NAME, wheel_name(), RULESET_FILE)
    )
    assert sorted(uris) == [f"s3://assets-bucket/{key}" for key in keys]


def stand_in_wheels(dest: Path, wheels_from: Path | None = None) -> list[Path]:
    """The locked wheels as small stand-ins (the real ones come from the package index)."""
    dest.mkdir(parents=True, exist_ok=True)
    paths = [dest / wheel.file for wheel in read_lock()]
    for path in paths:
        path.write_bytes(b"stand-in")
    return paths


@pytest.mark.server
def test_cli_builds_and_uploads_with_the_endpoint_from_the_environment(
    aws_env, monkeypatch, tmp_path
):
    monkeypatch.setattr(glue_package, "fetch_locked_wheels", stand_in_wheels)
    monkeypatch.setenv("QUALITY_MOVIES_AWS_ENDPOINT_URL", aws_env)
    monkeypatch.setenv("QUALITY_MOVIES_BUCKET", "cli-bucket")
    client("s3", aws_env).create_bucket(Bucket="cli-bucket")
    assert main(["--out", str(tmp_path / "dist"), "--upload"]) == 0
    assert (tmp_path / "dist" / SCRIPT_NAME).is_file()
    listed = client("s3", aws_env).list_objects_v2(Bucket="cli-bucket", Prefix="glue-assets/")
    assert {o["Key"] for o in listed["Contents"]} == {
        f"glue-assets/{name}"
        for name in (SCRIPT_NAME, RULESET_FILE, wheel_name(), *(w.file for w in read_lock()))
    }


def test_cli_says_which_wheel_is_missing_in_one_line(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "dist"), "--wheels-from", str(tmp_path / "empty")]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("glue-package: ") and "is missing" in line
