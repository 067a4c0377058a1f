"""``export-infra``: the checked-in infra/ is the export, both linters are clean, names follow settings."""

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import lint_file

from quality_movies.infra.export import export_infra, main
from quality_movies.settings import PipelineSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN_INFRA = REPO_ROOT / "infra"
EXPORTED_FILES = [
    "dagster/dagster.yaml",
    "dagster/workspace.yaml",
    "eventbridge_rule.json",
    "parameters/network-existing-redshift-dagster.json",
    "parameters/network-existing-redshift.json",
    "parameters/network-serverless-redshift-lake-formation.json",
    "parameters/serverless-redshift-batched.json",
    "parameters/serverless-redshift-lake-formation.json",
    "redshift.sql",
    "step_function.json",
    "step_function_batched.json",
    "template.yaml",
]
STATELINT = Path(sys.executable).parent / "statelint"

CUSTOM = PipelineSettings(
    bucket="acme-movies",
    input_prefix="landing/",
    bad_records_prefix="rejects/",
    glue_assets_prefix="assets/glue/",
    crawler_name="acme-crawler",
    glue_job_name="acme-dq",
    glue_database="acme_db",
    sns_topic_name="acme-topic",
    state_machine_name="acme-pipeline",
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("infra")
    export_infra(out, PipelineSettings())
    return out


@pytest.fixture(scope="module")
def custom_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("custom")
    export_infra(out, CUSTOM)
    return yaml.safe_load((out / "template.yaml").read_text())


def statelint(path: Path) -> subprocess.CompletedProcess[str]:
    assert STATELINT.exists(), (
        f"{STATELINT} is missing: install the dev extras (pip install -e .[dev])"
    )
    return subprocess.run([str(STATELINT), str(path)], capture_output=True, text=True, check=False)


def policy_statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    """Statements of the role's inline policies and of the stack's policies attached to it."""
    resources = template["Resources"]
    documents = [p["PolicyDocument"] for p in resources[role]["Properties"]["Policies"]]
    documents += [
        resource["Properties"]["PolicyDocument"]
        for resource in resources.values()
        if resource["Type"] == "AWS::IAM::Policy"
        and {"Ref": role} in resource["Properties"]["Roles"]
    ]
    return [statement for document in documents for statement in document["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def exported_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_export_writes_the_four_files(exported: Path) -> None:
    assert exported_files(exported) == EXPORTED_FILES


@pytest.mark.parametrize("name", EXPORTED_FILES)
def test_checked_in_infra_is_a_fresh_export(exported: Path, name: str) -> None:
    checked_in = CHECKED_IN_INFRA / name
    assert checked_in.exists(), f"{checked_in} missing: run `quality-movies export-infra`"
    assert checked_in.read_bytes() == (exported / name).read_bytes(), (
        f"{checked_in} differs from a fresh export: run `quality-movies export-infra` and commit infra/"
    )


def test_checked_in_infra_has_no_stale_files() -> None:
    assert exported_files(CHECKED_IN_INFRA) == EXPORTED_FILES


def test_export_is_byte_stable(exported: Path, tmp_path: Path) -> None:
    export_infra(tmp_path, PipelineSettings())

    for name in EXPORTED_FILES:
        assert (tmp_path / name).read_bytes() == (exported / name).read_bytes(), name


def test_redshift_ddl_is_the_warehouse_contract(exported: Path) -> None:
    source = REPO_ROOT / "quality_movies" / "warehouse" / "redshift.sql"
    assert (exported / "redshift.sql").read_bytes() == source.read_bytes()


def test_cfn_lint_reports_nothing(exported: Path) -> None:
    matches = lint_file(exported / "template.yaml")

    assert [str(match) for match in matches] == []


def test_statelint_reports_nothing(exported: Path) -> None:
    result = statelint(exported / "step_function.json")

    assert result.returncode == 0, result.stdout + result.stderr


def test_statelint_catches_a_dangling_next(exported: Path, tmp_path: Path) -> None:
    definition = json.loads((exported / "step_function.json").read_text())
    definition["States"]["Wait For Crawler"]["Next"] = "Nowhere"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(definition))

    result = statelint(broken)

    assert result.returncode != 0
    assert "Nowhere" in result.stdout + result.stderr


def test_template_embeds_the_exported_state_machine_and_pattern(exported: Path) -> None:
    template = yaml.safe_load((exported / "template.yaml").read_text())
    resources = template["Resources"]

    state_machine = resources["PipelineStateMachine"]["Properties"]
    assert state_machine["Definition"] == json.loads((exported / "step_function.json").read_text())
    assert state_machine["DefinitionSubstitutions"] == {
        "NotificationTopicArn": {"Ref": "NotificationTopic"}
    }
    placeholders = set(re.findall(r"\$\{(\w+)\}", json.dumps(state_machine["Definition"])))
    assert placeholders == set(state_machine["DefinitionSubstitutions"])
    # where the state machine's job runs (--pipeline true) load: the job's default arguments
    job_arguments = resources["DataQualityJob"]["Properties"]["DefaultArguments"]
    assert {k: v for k, v in job_arguments.items() if k.startswith("--redshift_")} == {
        "--redshift_workgroup": {"Ref": "RedshiftWorkgroupName"},
        "--redshift_database": {"Ref": "RedshiftDatabaseName"},
        "--redshift_iam_role_arn": {
            "Fn::If": ["UseRedshift", {"Fn::GetAtt": ["RedshiftCopyRole", "Arn"]}, ""]
        },
    }
    rule = resources["InputObjectCreatedRule"]["Properties"]
    assert rule["EventPattern"] == json.loads((exported / "eventbridge_rule.json").read_text())
    assert rule["Targets"][0]["Arn"] == {"Ref": "PipelineStateMachine"}
    assert rule["Name"] == "quality-movies-pipeline-input-object-created"


def test_step_function_waits_15_seconds_by_default(exported: Path) -> None:
    definition = json.loads((exported / "step_function.json").read_text())

    assert definition["States"]["Wait For Crawler"]["Seconds"] == 15


def test_names_come_from_the_settings(custom_template: dict[str, Any]) -> None:
    resources = custom_template["Resources"]
    props = {name: resource.get("Properties", {}) for name, resource in resources.items()}

    assert props["DataBucket"]["BucketName"] == "acme-movies"
    assert props["GlueDatabase"]["DatabaseInput"]["Name"] == "acme_db"
    assert props["InputCrawler"]["Name"] == "acme-crawler"
    (target,) = props["InputCrawler"]["Targets"]["S3Targets"]
    assert target["Path"] == "s3://acme-movies/landing/"
    job = props["DataQualityJob"]
    assert job["Name"] == "acme-dq"
    assert job["Command"]["ScriptLocation"] == "s3://acme-movies/assets/glue/quality_movies_job.py"
    modules = job["DefaultArguments"]["--additional-python-modules"]["Fn::Sub"].split(",")
    assert modules[0] == "s3://acme-movies/assets/glue/${GlueJobWheel}"
    assert all(m.startswith("s3://acme-movies/assets/glue/") for m in modules)
    assert job["DefaultArguments"]["--bad_records_prefix"] == "rejects/"
    assert job["GlueVersion"] == {"Ref": "GlueVersion"}
    assert job["WorkerType"] == {"Ref": "GlueWorkerType"}
    assert job["NumberOfWorkers"] == {"Ref": "GlueNumberOfWorkers"}
    assert props["NotificationTopic"]["TopicName"] == "acme-topic"
    assert props["PipelineStateMachine"]["StateMachineName"] == "acme-pipeline"
    states = props["PipelineStateMachine"]["Definition"]["States"]
    assert states["Start Crawler"]["Parameters"] == {"Name": "acme-crawler"}
    assert states["Run Glue Job"]["Parameters"]["JobName"] == "acme-dq"
    detail = props["InputObjectCreatedRule"]["EventPattern"]["detail"]
    assert detail == {
        "bucket": {"name": ["acme-movies"]},
        "object": {"key": [{"prefix": "landing/"}]},
    }


def test_email_subscription_only_with_an_address(custom_template: dict[str, Any]) -> None:
    subscription = custom_template["Resources"]["NotificationEmailSubscription"]

    assert subscription["Condition"] == "HasNotificationEmail"
    assert custom_template["Conditions"]["HasNotificationEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "NotificationEmail"}, ""]}]
    }
    assert custom_template["Parameters"]["NotificationEmail"]["Default"] == ""


def test_bucket_is_private_encrypted_tls_only_and_tells_eventbridge(
    custom_template: dict[str, Any],
) -> None:
    resources = custom_template["Resources"]
    bucket = resources["DataBucket"]["Properties"]

    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert bucket["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    (deny,) = resources["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_state_machine_role_reaches_only_its_crawler_job_topic_and_key(
    custom_template: dict[str, Any],
) -> None:
    statements = policy_statements(custom_template, "StateMachineRole")
    resources = [resource for s in statements for resource in as_list(s["Resource"])]

    assert resources == [
        {
            "Fn::Sub": "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:crawler/acme-crawler"
        },
        {"Fn::Sub": "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:job/acme-dq"},
        {"Ref": "NotificationTopic"},
        {"Fn::GetAtt": ["DataKey", "Arn"]},  # the topic is encrypted with the stack's key
    ]


def test_glue_roles_touch_only_their_bucket_prefixes(custom_template: dict[str, Any]) -> None:
    allowed_objects = {
        "CrawlerRole": {"landing/*"},
        "GlueJobRole": {
            "landing/*",
            "assets/glue/*",
            "rejects/*",
            "rule_outcome_from_etl/*",
            "validated_movies/*",
            "assets/glue/temp/*",
            "dagster-pipes/*",  # Dagster Pipes context and messages when Dagster starts the job
            "reference_data/*",  # the datasets the rules name (read only)
            # the state machine's runs (--pipeline true): their reports, the ledger of file
            # versions and the metric history, as the Dagster path keeps them
            "assets/glue/reports/*",
            "_ledger/*",
            "dq_metrics/*",
        },
        "RedshiftCopyRole": {"validated_movies/*"},
    }
    for role, prefixes in allowed_objects.items():
        object_arns = set()
        for statement in policy_statements(custom_template, role):
            for resource in as_list(statement["Resource"]):
                text = resource.get("Fn::Sub", "") if isinstance(resource, dict) else resource
                if ":s3:::" in text:
                    object_arns.add(text.split(":s3:::", 1)[1])
        bucket_objects = {arn.removeprefix("acme-movies/") for arn in object_arns} - {"acme-movies"}
        assert bucket_objects == prefixes, role


def test_wildcard_resources_only_for_actions_without_resource_level_permissions(
    custom_template: dict[str, Any],
) -> None:
    # cloudwatch:PutMetricData, ec2:Describe* and lakeformation:GetDataAccess take no resource ARN
    # (IAM service authorization reference); PutMetricData is held to two namespaces instead.
    # redshift-data:DescribeStatement and GetStatementResult act on statement ids (no resource type);
    # AWS shows a caller its own statements only.
    wildcard = [
        (role, statement["Sid"])
        for role in (
            "CrawlerRole",
            "GlueJobRole",
            "StateMachineRole",
            "EventsRole",
            "RedshiftCopyRole",
        )
        for statement in policy_statements(custom_template, role)
        if "*" in as_list(statement["Resource"])
    ]

    assert wildcard == [
        ("CrawlerRole", "DescribeTheVpc"),
        ("CrawlerRole", "LakeFormationDataAccess"),
        ("GlueJobRole", "FollowOwnStatements"),
        ("GlueJobRole", "PutMetrics"),
        ("GlueJobRole", "DescribeTheVpc"),
        ("GlueJobRole", "LakeFormationDataAccess"),
    ]
    attached = {
        name: resource["Condition"]
        for name, resource in custom_template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Policy"
    }
    assert attached == {
        "GlueInVpcPolicy": "UseVpc",
        "LakeFormationDataAccessPolicy": "GrantLakeFormation",
    }
    for role in ("CrawlerRole", "GlueJobRole"):
        for statement in policy_statements(custom_template, role):
            if statement["Sid"] in ("DescribeTheVpc",):
                assert all(action.startswith("ec2:Describe") for action in statement["Action"])


def test_main_writes_to_out_with_env_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QUALITY_MOVIES_BUCKET", "env-bucket")

    assert main(["--out", str(tmp_path / "out"), "--crawler-poll-seconds", "3"]) == 0

    assert exported_files(tmp_path / "out") == EXPORTED_FILES
    pattern = json.loads((tmp_path / "out" / "eventbridge_rule.json").read_text())
    assert pattern["detail"]["bucket"]["name"] == ["env-bucket"]
    definition = json.loads((tmp_path / "out" / "step_function.json").read_text())
    assert definition["States"]["Wait For Crawler"]["Seconds"] == 3
    assert "template.yaml" in capsys.readouterr().out


def test_main_rejects_a_zero_poll_interval(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path), "--crawler-poll-seconds", "0"])

    assert exit_info.value.code == 2
