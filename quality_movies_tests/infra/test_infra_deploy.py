"""The deploy steps on moto: the stack through change sets, per variant, then the Glue package upload.

moto's CloudFormation creates the stack's S3, KMS, IAM, SNS, Step Functions, EventBridge and EC2
(security groups, ingress rules, VPC endpoints) pieces. It skips bucket policies, Glue, CloudWatch
alarms, security-group egress rules, Redshift Serverless and Lake Formation (``Tried to parse ... but
it's not supported``), and of a bucket it applies only the encryption and tags (not logging, versioning
or the public access block). Those are linted and scanned only (test_infra_scan.py) and read from the
template (test_infra_hardening.py). moto also computes no Outputs for stacks made through change sets.
"""

import ast
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from quality_movies import glue_package
from quality_movies.glue_package import main as glue_package_main
from quality_movies.infra.export import export_infra
from quality_movies.infra.variants import (
    EXAMPLE_REDSHIFT_SECURITY_GROUP,
    EXAMPLE_ROUTE_TABLES,
    EXAMPLE_SUBNETS,
    EXAMPLE_VPC,
    VARIANTS,
)
from quality_movies.settings import PipelineSettings
from quality_movies_tests.aws_env import use_fake_aws_credentials
from quality_movies_tests.glue.test_glue_package import stand_in_wheels

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")

# What moto 5.2.5 cannot create from a template; everything else in the stack it creates.
NOT_IN_MOTO = {
    "AWS::S3::BucketPolicy",
    "AWS::Glue::Database",
    "AWS::Glue::Crawler",
    "AWS::Glue::Job",
    "AWS::Glue::SecurityConfiguration",
    "AWS::Glue::Connection",
    "AWS::CloudWatch::Alarm",
    "AWS::EC2::SecurityGroupEgress",
    "AWS::RedshiftServerless::Namespace",
    "AWS::RedshiftServerless::Workgroup",
    "AWS::LakeFormation::PrincipalPermissions",
}
STACK = "quality-movies"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deploy")
    export_infra(out, PipelineSettings())
    return out


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    use_fake_aws_credentials(monkeypatch, REGION)
    monkeypatch.delenv("QUALITY_MOVIES_AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def network(aws: None) -> dict[str, str]:
    """An existing VPC as the seed has one: three private subnets, a route table, Redshift's group."""
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in enumerate("abc")
    ]
    route_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    redshift_group = ec2.create_security_group(
        GroupName="redshift", Description="Redshift workgroup", VpcId=vpc
    )["GroupId"]
    return {
        EXAMPLE_VPC: vpc,
        EXAMPLE_SUBNETS: ",".join(subnets),
        EXAMPLE_ROUTE_TABLES: route_table,
        EXAMPLE_REDSHIFT_SECURITY_GROUP: redshift_group,
    }


def deploy(template: Path, parameters: list[dict[str, str]]) -> dict[str, str]:
    """What `aws cloudformation deploy` does: a change set (CREATE or UPDATE), executed.

    Returns the physical ID of each resource moto created (moto computes no Outputs for a stack
    made through change sets).
    """
    cloudformation = boto3.client("cloudformation")
    existing = [s["StackName"] for s in cloudformation.list_stacks()["StackSummaries"]]
    change_set = cloudformation.create_change_set(
        StackName=STACK,
        ChangeSetName=f"deploy-{len(existing)}",
        ChangeSetType="UPDATE" if STACK in existing else "CREATE",
        TemplateBody=template.read_text(),
        Parameters=parameters,
        Capabilities=["CAPABILITY_IAM"],
    )
    cloudformation.execute_change_set(ChangeSetName=change_set["Id"], StackName=STACK)
    (stack,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), stack
    return physical_ids()


def variant_parameters(exported: Path, variant: str, ids: dict[str, str]) -> list[dict[str, str]]:
    """The exported parameter file with the example IDs replaced by the VPC's real ones."""
    entries = json.loads((exported / "parameters" / f"{variant}.json").read_text())
    return [
        {**e, "ParameterValue": ids.get(e["ParameterValue"], e["ParameterValue"])} for e in entries
    ]


def physical_ids() -> dict[str, str]:
    resources = boto3.client("cloudformation").list_stack_resources(StackName=STACK)
    return {
        r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources["StackResourceSummaries"]
    }


def inline_statements(role_name: str) -> dict[str, dict[str, Any]]:
    iam = boto3.client("iam")
    by_sid = {}
    for policy in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=policy)["PolicyDocument"]
        if isinstance(document, str):
            # moto 5.2.5 answers a CloudFormation-made inline policy with the dict's Python repr.
            document = ast.literal_eval(document)
        by_sid.update({s["Sid"]: s for s in document["Statement"]})
    return by_sid


def test_moto_creates_every_resource_but_the_types_it_lacks(
    exported: Path, network: dict[str, str]
) -> None:
    template = yaml.safe_load((exported / "template.yaml").read_text())
    parameters = variant_parameters(exported, "network-serverless-redshift-lake-formation", network)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ids = deploy(exported / "template.yaml", parameters)

    skipped = {
        str(w.message).split()[3] for w in caught if str(w.message).startswith("Tried to parse")
    }
    assert skipped == NOT_IN_MOTO
    # (moto also lists one summary without a logical ID.)
    created = {template["Resources"][name]["Type"] for name in ids if name}
    all_types = {
        resource["Type"]
        for resource in template["Resources"].values()
        # the per-file trigger is the default; DagsterService is false here
        if resource.get("Condition") not in {"BatchedTrigger", *DAGSTER_CONDITIONS}
    }
    assert created == all_types - NOT_IN_MOTO - {"AWS::SNS::Subscription"}  # no e-mail given


def test_default_variant_deploys_the_hardened_stack(exported: Path, aws: None) -> None:
    ids = deploy(exported / "template.yaml", [])
    # (moto 5.2.5's DescribeKey fails on a key whose policy came from CloudFormation: build the ARN.)
    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{ids['DataKey']}"

    s3 = boto3.client("s3")
    (rule,) = s3.get_bucket_encryption(Bucket="quality-movie-bucket")[
        "ServerSideEncryptionConfiguration"
    ]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key_arn,
    }
    assert s3.head_bucket(Bucket=ids["AccessLogBucket"])
    kms = boto3.client("kms")
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True
    topic = boto3.client("sns").get_topic_attributes(TopicArn=ids["NotificationTopic"])
    assert topic["Attributes"]["KmsMasterKeyId"] == ids["DataKey"]
    job_role = inline_statements(ids["GlueJobRole"])
    assert job_role["PutMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": ["Glue", "QualityMovies"]}
    }
    assert job_role["UseDataKey"]["Resource"] == key_arn
    assert "RedshiftCopyRole" not in ids
    assert "GlueSecurityGroup" not in ids
    assert boto3.client("ec2").describe_vpc_endpoints()["VpcEndpoints"] == []


def test_network_variant_adds_endpoints_and_leaves_redshift_closed(
    exported: Path, network: dict[str, str]
) -> None:
    vpc = network[EXAMPLE_VPC]
    ids = deploy(
        exported / "template.yaml",
        variant_parameters(exported, "network-existing-redshift", network),
    )

    ec2 = boto3.client("ec2")
    endpoints = {
        e["ServiceName"]: e
        for e in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
            "VpcEndpoints"
        ]
    }
    assert set(endpoints) == {
        f"com.amazonaws.{REGION}.{service}"
        for service in (
            *("s3", "glue", "monitoring", "logs"),
            *("sns", "redshift-data", "redshift-serverless"),  # the job's pipeline runs
        )
    }
    assert endpoints[f"com.amazonaws.{REGION}.s3"]["VpcEndpointType"] == "Gateway"
    assert endpoints[f"com.amazonaws.{REGION}.s3"]["RouteTableIds"] == [
        network[EXAMPLE_ROUTE_TABLES]
    ]
    for service in ("glue", "monitoring", "logs"):
        endpoint = endpoints[f"com.amazonaws.{REGION}.{service}"]
        assert endpoint["VpcEndpointType"] == "Interface"
        assert sorted(endpoint["SubnetIds"]) == sorted(network[EXAMPLE_SUBNETS].split(","))
    # Glue never connects to Redshift (the load is a Data API COPY): nothing opens the VPC's groups to it.
    (redshift_group,) = ec2.describe_security_groups(
        GroupIds=[network[EXAMPLE_REDSHIFT_SECURITY_GROUP]]
    )["SecurityGroups"]
    assert redshift_group["IpPermissions"] == []
    (glue_group,) = ec2.describe_security_groups(GroupIds=[ids["GlueSecurityGroup"]])[
        "SecurityGroups"
    ]
    assert glue_group["VpcId"] == vpc
    copy_role = inline_statements(ids["RedshiftCopyRole"])
    assert copy_role["ReadValidatedRows"]["Resource"] == (
        "arn:aws:s3:::quality-movie-bucket/validated_movies/*"
    )


# moto 5.2.5's CloudFormation has no ``MasterUserSecret.SecretArn`` attribute on AWS::RDS::DBInstance
# (AWS documents it as a return value): the Dagster variant is linted, scanned, read from the template
# and its dagster.yaml run on PostgreSQL instead (test_dagster_postgres.py).
NOT_DEPLOYABLE_ON_MOTO = {"network-existing-redshift-dagster"}
DAGSTER_CONDITIONS = {"RunDagster", "CreateDagsterEndpoints"}


@pytest.mark.parametrize("variant", sorted(set(VARIANTS) - NOT_DEPLOYABLE_ON_MOTO))
def test_every_variant_deploys(exported: Path, network: dict[str, str], variant: str) -> None:
    ids = deploy(exported / "template.yaml", variant_parameters(exported, variant, network))

    with_vpc = "VpcId" in VARIANTS[variant]
    assert ("GlueSecurityGroup" in ids) is with_vpc
    assert "RedshiftCopyRole" in ids  # every variant has a Redshift target
    assert ids["DataBucket"] == "quality-movie-bucket"


def without_dagster(exported: Path, tmp_path: Path) -> Path:
    """The template without the Dagster side: moto 5.2.5 updates a resource whose Condition is false
    as if it were true (its ECS service then fails with KeyError 'Cluster')."""
    template = yaml.safe_load((exported / "template.yaml").read_text())
    for name, resource in list(template["Resources"].items()):
        if resource.get("Condition") in DAGSTER_CONDITIONS:
            del template["Resources"][name]
    for name, output in list(template["Outputs"].items()):
        if output.get("Condition") in DAGSTER_CONDITIONS:
            del template["Outputs"][name]
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(template, sort_keys=False))
    return path


def test_update_adds_the_network_to_a_running_stack(
    exported: Path, network: dict[str, str], tmp_path: Path
) -> None:
    template = without_dagster(exported, tmp_path)
    deploy(template, [])
    assert boto3.client("ec2").describe_vpc_endpoints()["VpcEndpoints"] == []

    deploy(template, variant_parameters(exported, "network-existing-redshift", network))

    endpoints = boto3.client("ec2").describe_vpc_endpoints()["VpcEndpoints"]
    assert len(endpoints) == 7  # S3, Glue, monitoring, logs, SNS, Redshift Data API and Serverless
    assert "GlueSecurityGroup" in physical_ids()


def test_glue_package_uploads_into_the_deployed_bucket_under_the_key(
    exported: Path,
    aws: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The locked dependency wheels come from the package index; stand-ins keep the test offline.
    monkeypatch.setattr(glue_package, "fetch_locked_wheels", stand_in_wheels)
    bucket = deploy(exported / "template.yaml", [])["DataBucket"]

    assert glue_package_main(["--out", str(tmp_path / "glue"), "--upload"]) == 0

    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="glue-assets/")
    keys = sorted(item["Key"] for item in listed["Contents"])
    template = (exported / "template.yaml").read_text()
    wheel = f"glue-assets/{glue_package.wheel_name()}"
    dependencies = [f"glue-assets/{w.file}" for w in glue_package.read_lock()]
    assert keys == sorted(
        ["glue-assets/quality_movies_job.py", "glue-assets/ruleset.dqdl", wheel, *dependencies]
    )
    # The job's ScriptLocation, the GlueJobWheel default and the modules the job installs name
    # exactly what was uploaded.
    assert "ScriptLocation: s3://quality-movie-bucket/glue-assets/quality_movies_job.py" in template
    assert f"Default: {wheel.removeprefix('glue-assets/')}" in template
    job = yaml.safe_load(template)["Resources"]["DataQualityJob"]["Properties"]
    modules = job["DefaultArguments"]["--additional-python-modules"]["Fn::Sub"].split(",")
    assert modules == [
        "s3://quality-movie-bucket/glue-assets/${GlueJobWheel}",
        *(f"s3://quality-movie-bucket/{key}" for key in dependencies),
    ]
    assert job["DefaultArguments"]["--python-modules-installer-option"] == "--no-index"
    head = s3.head_object(Bucket=bucket, Key="glue-assets/quality_movies_job.py")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert "uploaded s3://quality-movie-bucket/glue-assets/" in capsys.readouterr().out
