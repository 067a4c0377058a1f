"""The optional Dagster side of the stack: webserver and daemon on ECS Fargate, run history on RDS.

With ``DagsterService=true`` (and a VPC and a Redshift target) the stack runs this code location as two
Fargate services in the VPC's private subnets: ``dagster-webserver`` (the UI, port 3000, reached from
``DagsterWebserverCidr``, e.g. a VPN) and ``dagster-daemon`` (sensors, schedules, the run queue). Run and
event storage is PostgreSQL on RDS; its credentials are the RDS-managed secret in Secrets Manager,
handed to the containers by ECS. Runs are launched by the daemon in its own task (``DefaultRunLauncher``):
a run only orchestrates Glue, Redshift and SNS, so a Fargate task per run (dagster-aws's
``EcsRunLauncher``) would add a minute of start-up and ``ecs:RunTask``/``iam:PassRole`` rights for no
gain. Both containers log to one CloudWatch log group, encrypted with the stack's key.
"""

from dataclasses import fields
from typing import Any

from quality_movies.infra.cfn import (
    arn,
    bucket_arn,
    cfn_lint_ignores,
    equals,
    glue_arn,
    list_bucket,
    ref,
    role,
    sub,
)
from quality_movies.infra.network import CREATE_ENDPOINTS, USE_VPC
from quality_movies.infra.redshift import COPY_ROLE, USE_REDSHIFT
from quality_movies.infra.security import DAGSTER_LOG_GROUP_PREFIX, DATA_KEY, use_data_key
from quality_movies.settings import ENV_PREFIX, REFERENCE_PREFIX, PipelineSettings

RUN_DAGSTER = "RunDagster"
CREATE_DAGSTER_ENDPOINTS = "CreateDagsterEndpoints"
DAGSTER_GROUP = "DagsterSecurityGroup"
DATABASE = "DagsterDatabase"
DATABASE_GROUP = "DagsterDatabaseSecurityGroup"
LOG_GROUP = "DagsterLogGroup"
DAGSTER_HOME = "/opt/dagster/home"
WEBSERVER_PORT = 3000
POSTGRES_PORT = 5432
DATABASE_NAME = "dagster"
MAX_CONCURRENT_RUNS = 4
# What the Fargate tasks reach in a private subnet without NAT, besides the network variant's S3, Glue,
# monitoring, logs, SNS, Redshift Data API and Redshift Serverless endpoints: the image registry and the
# database secret.
DAGSTER_ENDPOINTS = {
    "EcrApiEndpoint": "ecr.api",
    "EcrDockerEndpoint": "ecr.dkr",
    "SecretsManagerEndpoint": "secretsmanager",
}


def dagster_instance_config() -> dict[str, Any]:
    """``dagster.yaml`` of the webserver and the daemon: PostgreSQL storage from environment
    variables (ECS fills them from the RDS instance and its secret), runs queued and launched in the
    daemon's process."""
    postgres = {
        "hostname": {"env": "DAGSTER_POSTGRES_HOST"},
        "port": {"env": "DAGSTER_POSTGRES_PORT"},
        "username": {"env": "DAGSTER_POSTGRES_USER"},
        "password": {"env": "DAGSTER_POSTGRES_PASSWORD"},
        "db_name": {"env": "DAGSTER_POSTGRES_DB"},
        # SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3; dagster-postgres brings psycopg2.
        "scheme": "postgresql+psycopg2",
    }
    return {
        "storage": {"postgres": {"postgres_db": postgres}},
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {"max_concurrent_runs": MAX_CONCURRENT_RUNS},
        },
        "run_launcher": {"module": "dagster.core.launcher", "class": "DefaultRunLauncher"},
        "telemetry": {"enabled": False},
    }


def dagster_workspace() -> dict[str, Any]:
    """``workspace.yaml``: this code location, loaded from the installed package."""
    return {
        "load_from": [
            {
                "python_module": {
                    "module_name": "quality_movies.definitions",
                    "location_name": "quality_movies",
                }
            }
        ]
    }


def dagster_parameters() -> dict[str, Any]:
    return {
        "DagsterService": {
            "Type": "String",
            "Default": "false",
            "AllowedValues": ["true", "false"],
            "Description": "Run the Dagster webserver and daemon on ECS Fargate with run history on RDS PostgreSQL (needs VpcId and a RedshiftTarget).",
        },
        "DagsterImage": {
            "Type": "String",
            "Default": "",
            "Description": "Container image with quality_movies, dagster-webserver and dagster-postgres installed and infra/dagster/ in /opt/dagster/home (docs/aws.md).",
        },
        "DagsterWebserverCidr": {
            "Type": "String",
            "Default": "10.0.0.0/8",
            "AllowedPattern": "^([0-9]{1,3}\\.){3}[0-9]{1,3}/[0-9]{1,2}$",
            "Description": "Addresses allowed to the webserver's port 3000 (a VPN or bastion range); it has no public address.",
        },
        "DagsterDatabaseInstanceClass": {
            "Type": "String",
            "Default": "db.t4g.small",
            "AllowedPattern": "^db\\.[a-z0-9]+\\.[a-z0-9]+$",
            "Description": "RDS instance class of the Dagster run and event storage.",
        },
    }


def dagster_conditions() -> dict[str, Any]:
    return {
        RUN_DAGSTER: {
            "Fn::And": [
                equals("DagsterService", "true"),
                {"Condition": USE_VPC},
                {"Condition": USE_REDSHIFT},
            ]
        },
        CREATE_DAGSTER_ENDPOINTS: {
            "Fn::And": [{"Condition": RUN_DAGSTER}, {"Condition": CREATE_ENDPOINTS}]
        },
    }


def dagster_rules() -> dict[str, Any]:
    """CloudFormation refuses ``DagsterService=true`` without what it runs in and on."""
    return {
        "DagsterServiceNeedsVpcImageAndRedshift": {
            "RuleCondition": equals("DagsterService", "true"),
            "Assertions": [
                {
                    "Assert": {"Fn::Not": [equals("VpcId", "")]},
                    "AssertDescription": "With DagsterService=true, give VpcId and SubnetIds (private subnets in two or more zones).",
                },
                {
                    "Assert": {"Fn::Not": [equals("DagsterImage", "")]},
                    "AssertDescription": "With DagsterService=true, give DagsterImage (the image of docs/aws.md).",
                },
                {
                    "Assert": {"Fn::Not": [equals("RedshiftTarget", "none")]},
                    "AssertDescription": "With DagsterService=true, choose a RedshiftTarget: the pipeline loads into it.",
                },
            ],
        }
    }


def _task_role_statements(settings: PipelineSettings) -> list[dict[str, Any]]:
    """What the Dagster process does (docs/aws.md, section 4), on this stack's names only."""
    prefixes = [
        settings.input_prefix,
        settings.bad_records_prefix,
        settings.rule_outcomes_prefix,
        settings.validated_prefix,
        settings.io_manager_prefix,
        settings.pipes_prefix,
        "_ledger/",
        "dq_metrics/",
        "reports/",
    ]
    return [
        list_bucket(settings, [*prefixes, REFERENCE_PREFIX]),
        {
            "Sid": "ReadAndWriteTheLake",
            "Effect": "Allow",
            "Action": [
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
            ],
            "Resource": [bucket_arn(settings, prefix, objects=True) for prefix in prefixes],
        },
        {
            "Sid": "ReadReferenceData",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": bucket_arn(settings, REFERENCE_PREFIX, objects=True),
        },
        {
            "Sid": "RunTheCrawler",
            "Effect": "Allow",
            "Action": ["glue:StartCrawler", "glue:GetCrawler"],
            "Resource": glue_arn(f"crawler/{settings.crawler_name}"),
        },
        {
            "Sid": "RunTheQualityJob",
            "Effect": "Allow",
            "Action": ["glue:StartJobRun", "glue:GetJobRun", "glue:BatchStopJobRun"],
            "Resource": glue_arn(f"job/{settings.glue_job_name}"),
        },
        {
            "Sid": "ReadTheCrawledTable",
            "Effect": "Allow",
            "Action": "glue:GetTable",
            "Resource": [
                glue_arn("catalog"),
                glue_arn(f"database/{settings.glue_database}"),
                glue_arn(f"table/{settings.glue_database}/{settings.glue_table}"),
            ],
        },
        {
            "Sid": "LoadThroughTheDataApi",
            "Effect": "Allow",
            "Action": ["redshift-data:ExecuteStatement", "redshift-data:BatchExecuteStatement"],
            "Resource": sub(
                "arn:${AWS::Partition}:redshift-serverless:${AWS::Region}:${AWS::AccountId}:workgroup/*"
            ),
        },
        {
            # These act on statement IDs, and AWS shows callers their own statements only.
            "Sid": "FollowOwnStatements",
            "Effect": "Allow",
            "Action": [
                "redshift-data:DescribeStatement",
                "redshift-data:GetStatementResult",
                "redshift-data:CancelStatement",
            ],
            "Resource": "*",
        },
        {
            "Sid": "TemporaryDatabaseCredentials",
            "Effect": "Allow",
            "Action": "redshift-serverless:GetCredentials",
            "Resource": sub(
                "arn:${AWS::Partition}:redshift-serverless:${AWS::Region}:${AWS::AccountId}:workgroup/*"
            ),
        },
        {
            "Sid": "Notify",
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": ref("NotificationTopic"),
        },
        {
            "Sid": "PutQualityMetrics",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": settings.metrics_namespace}},
        },
        use_data_key("kms:Decrypt", "kms:GenerateDataKey"),
    ]


def _execution_role_statements() -> list[dict[str, Any]]:
    """What ECS needs to start the containers: the image, the log group, the database secret."""
    return [
        {
            "Sid": "RegistryLogin",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*",
        },
        {
            "Sid": "PullTheImage",
            "Effect": "Allow",
            "Action": [
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchCheckLayerAvailability",
            ],
            "Resource": sub(
                "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/*"
            ),
        },
        {
            "Sid": "WriteContainerLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": sub(f"${{{LOG_GROUP}.Arn}}"),
        },
        {
            "Sid": "ReadTheDatabaseSecret",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": {"Fn::GetAtt": [DATABASE, "MasterUserSecret.SecretArn"]},
        },
        use_data_key("kms:Decrypt"),
    ]


def _environment(settings: PipelineSettings) -> list[dict[str, Any]]:
    """The containers' environment: the pipeline's settings, the stack's ARNs and its Glue job
    parameters (docs/aws.md)."""
    values: dict[str, Any] = {
        "DAGSTER_HOME": DAGSTER_HOME,
        "DAGSTER_POSTGRES_HOST": {"Fn::GetAtt": [DATABASE, "Endpoint.Address"]},
        "DAGSTER_POSTGRES_PORT": {"Fn::GetAtt": [DATABASE, "Endpoint.Port"]},
        "DAGSTER_POSTGRES_DB": DATABASE_NAME,
        "QUALITY_MOVIES_ENV": "aws",
        "QUALITY_MOVIES_HOME": "/tmp/quality_movies",
        "QUALITY_MOVIES_REGION": ref("AWS::Region"),
        "QUALITY_MOVIES_BUCKET": settings.bucket,
        "QUALITY_MOVIES_SNS_TOPIC_ARN": ref("NotificationTopic"),
        "QUALITY_MOVIES_REDSHIFT_WORKGROUP": ref("RedshiftWorkgroupName"),
        "QUALITY_MOVIES_REDSHIFT_DATABASE": ref("RedshiftDatabaseName"),
        "QUALITY_MOVIES_REDSHIFT_IAM_ROLE_ARN": arn(COPY_ROLE),
        "QUALITY_MOVIES_GLUE_MAX_CONCURRENT_RUNS": ref("GlueMaxConcurrentRuns"),
        "QUALITY_MOVIES_GLUE_EXECUTION_CLASS": ref("GlueExecutionClass"),
    }
    # The other settings the export was made with, where they differ from the defaults (the
    # containers must use the names the template gave the bucket prefixes, crawler, job, ...).
    defaults = PipelineSettings()
    for field in fields(settings):
        name, value = ENV_PREFIX + field.name.upper(), getattr(settings, field.name)
        if name not in values and field.name != "region" and value != getattr(defaults, field.name):
            values[name] = str(value)
    return [{"Name": name, "Value": value} for name, value in values.items()]


def _secrets() -> list[dict[str, Any]]:
    secret = {"Fn::GetAtt": [DATABASE, "MasterUserSecret.SecretArn"]}
    return [
        {"Name": "DAGSTER_POSTGRES_USER", "ValueFrom": {"Fn::Join": ["", [secret, ":username::"]]}},
        {
            "Name": "DAGSTER_POSTGRES_PASSWORD",
            "ValueFrom": {"Fn::Join": ["", [secret, ":password::"]]},
        },
    ]


def _task(settings: PipelineSettings, name: str, command: list[str], cpu: int, memory: int) -> dict:
    return {
        "Type": "AWS::ECS::TaskDefinition",
        "Condition": RUN_DAGSTER,
        "Properties": {
            "Family": sub(f"${{AWS::StackName}}-dagster-{name}"),
            "RequiresCompatibilities": ["FARGATE"],
            "NetworkMode": "awsvpc",
            "Cpu": str(cpu),
            "Memory": str(memory),
            "RuntimePlatform": {"OperatingSystemFamily": "LINUX", "CpuArchitecture": "X86_64"},
            "ExecutionRoleArn": arn("DagsterExecutionRole"),
            "TaskRoleArn": arn("DagsterTaskRole"),
            "ContainerDefinitions": [
                {
                    "Name": f"dagster-{name}",
                    "Image": ref("DagsterImage"),
                    "Essential": True,
                    "Command": command,
                    "Environment": _environment(settings),
                    "Secrets": _secrets(),
                    "PortMappings": (
                        [{"ContainerPort": WEBSERVER_PORT, "Protocol": "tcp"}]
                        if name == "webserver"
                        else []
                    ),
                    "LogConfiguration": {
                        "LogDriver": "awslogs",
                        "Options": {
                            "awslogs-group": ref(LOG_GROUP),
                            "awslogs-region": ref("AWS::Region"),
                            "awslogs-stream-prefix": name,
                        },
                    },
                }
            ],
        },
    }


def _service(name: str, maximum_percent: int, minimum_healthy_percent: int) -> dict[str, Any]:
    return {
        "Type": "AWS::ECS::Service",
        "Condition": RUN_DAGSTER,
        # cfn-lint resolves SubnetIds to its empty default, which the rules forbid with the service.
        "Metadata": cfn_lint_ignores("W1030"),
        "Properties": {
            "ServiceName": sub(f"${{AWS::StackName}}-dagster-{name}"),
            "Cluster": ref("DagsterCluster"),
            "LaunchType": "FARGATE",
            "DesiredCount": 1,
            "TaskDefinition": ref(f"Dagster{name.capitalize()}Task"),
            "DeploymentConfiguration": {
                "MaximumPercent": maximum_percent,
                "MinimumHealthyPercent": minimum_healthy_percent,
            },
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {
                    "AssignPublicIp": "DISABLED",
                    "Subnets": ref("SubnetIds"),
                    "SecurityGroups": [ref(DAGSTER_GROUP)],
                }
            },
        },
    }


def _no_egress() -> list[dict[str, Any]]:
    """Replaces a security group's default allow-all egress (the group only answers)."""
    return [
        {
            "IpProtocol": "icmp",
            "FromPort": 252,
            "ToPort": 86,
            "CidrIp": "255.255.255.255/32",
            "Description": "No outbound traffic",
        }
    ]


def _network_resources() -> dict[str, Any]:
    tcp = {"IpProtocol": "tcp"}
    resources: dict[str, Any] = {
        DAGSTER_GROUP: {
            "Type": "AWS::EC2::SecurityGroup",
            "Condition": RUN_DAGSTER,
            "Properties": {
                "GroupDescription": "quality_movies Dagster webserver and daemon",
                "VpcId": ref("VpcId"),
                "SecurityGroupIngress": [
                    {
                        **tcp,
                        "FromPort": WEBSERVER_PORT,
                        "ToPort": WEBSERVER_PORT,
                        "CidrIp": ref("DagsterWebserverCidr"),
                        "Description": "The Dagster UI, from DagsterWebserverCidr",
                    }
                ],
                "SecurityGroupEgress": [
                    {
                        **tcp,
                        "FromPort": 443,
                        "ToPort": 443,
                        "CidrIp": "0.0.0.0/0",
                        "Description": "HTTPS to AWS APIs (through the VPC endpoints)",
                    }
                ],
            },
        },
        "DagsterToDatabaseEgress": {
            "Type": "AWS::EC2::SecurityGroupEgress",
            "Condition": RUN_DAGSTER,
            "Properties": {
                "GroupId": ref(DAGSTER_GROUP),
                "DestinationSecurityGroupId": ref(DATABASE_GROUP),
                **tcp,
                "FromPort": POSTGRES_PORT,
                "ToPort": POSTGRES_PORT,
                "Description": "Dagster to its run and event storage",
            },
        },
        DATABASE_GROUP: {
            "Type": "AWS::EC2::SecurityGroup",
            "Condition": RUN_DAGSTER,
            "Properties": {
                "GroupDescription": "quality_movies Dagster run and event storage",
                "VpcId": ref("VpcId"),
                "SecurityGroupIngress": [
                    {
                        **tcp,
                        "FromPort": POSTGRES_PORT,
                        "ToPort": POSTGRES_PORT,
                        "SourceSecurityGroupId": ref(DAGSTER_GROUP),
                        "Description": "PostgreSQL from the Dagster tasks only",
                    }
                ],
                "SecurityGroupEgress": _no_egress(),
            },
        },
        "EndpointIngressFromDagster": {
            "Type": "AWS::EC2::SecurityGroupIngress",
            "Condition": CREATE_DAGSTER_ENDPOINTS,
            "Properties": {
                "GroupId": ref("EndpointSecurityGroup"),
                "SourceSecurityGroupId": ref(DAGSTER_GROUP),
                **tcp,
                "FromPort": 443,
                "ToPort": 443,
                "Description": "HTTPS from the Dagster tasks",
            },
        },
    }
    for name, service in DAGSTER_ENDPOINTS.items():
        resources[name] = {
            "Type": "AWS::EC2::VPCEndpoint",
            "Condition": CREATE_DAGSTER_ENDPOINTS,
            "Properties": {
                "VpcId": ref("VpcId"),
                "ServiceName": sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
                "VpcEndpointType": "Interface",
                "PrivateDnsEnabled": True,
                "SubnetIds": ref("SubnetIds"),
                "SecurityGroupIds": [ref("EndpointSecurityGroup")],
            },
        }
    return resources


def _database_resources() -> dict[str, Any]:
    return {
        "DagsterDatabaseSubnetGroup": {
            "Type": "AWS::RDS::DBSubnetGroup",
            "Condition": RUN_DAGSTER,
            "Properties": {
                "DBSubnetGroupDescription": "quality_movies Dagster storage: the private subnets",
                "SubnetIds": ref("SubnetIds"),
            },
        },
        "DagsterDatabaseMonitoringRole": {
            "Type": "AWS::IAM::Role",
            "Condition": RUN_DAGSTER,
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "monitoring.rds.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "ManagedPolicyArns": [
                    sub(
                        "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                        "AmazonRDSEnhancedMonitoringRole"
                    )
                ],
            },
        },
        DATABASE: {
            "Type": "AWS::RDS::DBInstance",
            "Condition": RUN_DAGSTER,
            "DeletionPolicy": "Snapshot",
            "UpdateReplacePolicy": "Snapshot",
            "Properties": {
                "Engine": "postgres",
                "EngineVersion": "16.9",
                "DBInstanceClass": ref("DagsterDatabaseInstanceClass"),
                "AllocatedStorage": "20",
                "StorageType": "gp3",
                "DBName": DATABASE_NAME,
                "MasterUsername": "dagster",
                "ManageMasterUserPassword": True,
                "MasterUserSecret": {"KmsKeyId": ref(DATA_KEY)},
                "StorageEncrypted": True,
                "KmsKeyId": ref(DATA_KEY),
                "DBSubnetGroupName": ref("DagsterDatabaseSubnetGroup"),
                "VPCSecurityGroups": [ref(DATABASE_GROUP)],
                "PubliclyAccessible": False,
                "MultiAZ": True,
                "BackupRetentionPeriod": 7,
                "CopyTagsToSnapshot": True,
                "DeletionProtection": True,
                "AutoMinorVersionUpgrade": True,
                "EnableIAMDatabaseAuthentication": True,
                "EnableCloudwatchLogsExports": ["postgresql", "upgrade"],
                "EnablePerformanceInsights": True,
                "PerformanceInsightsKMSKeyId": ref(DATA_KEY),
                "MonitoringInterval": 60,
                "MonitoringRoleArn": arn("DagsterDatabaseMonitoringRole"),
            },
        },
    }


def dagster_resources(settings: PipelineSettings) -> dict[str, Any]:
    """Cluster, services, task definitions and roles, database, log group and security groups."""
    daemon_command = ["dagster-daemon", "run", "-w", f"{DAGSTER_HOME}/workspace.yaml"]
    webserver_command = [
        "dagster-webserver",
        "-h",
        "0.0.0.0",
        "-p",
        str(WEBSERVER_PORT),
        "-w",
        f"{DAGSTER_HOME}/workspace.yaml",
    ]
    task_role = role("ecs-tasks.amazonaws.com", "run-the-pipeline", _task_role_statements(settings))
    execution_role = role(
        "ecs-tasks.amazonaws.com", "start-dagster-containers", _execution_role_statements()
    )
    return {
        **_network_resources(),
        **_database_resources(),
        LOG_GROUP: {
            "Type": "AWS::Logs::LogGroup",
            "Condition": RUN_DAGSTER,
            "Properties": {
                "LogGroupName": sub(f"{DAGSTER_LOG_GROUP_PREFIX}${{AWS::StackName}}"),
                "RetentionInDays": 365,
                "KmsKeyId": arn(DATA_KEY),
            },
        },
        "DagsterCluster": {
            "Type": "AWS::ECS::Cluster",
            "Condition": RUN_DAGSTER,
            "Properties": {
                "ClusterName": sub("${AWS::StackName}-dagster"),
                "ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}],
            },
        },
        "DagsterTaskRole": {**task_role, "Condition": RUN_DAGSTER},
        "DagsterExecutionRole": {**execution_role, "Condition": RUN_DAGSTER},
        "DagsterWebserverTask": _task(settings, "webserver", webserver_command, 512, 2048),
        "DagsterDaemonTask": _task(settings, "daemon", daemon_command, 1024, 4096),
        "DagsterWebserverService": _service("webserver", 200, 100),
        # One daemon at a time (Dagster's requirement): the old task stops before the new starts.
        "DagsterDaemonService": _service("daemon", 100, 0),
    }


def dagster_outputs() -> dict[str, Any]:
    return {
        "DagsterClusterName": {"Condition": RUN_DAGSTER, "Value": ref("DagsterCluster")},
        "DagsterLogGroupName": {"Condition": RUN_DAGSTER, "Value": ref(LOG_GROUP)},
        "DagsterDatabaseSecretArn": {
            "Condition": RUN_DAGSTER,
            "Value": {"Fn::GetAtt": [DATABASE, "MasterUserSecret.SecretArn"]},
        },
    }
