"""The region of every AWS client: QUALITY_MOVIES_REGION when set, else the user's AWS configuration."""

from pathlib import Path

import pytest

from quality_movies.environment import Environment
from quality_movies.settings import PipelineSettings, aws_region
from quality_movies_tests.aws.test_aws_resources import AWS_VARIABLES


@pytest.fixture
def no_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No region anywhere: no variable, an empty AWS config file; returns that file's path."""
    for name in ("QUALITY_MOVIES_REGION", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "aws-config"
    config.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    return config


def test_quality_movies_region_wins_over_the_aws_configuration(
    no_region: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")

    settings = PipelineSettings.from_env({"QUALITY_MOVIES_REGION": "ap-south-1"})

    assert aws_region(settings) == "ap-south-1"


def test_without_it_the_default_region_variable_is_used(
    no_region: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")

    assert aws_region(PipelineSettings.from_env({})) == "eu-central-1"


def test_without_it_the_profiles_region_is_used(
    no_region: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_region.write_text(
        "[default]\nregion = sa-east-1\n\n[profile films]\nregion = ca-central-1\n"
    )

    assert aws_region(PipelineSettings()) == "sa-east-1"
    monkeypatch.setenv("AWS_PROFILE", "films")
    assert aws_region(PipelineSettings()) == "ca-central-1"


def test_no_region_at_all_says_what_to_set(no_region: Path) -> None:
    with pytest.raises(ValueError, match="QUALITY_MOVIES_REGION.*AWS_DEFAULT_REGION"):
        aws_region(PipelineSettings())


def test_every_aws_resource_gets_the_configured_region(
    no_region: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_region.write_text("[default]\nregion = eu-north-1\n")
    variables = {k: v for k, v in AWS_VARIABLES.items() if k != "QUALITY_MOVIES_REGION"}

    resources = Environment.from_env(
        {**variables, "QUALITY_MOVIES_HOME": str(tmp_path)}
    ).resources()

    regions = {key: getattr(resource, "region_name", None) for key, resource in resources.items()}
    assert regions.pop("metric_store") is None  # it writes through the lake
    assert regions.pop("io_manager") is None
    assert set(regions.values()) == {"eu-north-1"}
    assert resources["io_manager"].s3_resource.region_name == "eu-north-1"
