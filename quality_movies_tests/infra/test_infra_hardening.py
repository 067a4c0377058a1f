"""What the stack promises, read from the template: encryption, access logs, alarms, network, Redshift.

Expectations come from the issue and the AWS documentation of each resource type, not from the code.
"""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from quality_movies.infra.export import export_infra
from quality_movies.settings import PipelineSettings

KEY_ARN = {"Fn::GetAtt": ["DataKey", "Arn"]}
NO_VALUE = {"Ref": "AWS::NoValue"}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("hardening")
    export_infra(
        out,
        PipelineSettings(
            bucket="acme-movies", validated_prefix="clean/", metrics_namespace="AcmeQuality"
        ),
    )
    return yaml.safe_load((out / "template.yaml").read_text())


def props(template: dict[str, Any], name: str) -> dict[str, Any]:
    return template["Resources"][name]["Properties"]


def statements(template: dict[str, Any], role: str) -> dict[str, dict[str, Any]]:
    """The role's inline statements by Sid."""
    policies = props(template, role)["Policies"]
    return {s["Sid"]: s for p in policies for s in p["PolicyDocument"]["Statement"]}


def test_the_metrics_namespace_setting_defaults_to_quality_movies() -> None:
    assert PipelineSettings().metrics_namespace == "QualityMovies"
    assert (
        PipelineSettings.from_env({"QUALITY_MOVIES_METRICS_NAMESPACE": "X"}).metrics_namespace
        == "X"
    )


def test_one_rotating_key_kept_with_the_data(template: dict[str, Any]) -> None:
    key = template["Resources"]["DataKey"]

    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"  # the retained bucket's objects need it
    services = {
        statement["Sid"]: statement["Principal"]
        for statement in key["Properties"]["KeyPolicy"]["Statement"]
    }
    assert services["CloudWatchLogsEncryptGlueAndDagsterLogs"] == {
        "Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}
    }
    # CloudWatch alarms publish to an encrypted topic only if the key lets cloudwatch.amazonaws.com in.
    assert services["CloudWatchAlarmsPublishToTheTopic"] == {"Service": "cloudwatch.amazonaws.com"}


def test_bucket_is_encrypted_with_the_key_and_logs_its_access(template: dict[str, Any]) -> None:
    bucket = props(template, "DataBucket")

    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": KEY_ARN,
    }
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "AccessLogBucket"}


def test_log_bucket_takes_logs_from_the_data_bucket_only(template: dict[str, Any]) -> None:
    log_bucket = props(template, "AccessLogBucket")
    policy = props(template, "AccessLogBucketPolicy")["PolicyDocument"]["Statement"]
    prefix = props(template, "DataBucket")["LoggingConfiguration"]["LogFilePrefix"]

    # Server access logs can be delivered only to a bucket with SSE-S3 default encryption.
    (rule,) = log_bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert set(log_bucket["PublicAccessBlockConfiguration"].values()) == {True}
    allow, deny = policy
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow["Action"] == "s3:PutObject"
    assert allow["Condition"]["ArnLike"] == {
        "aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:s3:::acme-movies"}
    }
    assert allow["Resource"]["Fn::Sub"].endswith(f"/{prefix.split('/')[0]}/*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_topic_is_encrypted_with_the_key(template: dict[str, Any]) -> None:
    assert props(template, "NotificationTopic")["KmsMasterKeyId"] == {"Ref": "DataKey"}


def test_glue_security_configuration_encrypts_output_logs_and_bookmarks(
    template: dict[str, Any],
) -> None:
    encryption = props(template, "GlueSecurityConfiguration")["EncryptionConfiguration"]

    assert encryption == {
        "S3Encryptions": [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": KEY_ARN}],
        "CloudWatchEncryption": {"CloudWatchEncryptionMode": "SSE-KMS", "KmsKeyArn": KEY_ARN},
        "JobBookmarksEncryption": {"JobBookmarksEncryptionMode": "CSE-KMS", "KmsKeyArn": KEY_ARN},
    }
    configuration = {"Ref": "GlueSecurityConfiguration"}
    assert props(template, "InputCrawler")["CrawlerSecurityConfiguration"] == configuration
    assert props(template, "DataQualityJob")["SecurityConfiguration"] == configuration


@pytest.mark.parametrize("role", ["CrawlerRole", "GlueJobRole"])
def test_glue_roles_may_use_the_key_for_their_encrypted_logs(
    template: dict[str, Any], role: str
) -> None:
    # AWS Glue developer guide, "Setting up encryption": logs:AssociateKmsKey and the key's actions.
    by_sid = statements(template, role)

    assert "logs:AssociateKmsKey" in by_sid["WriteGlueLogs"]["Action"]
    assert by_sid["UseDataKey"]["Resource"] == KEY_ARN
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= set(by_sid["UseDataKey"]["Action"])


@pytest.mark.parametrize(
    ("name", "metric"),
    [("RulesFailedAlarm", "RulesFailed"), ("AnomaliesDetectedAlarm", "AnomaliesDetected")],
)
def test_alarm_on_the_first_failure_in_five_minutes(
    template: dict[str, Any], name: str, metric: str
) -> None:
    alarm = template["Resources"][name]

    assert alarm["Type"] == "AWS::CloudWatch::Alarm"
    properties = alarm["Properties"]
    assert {
        key: properties[key] for key in properties if key not in ("AlarmName", "AlarmDescription")
    } == {
        "Namespace": "AcmeQuality",
        "MetricName": metric,
        "Statistic": "Sum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": "NotificationTopic"}],
    }
    assert "Dimensions" not in properties


def test_job_role_puts_metrics_only_in_glue_and_the_pipeline_namespace(
    template: dict[str, Any],
) -> None:
    put = statements(template, "GlueJobRole")["PutMetrics"]

    assert put["Action"] == "cloudwatch:PutMetricData"
    assert put["Condition"] == {"StringEquals": {"cloudwatch:namespace": ["Glue", "AcmeQuality"]}}


def test_vpc_pieces_exist_only_with_a_vpc(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    conditions = template["Conditions"]

    assert conditions["UseVpc"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "VpcId"}, ""]}]}
    assert template["Parameters"]["VpcId"]["Default"] == ""
    for name in ("GlueSecurityGroup", "GlueNetworkConnection", "GlueInVpcPolicy"):
        assert resources[name]["Condition"] == "UseVpc", name
    for name in ("S3GatewayEndpoint", "GlueEndpoint", "MonitoringEndpoint", "LogsEndpoint"):
        assert resources[name]["Condition"] == "CreateVpcEndpointsInVpc", name
    unconditional_refs_to_vpc_pieces = [
        name
        for name, resource in resources.items()
        if "Condition" not in resource
        and "GlueNetworkConnection" in str(resource)
        and "Fn::If" not in str(resource)
    ]
    assert unconditional_refs_to_vpc_pieces == []


def test_job_and_crawler_use_the_network_connection_with_a_vpc(template: dict[str, Any]) -> None:
    connection = props(template, "GlueNetworkConnection")["ConnectionInput"]

    assert connection["ConnectionType"] == "NETWORK"
    assert connection["PhysicalConnectionRequirements"]["SubnetId"] == {
        "Fn::Select": [0, {"Ref": "SubnetIds"}]
    }
    assert connection["PhysicalConnectionRequirements"]["AvailabilityZone"] == {
        "Ref": "GlueAvailabilityZone"
    }
    assert connection["PhysicalConnectionRequirements"]["SecurityGroupIdList"] == [
        {"Ref": "GlueSecurityGroup"}
    ]
    assert props(template, "DataQualityJob")["Connections"] == {
        "Fn::If": ["UseVpc", {"Connections": [{"Ref": "GlueNetworkConnection"}]}, NO_VALUE]
    }
    (target,) = props(template, "InputCrawler")["Targets"]["S3Targets"]
    assert target["ConnectionName"] == {
        "Fn::If": ["UseVpc", {"Ref": "GlueNetworkConnection"}, NO_VALUE]
    }


def test_endpoints_for_s3_glue_and_monitoring(template: dict[str, Any]) -> None:
    endpoints = {
        props(template, name)["ServiceName"]["Fn::Sub"]: props(template, name)
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::EC2::VPCEndpoint"
        and resource["Condition"] == "CreateVpcEndpointsInVpc"
    }

    assert set(endpoints) == {
        "com.amazonaws.${AWS::Region}.s3",
        "com.amazonaws.${AWS::Region}.glue",
        "com.amazonaws.${AWS::Region}.monitoring",
        "com.amazonaws.${AWS::Region}.logs",
        # what the job's pipeline runs call (--pipeline true): the per-file messages, the load
        "com.amazonaws.${AWS::Region}.sns",
        "com.amazonaws.${AWS::Region}.redshift-data",
        "com.amazonaws.${AWS::Region}.redshift-serverless",
    }
    s3 = endpoints.pop("com.amazonaws.${AWS::Region}.s3")
    assert s3["VpcEndpointType"] == "Gateway"
    assert s3["RouteTableIds"] == {"Ref": "RouteTableIds"}
    for endpoint in endpoints.values():
        assert endpoint["VpcEndpointType"] == "Interface"
        assert endpoint["PrivateDnsEnabled"] is True
        assert endpoint["SubnetIds"] == {"Ref": "SubnetIds"}


def test_glue_reaches_https_and_its_own_workers_only(template: dict[str, Any]) -> None:
    """Glue talks to AWS APIs through the endpoints and to its own workers (AWS Glue's VPC guide);
    it never connects to Redshift, so no rule names port 5439 or Redshift's group."""
    resources = template["Resources"]
    glue_rules = props(template, "GlueSecurityGroup")["SecurityGroupEgress"]

    assert [(r["IpProtocol"], r["FromPort"], r["ToPort"], r["CidrIp"]) for r in glue_rules] == [
        ("tcp", 443, 443, "0.0.0.0/0")
    ]
    for name in ("GlueSelfIngress", "GlueSelfEgress"):
        rule = props(template, name)
        assert rule["GroupId"] == {"Ref": "GlueSecurityGroup"}
        assert {"Ref": "GlueSecurityGroup"} in (
            rule.get("SourceSecurityGroupId"),
            rule.get("DestinationSecurityGroupId"),
        )
    assert "5439" not in yaml.safe_dump(resources)
    rule_types = ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress")
    glue_rules = {
        n
        for n, r in resources.items()
        if r["Type"] in rule_types and "Glue" in yaml.safe_dump(r["Properties"])
    }
    assert glue_rules == {"GlueSelfIngress", "GlueSelfEgress"}


def test_crawler_combines_compatible_schemas_into_one_table(template: dict[str, Any]) -> None:
    """AWS Glue's crawler configuration for one table per include path (``Grouping``)."""
    configuration = json.loads(props(template, "InputCrawler")["Configuration"])

    assert configuration == {
        "Version": 1.0,
        "Grouping": {"TableGroupingPolicy": "CombineCompatibleSchemas"},
    }


def test_job_role_has_no_unused_data_quality_permission(template: dict[str, Any]) -> None:
    """The job evaluates DQDL itself; nothing calls Glue Data Quality's publish API."""
    actions = [
        action
        for statement in statements(template, "GlueJobRole").values()
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    ]
    assert not [a for a in actions if "DataQuality" in a]


def test_a_vpc_without_subnets_is_refused_before_any_change(template: dict[str, Any]) -> None:
    rule = template["Rules"]["VpcNeedsSubnetsRouteTablesAndZone"]

    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "VpcId"}, ""]}]}
    assert [a["Assert"] for a in rule["Assertions"]] == [
        {"Fn::Not": [{"Fn::Contains": [{"Ref": "SubnetIds"}, ""]}]},
        {"Fn::Not": [{"Fn::Contains": [{"Ref": "RouteTableIds"}, ""]}]},
        {"Fn::Not": [{"Fn::Equals": [{"Ref": "GlueAvailabilityZone"}, ""]}]},
    ]


def test_redshift_target_is_none_unless_asked(template: dict[str, Any]) -> None:
    target = template["Parameters"]["RedshiftTarget"]

    assert target["Default"] == "none"
    assert target["AllowedValues"] == ["none", "serverless", "existing"]
    resources = template["Resources"]
    assert resources["RedshiftCopyRole"]["Condition"] == "UseRedshift"
    assert resources["RedshiftNamespace"]["Condition"] == "CreateRedshiftServerless"
    assert resources["RedshiftWorkgroup"]["Condition"] == "CreateRedshiftServerless"


def test_serverless_admin_password_lives_in_secrets_manager_under_the_key(
    template: dict[str, Any],
) -> None:
    namespace = props(template, "RedshiftNamespace")
    workgroup = props(template, "RedshiftWorkgroup")

    assert namespace["ManageAdminPassword"] is True
    assert "AdminUserPassword" not in namespace
    assert namespace["AdminPasswordSecretKmsKeyId"] == {"Ref": "DataKey"}
    assert namespace["KmsKeyId"] == {"Ref": "DataKey"}
    assert namespace["IamRoles"] == [{"Fn::GetAtt": ["RedshiftCopyRole", "Arn"]}]
    assert workgroup["PubliclyAccessible"] is False
    assert workgroup["NamespaceName"] == {"Ref": "RedshiftNamespace"}


def test_copy_role_reads_only_the_validated_prefix(template: dict[str, Any]) -> None:
    role = props(template, "RedshiftCopyRole")
    by_sid = statements(template, "RedshiftCopyRole")

    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": ["redshift.amazonaws.com", "redshift-serverless.amazonaws.com"]
    }
    assert set(by_sid) == {"ReadValidatedRows", "ListValidatedRows", "UseDataKey"}
    assert by_sid["ReadValidatedRows"]["Action"] == "s3:GetObject"
    assert by_sid["ReadValidatedRows"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::acme-movies/clean/*"
    }
    assert by_sid["ListValidatedRows"]["Condition"] == {"StringLike": {"s3:prefix": ["clean/*"]}}
    assert by_sid["UseDataKey"]["Action"] == ["kms:Decrypt"]


def test_lake_formation_grants_for_the_job_on_database_and_tables(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    job_role = {"DataLakePrincipalIdentifier": {"Fn::GetAtt": ["GlueJobRole", "Arn"]}}

    database = resources["JobDatabaseGrant"]
    tables = resources["JobTablesGrant"]
    for grant in (database, tables):
        assert grant["Type"] == "AWS::LakeFormation::PrincipalPermissions"
        assert grant["Condition"] == "GrantLakeFormation"
        assert grant["Properties"]["Principal"] == job_role
    assert database["Properties"]["Resource"] == {
        "Database": {"CatalogId": {"Ref": "AWS::AccountId"}, "Name": "imdb-movies"}
    }
    assert database["Properties"]["Permissions"] == ["DESCRIBE"]
    assert tables["Properties"]["Resource"]["Table"]["DatabaseName"] == "imdb-movies"
    assert tables["Properties"]["Permissions"] == ["SELECT", "DESCRIBE"]
    assert template["Parameters"]["LakeFormationGrants"]["Default"] == "false"


def test_variant_files_name_only_template_parameters(tmp_path: Path) -> None:
    import json

    export_infra(tmp_path, PipelineSettings())
    parameters = yaml.safe_load((tmp_path / "template.yaml").read_text())["Parameters"]
    for variant in sorted((tmp_path / "parameters").glob("*.json")):
        entries = json.loads(variant.read_text())
        assert entries, variant.name
        for entry in entries:
            assert set(entry) == {"ParameterKey", "ParameterValue"}
            assert entry["ParameterKey"] in parameters, (variant.name, entry["ParameterKey"])
            assert isinstance(entry["ParameterValue"], str)


def test_dagster_side_exists_only_when_asked_with_a_vpc_and_redshift(
    template: dict[str, Any],
) -> None:
    dagster = {n: r for n, r in template["Resources"].items() if n.startswith("Dagster")}

    assert {r["Condition"] for r in dagster.values()} == {"RunDagster"}
    assert template["Parameters"]["DagsterService"]["Default"] == "false"
    assert template["Conditions"]["RunDagster"] == {
        "Fn::And": [
            {"Fn::Equals": [{"Ref": "DagsterService"}, "true"]},
            {"Condition": "UseVpc"},
            {"Condition": "UseRedshift"},
        ]
    }


def test_dagster_storage_is_private_encrypted_and_its_password_in_secrets_manager(
    template: dict[str, Any],
) -> None:
    database = props(template, "DagsterDatabase")

    assert (database["Engine"], database["PubliclyAccessible"]) == ("postgres", False)
    assert database["ManageMasterUserPassword"] is True  # RDS keeps it in Secrets Manager
    assert database["MasterUserSecret"] == {"KmsKeyId": {"Ref": "DataKey"}}
    assert (database["StorageEncrypted"], database["KmsKeyId"]) == (True, {"Ref": "DataKey"})
    (ingress,) = props(template, "DagsterDatabaseSecurityGroup")["SecurityGroupIngress"]
    assert (ingress["FromPort"], ingress["ToPort"]) == (5432, 5432)
    assert ingress["SourceSecurityGroupId"] == {"Ref": "DagsterSecurityGroup"}


def test_dagster_containers_get_the_database_secret_from_ecs_and_log_to_cloudwatch(
    template: dict[str, Any],
) -> None:
    for task in ("DagsterWebserverTask", "DagsterDaemonTask"):
        (container,) = props(template, task)["ContainerDefinitions"]
        secret = {"Fn::GetAtt": ["DagsterDatabase", "MasterUserSecret.SecretArn"]}
        assert container["Secrets"] == [
            {
                "Name": "DAGSTER_POSTGRES_USER",
                "ValueFrom": {"Fn::Join": ["", [secret, ":username::"]]},
            },
            {
                "Name": "DAGSTER_POSTGRES_PASSWORD",
                "ValueFrom": {"Fn::Join": ["", [secret, ":password::"]]},
            },
        ]
        environment = {e["Name"]: e["Value"] for e in container["Environment"]}
        assert environment["QUALITY_MOVIES_ENV"] == "aws"
        assert environment["QUALITY_MOVIES_BUCKET"] == "acme-movies"
        # The settings the export was made with reach the containers (the template's names),
        # and the Glue job's stack parameters drive the runs the daemon starts.
        assert environment["QUALITY_MOVIES_VALIDATED_PREFIX"] == "clean/"
        assert environment["QUALITY_MOVIES_METRICS_NAMESPACE"] == "AcmeQuality"
        assert "QUALITY_MOVIES_CRAWLER_NAME" not in environment
        literal = {k: v for k, v in environment.items() if isinstance(v, str)}
        assert PipelineSettings.from_env(literal) == PipelineSettings(
            bucket="acme-movies", validated_prefix="clean/", metrics_namespace="AcmeQuality"
        )
        assert environment["QUALITY_MOVIES_GLUE_MAX_CONCURRENT_RUNS"] == {
            "Ref": "GlueMaxConcurrentRuns"
        }
        assert environment["QUALITY_MOVIES_GLUE_EXECUTION_CLASS"] == {"Ref": "GlueExecutionClass"}
        assert container["LogConfiguration"]["LogDriver"] == "awslogs"
        assert container["LogConfiguration"]["Options"]["awslogs-group"] == {
            "Ref": "DagsterLogGroup"
        }
    # One daemon at a time: the old task stops before a new one starts.
    daemon = props(template, "DagsterDaemonService")["DeploymentConfiguration"]
    assert (daemon["MaximumPercent"], daemon["MinimumHealthyPercent"]) == (100, 0)


def test_dagster_task_role_reaches_only_the_pipelines_own_resources(
    template: dict[str, Any],
) -> None:
    role = statements(template, "DagsterTaskRole")
    actions = {
        a
        for s in role.values()
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }

    assert not [a for a in actions if a.endswith("*") or a.startswith(("iam:", "ecs:"))]
    assert role["RunTheQualityJob"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:job/quality-movies-dq-job"
    }
    assert role["Notify"]["Resource"] == {"Ref": "NotificationTopic"}
    assert role["PutQualityMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "AcmeQuality"}
    }
