"""The exported crawler as Glue's CreateCrawler API takes it, on every variant.

moto's CloudFormation does not create Glue crawlers (test_infra_deploy.py), and moto's crawler never
reads S3, so whether two files with compatible schemas become one table on AWS cannot be run here: the
local crawler's merge is tested in ingestion/test_catalog.py. What can be checked is that the grouping
policy reaches Glue: the template's crawler properties, intrinsic functions resolved as CloudFormation
would for each variant, pass botocore's validation of CreateCrawler against the Glue API model and come
back from GetCrawler with AWS's documented configuration for it ("Version": 1.0, "Grouping":
{"TableGroupingPolicy": "CombineCompatibleSchemas"}).
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from quality_movies.infra.export import export_infra
from quality_movies.settings import PipelineSettings
from quality_movies_tests.aws_env import use_fake_aws_credentials

ACCOUNT = "123456789012"
PSEUDO = {"AWS::StackName": "quality-movies", "AWS::Region": "us-east-1", "AWS::AccountId": ACCOUNT}
NO_VALUE = object()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("crawler")
    export_infra(out, PipelineSettings(bucket="acme-movies", input_prefix="landing/"))
    return out


@pytest.fixture
def glue(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    use_fake_aws_credentials(monkeypatch)
    monkeypatch.delenv("QUALITY_MOVIES_AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("glue")


def resolve(value: Any, template: dict[str, Any], conditions: dict[str, bool]) -> Any:
    """``value`` with Ref, Fn::GetAtt (Arn), Fn::Sub (of pseudo parameters) and Fn::If resolved;
    AWS::NoValue drops the key."""
    resources = template["Resources"]
    if isinstance(value, list):
        items = [resolve(v, template, conditions) for v in value]
        return [v for v in items if v is not NO_VALUE]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        name = value["Ref"]
        if name == "AWS::NoValue":
            return NO_VALUE
        resource = resources[name]
        if resource["Type"] == "AWS::Glue::Database":
            return resource["Properties"]["DatabaseInput"]["Name"]
        return resolve(resource["Properties"].get("Name", name), template, conditions)
    if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        text = value["Fn::Sub"]
        for pseudo, replacement in PSEUDO.items():
            text = text.replace(f"${{{pseudo}}}", replacement)
        assert "${" not in text, text
        return text
    if set(value) == {"Fn::GetAtt"}:
        name, attribute = value["Fn::GetAtt"]
        assert attribute == "Arn" and resources[name]["Type"] == "AWS::IAM::Role"
        return f"arn:aws:iam::{ACCOUNT}:role/{name}"
    if set(value) == {"Fn::If"}:
        condition, when_true, when_false = value["Fn::If"]
        return resolve(when_true if conditions[condition] else when_false, template, conditions)
    items = {k: resolve(v, template, conditions) for k, v in value.items()}
    return {k: v for k, v in items.items() if v is not NO_VALUE}


@pytest.mark.parametrize("in_vpc", [False, True], ids=["glue-network", "vpc"])
def test_the_crawler_reaches_glue_with_the_combine_compatible_schemas_policy(
    exported: Path, glue: Any, in_vpc: bool
) -> None:
    template = yaml.safe_load((exported / "template.yaml").read_text())
    crawler = resolve(
        template["Resources"]["InputCrawler"]["Properties"], template, {"UseVpc": in_vpc}
    )
    glue.create_database(DatabaseInput={"Name": crawler["DatabaseName"]})

    glue.create_crawler(**crawler)  # botocore validates every field against the Glue API model

    stored = glue.get_crawler(Name=crawler["Name"])["Crawler"]
    assert json.loads(stored["Configuration"]) == {
        "Version": 1.0,
        "Grouping": {"TableGroupingPolicy": "CombineCompatibleSchemas"},
    }
    # One include path, the input prefix: the combined table is named after its folder, which is
    # the table the pipeline reads (PipelineSettings.glue_table defaults to the prefix's name).
    assert [t["Path"] for t in stored["Targets"]["S3Targets"]] == ["s3://acme-movies/landing/"]
    assert ("ConnectionName" in stored["Targets"]["S3Targets"][0]) == in_vpc
