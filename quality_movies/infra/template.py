"""The CloudFormation stack of the AWS pipeline, built from ``PipelineSettings``.

Names (bucket, crawler, job, topic, state machine) come from the settings so that the Dagster resources
and the stack always agree; sizes that operators tune per environment are stack Parameters.
"""

import json
from importlib.metadata import version
from typing import Any

from quality_movies.glue_package import INSTALLER_OPTION, read_lock
from quality_movies.infra.batch_trigger import with_trigger_shapes
from quality_movies.infra.cfn import (
    arn,
    bucket_arn,
    glue_arn,
    if_,
    list_bucket,
    not_empty,
    ref,
    role,
    sub,
)
from quality_movies.infra.dagster_service import (
    dagster_conditions,
    dagster_outputs,
    dagster_parameters,
    dagster_resources,
    dagster_rules,
)
from quality_movies.infra.network import (
    GLUE_CONNECTION,
    USE_VPC,
    network_conditions,
    network_parameters,
    network_resources,
    network_rules,
)
from quality_movies.infra.redshift import (
    COPY_ROLE,
    USE_REDSHIFT,
    lake_formation_resources,
    redshift_conditions,
    redshift_outputs,
    redshift_parameters,
    redshift_resources,
)
from quality_movies.infra.security import (
    ACCESS_LOG_PREFIX,
    DATA_KEY,
    GLUE_SECURITY_CONFIGURATION,
    LOG_BUCKET,
    bucket_policy,
    security_parameters,
    security_resources,
    use_data_key,
)
from quality_movies.infra.state_machine import (
    DEFAULT_CRAWLER_POLL_SECONDS,
    TOPIC_ARN_PLACEHOLDER,
    event_pattern,
    report_prefix,
    state_machine_definition,
)
from quality_movies.settings import REFERENCE_PREFIX, PipelineSettings

GLUE_JOB_SCRIPT = "quality_movies_job.py"
RULES_FAILED_METRIC = "RulesFailed"
ANOMALIES_DETECTED_METRIC = "AnomaliesDetected"
ALARM_PERIOD_SECONDS = 300
# The Glue versions whose runtime the glue_runtime test tier runs the job on (Glue 5.1: Python 3.11,
# Spark 3.5.6; scripts/setup glue-runtime), newest first: the first is the default.
GLUE_VERSIONS = ["5.1"]
CRAWLER_GROUPING = "CombineCompatibleSchemas"
GLUE_WORKER_TYPES = ["G.1X", "G.2X", "G.4X", "G.8X"]
# What the job's pipeline (``--pipeline true``) keeps in the bucket besides the outputs: the ledger of
# file versions (runs.resources.S3Ledger) and the metric history (monitoring.resources.ParquetMetricStore).
LEDGER_PREFIX = "_ledger/"
METRIC_HISTORY_PREFIX = "dq_metrics/"
REDSHIFT_WORKGROUPS = (
    "arn:${AWS::Partition}:redshift-serverless:${AWS::Region}:${AWS::AccountId}:workgroup/*"
)


def glue_job_wheel() -> str:
    """File name of the project wheel Glue pip-installs (``--additional-python-modules``)."""
    return f"quality_movies-{version('quality_movies')}-py3-none-any.whl"


def glue_job_modules(assets: str) -> dict[str, Any]:
    """Job arguments that pip-install the project wheel and its locked dependency wheels from the
    Glue assets prefix, never from a package index (a private subnet needs no NAT)."""
    wheels = [f"{assets}${{GlueJobWheel}}", *(f"{assets}{w.file}" for w in read_lock())]
    return {
        "--additional-python-modules": sub(",".join(wheels)),
        "--python-modules-installer-option": INSTALLER_OPTION,
    }


def input_rule_name(settings: PipelineSettings) -> str:
    """Name of the EventBridge rule, e.g. for ``aws events disable-rule --name``."""
    return f"{settings.state_machine_name}-input-object-created"


def _glue_logs(kind: str) -> dict[str, Any]:
    """Glue's log groups (with a security configuration Glue also associates the key with them)."""
    return {
        "Sid": "WriteGlueLogs",
        "Effect": "Allow",
        "Action": [
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "logs:AssociateKmsKey",
        ],
        "Resource": sub(
            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws-glue/"
            f"{kind}*"
        ),
    }


def crawler_configuration() -> str:
    """The crawler's JSON configuration: files whose schemas are compatible (columns added, reordered
    or missing) make one table, so the pipeline always finds ``glue_table`` after a crawl."""
    return json.dumps({"Version": 1.0, "Grouping": {"TableGroupingPolicy": CRAWLER_GROUPING}})


def _catalog_resources(settings: PipelineSettings) -> list[dict[str, str]]:
    return [
        glue_arn("catalog"),
        glue_arn(f"database/{settings.glue_database}"),
        glue_arn(f"table/{settings.glue_database}/*"),
    ]


def _pipeline_statements() -> list[dict[str, Any]]:
    """What the job's pipeline (``--pipeline true``) does beyond the outputs: load through the
    Redshift Data API with temporary credentials of the workgroup (no database secret), and announce
    each file on the stack's topic."""
    return [
        {
            "Sid": "LoadThroughTheDataApi",
            "Effect": "Allow",
            "Action": ["redshift-data:ExecuteStatement", "redshift-data:BatchExecuteStatement"],
            # a workgroup's ARN carries its id, not its name: the account's workgroups
            "Resource": sub(REDSHIFT_WORKGROUPS),
        },
        {
            # These act on statement ids, and AWS shows callers their own statements only.
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
            "Resource": sub(REDSHIFT_WORKGROUPS),
        },
        {
            "Sid": "AnnounceEachFile",
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": ref("NotificationTopic"),
        },
    ]


def _parameters() -> dict[str, Any]:
    return {
        "GlueVersion": {
            "Type": "String",
            "Default": GLUE_VERSIONS[0],
            "AllowedValues": GLUE_VERSIONS,
            "Description": "AWS Glue version of the data quality job.",
        },
        "GlueWorkerType": {
            "Type": "String",
            "Default": "G.1X",
            "AllowedValues": GLUE_WORKER_TYPES,
            "Description": "Worker type of the data quality job.",
        },
        "GlueNumberOfWorkers": {
            "Type": "Number",
            "Default": 2,
            "MinValue": 2,
            "MaxValue": 100,
            "Description": "Number of workers of the data quality job (Glue needs at least 2).",
        },
        "GlueJobWheel": {
            "Type": "String",
            "Default": glue_job_wheel(),
            "AllowedPattern": "^[A-Za-z0-9_.-]+\\.whl$",
            "Description": "Wheel of the project under the Glue assets prefix; Glue installs it and the locked dependency wheels beside it with pip --no-index.",
        },
        "GlueMaxConcurrentRuns": {
            "Type": "Number",
            "Default": PipelineSettings().glue_max_concurrent_runs,
            "MinValue": 1,
            "MaxValue": 50,
            "Description": "Job runs (batches of files) at once; more queue (job-run queuing).",
        },
        "GlueExecutionClass": {
            "Type": "String",
            "Default": PipelineSettings().glue_execution_class,
            "AllowedValues": ["STANDARD", "FLEX"],
            "Description": "FLEX runs the data quality job on spare capacity, cheaper, for backlogs.",
        },
        "NotificationEmail": {
            "Type": "String",
            "Default": "",
            "AllowedPattern": "^$|^[^@\\s]+@[^@\\s]+$",
            "Description": "E-mail address subscribed to the notifications (empty: no subscription).",
        },
    }


def _bucket_resources(settings: PipelineSettings) -> dict[str, Any]:
    return {
        "DataBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": settings.bucket,
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": arn(DATA_KEY),
                            },
                            "BucketKeyEnabled": True,
                        }
                    ]
                },
                "LoggingConfiguration": {
                    "DestinationBucketName": ref(LOG_BUCKET),
                    "LogFilePrefix": f"{ACCESS_LOG_PREFIX}{settings.bucket}/",
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "VersioningConfiguration": {"Status": "Enabled"},
                "NotificationConfiguration": {
                    "EventBridgeConfiguration": {"EventBridgeEnabled": True}
                },
            },
        },
        "DataBucketPolicy": bucket_policy("DataBucket"),
    }


def _glue_resources(settings: PipelineSettings) -> dict[str, Any]:
    assets = f"s3://{settings.bucket}/{settings.glue_assets_prefix}"
    crawler_statements = [
        {
            "Sid": "ReadInputData",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": bucket_arn(settings, settings.input_prefix, objects=True),
        },
        list_bucket(settings, [settings.input_prefix]),
        {
            "Sid": "MaintainCatalogTables",
            "Effect": "Allow",
            "Action": [
                "glue:GetDatabase",
                "glue:GetTable",
                "glue:GetTables",
                "glue:CreateTable",
                "glue:UpdateTable",
                "glue:GetPartition",
                "glue:GetPartitions",
                "glue:BatchGetPartition",
                "glue:CreatePartition",
                "glue:BatchCreatePartition",
                "glue:UpdatePartition",
                "glue:BatchUpdatePartition",
            ],
            "Resource": _catalog_resources(settings),
        },
        _glue_logs("crawlers"),
        use_data_key("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"),
    ]
    output_prefixes = [
        settings.bad_records_prefix,
        settings.rule_outcomes_prefix,
        settings.validated_prefix,
        f"{settings.glue_assets_prefix}temp/",
        report_prefix(settings),
        settings.pipes_prefix,
        LEDGER_PREFIX,
        METRIC_HISTORY_PREFIX,
    ]
    job_statements = [
        {
            "Sid": "ReadInputAndJobAssets",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [
                bucket_arn(settings, settings.input_prefix, objects=True),
                bucket_arn(settings, settings.glue_assets_prefix, objects=True),
                bucket_arn(settings, REFERENCE_PREFIX, objects=True),
            ],
        },
        {
            "Sid": "WriteOutputs",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": [bucket_arn(settings, prefix, objects=True) for prefix in output_prefixes],
        },
        list_bucket(
            settings,
            [settings.input_prefix, settings.glue_assets_prefix, *output_prefixes],
        ),
        {
            "Sid": "ReadCatalog",
            "Effect": "Allow",
            "Action": ["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"],
            "Resource": _catalog_resources(settings),
        },
        _glue_logs("jobs"),
        *_pipeline_statements(),
        {
            "Sid": "PutMetrics",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"cloudwatch:namespace": ["Glue", settings.metrics_namespace]}
            },
        },
        use_data_key("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"),
    ]
    return {
        "GlueDatabase": {
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": ref("AWS::AccountId"),
                "DatabaseInput": {
                    "Name": settings.glue_database,
                    "Description": "Raw movie files crawled from the input prefix.",
                },
            },
        },
        "CrawlerRole": role("glue.amazonaws.com", "crawl-input-data", crawler_statements),
        "InputCrawler": {
            "Type": "AWS::Glue::Crawler",
            "Properties": {
                "Name": settings.crawler_name,
                "Role": arn("CrawlerRole"),
                "DatabaseName": ref("GlueDatabase"),
                "Targets": {
                    "S3Targets": [
                        {
                            "Path": f"s3://{settings.bucket}/{settings.input_prefix}",
                            "ConnectionName": if_(USE_VPC, ref(GLUE_CONNECTION)),
                        }
                    ]
                },
                "CrawlerSecurityConfiguration": ref(GLUE_SECURITY_CONFIGURATION),
                "Configuration": crawler_configuration(),
                "SchemaChangePolicy": {
                    "UpdateBehavior": "UPDATE_IN_DATABASE",
                    "DeleteBehavior": "LOG",
                },
            },
        },
        "GlueJobRole": role("glue.amazonaws.com", "run-data-quality-job", job_statements),
        "DataQualityJob": {
            "Type": "AWS::Glue::Job",
            "Properties": {
                "Name": settings.glue_job_name,
                "Role": arn("GlueJobRole"),
                "Command": {
                    "Name": "glueetl",
                    "PythonVersion": "3",
                    "ScriptLocation": f"{assets}{GLUE_JOB_SCRIPT}",
                },
                "GlueVersion": ref("GlueVersion"),
                "WorkerType": ref("GlueWorkerType"),
                "NumberOfWorkers": ref("GlueNumberOfWorkers"),
                "ExecutionProperty": {"MaxConcurrentRuns": ref("GlueMaxConcurrentRuns")},
                "ExecutionClass": ref("GlueExecutionClass"),
                "JobRunQueuingEnabled": True,
                "SecurityConfiguration": ref(GLUE_SECURITY_CONFIGURATION),
                "Connections": if_(USE_VPC, {"Connections": [ref(GLUE_CONNECTION)]}),
                "MaxRetries": 0,
                "Timeout": 120,
                "DefaultArguments": {
                    "--job-language": "python",
                    **glue_job_modules(assets),
                    "--TempDir": f"{assets}temp/",
                    "--enable-metrics": "true",
                    "--enable-continuous-cloudwatch-log": "true",
                    "--bucket": settings.bucket,
                    "--input_prefix": settings.input_prefix,
                    "--bad_records_prefix": settings.bad_records_prefix,
                    "--rule_outcomes_prefix": settings.rule_outcomes_prefix,
                    "--validated_prefix": settings.validated_prefix,
                    "--glue_database": settings.glue_database,
                    "--glue_table": settings.glue_table,
                    "--warehouse_schema": settings.warehouse_schema,
                    "--warehouse_table": settings.warehouse_table,
                    # where the state machine's runs (--pipeline true) load; without a Redshift
                    # target such a run fails, naming the argument it lacks
                    "--redshift_workgroup": ref("RedshiftWorkgroupName"),
                    "--redshift_database": ref("RedshiftDatabaseName"),
                    "--redshift_iam_role_arn": if_(USE_REDSHIFT, arn(COPY_ROLE), ""),
                },
            },
        },
    }


def _trigger_resources(settings: PipelineSettings, crawler_poll_seconds: int) -> dict[str, Any]:
    notification_topic_arn = ref("NotificationTopic")
    state_machine_statements = [
        {
            "Sid": "RunCrawler",
            "Effect": "Allow",
            "Action": ["glue:StartCrawler", "glue:GetCrawler"],
            "Resource": glue_arn(f"crawler/{settings.crawler_name}"),
        },
        {
            "Sid": "RunDataQualityJob",
            "Effect": "Allow",
            "Action": [
                "glue:StartJobRun",
                "glue:GetJobRun",
                "glue:GetJobRuns",
                "glue:BatchStopJobRun",
            ],
            "Resource": glue_arn(f"job/{settings.glue_job_name}"),
        },
        {
            "Sid": "Notify",
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": notification_topic_arn,
        },
        use_data_key("kms:Decrypt", "kms:GenerateDataKey"),
    ]
    events_statements = [
        {
            "Sid": "StartPipeline",
            "Effect": "Allow",
            "Action": "states:StartExecution",
            "Resource": ref("PipelineStateMachine"),
        }
    ]
    return {
        "NotificationTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": settings.sns_topic_name,
                "DisplayName": "quality_movies pipeline",
                "KmsMasterKeyId": ref(DATA_KEY),
            },
        },
        "NotificationEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasNotificationEmail",
            "Properties": {
                "TopicArn": notification_topic_arn,
                "Protocol": "email",
                "Endpoint": ref("NotificationEmail"),
            },
        },
        "StateMachineRole": role(
            "states.amazonaws.com", "run-crawler-job-and-notify", state_machine_statements
        ),
        "PipelineStateMachine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": settings.state_machine_name,
                "StateMachineType": "STANDARD",
                "RoleArn": arn("StateMachineRole"),
                "Definition": state_machine_definition(
                    settings,
                    topic_arn=TOPIC_ARN_PLACEHOLDER,
                    crawler_poll_seconds=crawler_poll_seconds,
                ),
                "DefinitionSubstitutions": {"NotificationTopicArn": notification_topic_arn},
            },
        },
        "EventsRole": role("events.amazonaws.com", "start-pipeline", events_statements),
        "InputObjectCreatedRule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": input_rule_name(settings),
                "Description": (
                    f"Start {settings.state_machine_name} for objects created under "
                    f"s3://{settings.bucket}/{settings.input_prefix}"
                ),
                "State": "ENABLED",
                "EventPattern": event_pattern(settings),
                "Targets": [
                    {
                        "Id": "PipelineStateMachine",
                        "Arn": ref("PipelineStateMachine"),
                        "RoleArn": arn("EventsRole"),
                        "RetryPolicy": {
                            "MaximumEventAgeInSeconds": 3600,
                            "MaximumRetryAttempts": 10,
                        },
                    }
                ],
            },
        },
    }


def _alarm(settings: PipelineSettings, metric: str, name: str, what: str) -> dict[str, Any]:
    """Alarm to the topic as soon as one 5-minute period sums at least one ``metric``."""
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": sub(f"${{AWS::StackName}}-{name}"),
            "AlarmDescription": what,
            "Namespace": settings.metrics_namespace,
            "MetricName": metric,
            "Statistic": "Sum",
            "Period": ALARM_PERIOD_SECONDS,
            "EvaluationPeriods": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [ref("NotificationTopic")],
        },
    }


def _alarm_resources(settings: PipelineSettings) -> dict[str, Any]:
    return {
        "RulesFailedAlarm": _alarm(
            settings,
            RULES_FAILED_METRIC,
            "rules-failed",
            "A data quality rule failed on an ingested file.",
        ),
        "AnomaliesDetectedAlarm": _alarm(
            settings,
            ANOMALIES_DETECTED_METRIC,
            "anomalies-detected",
            "A data quality metric left its usual range on an ingested file.",
        ),
    }


def cloudformation_template(
    settings: PipelineSettings, *, crawler_poll_seconds: int = DEFAULT_CRAWLER_POLL_SECONDS
) -> dict[str, Any]:
    """The whole stack: bucket, Glue catalog/crawler/job, SNS, state machine, EventBridge rule, roles,
    the key, the access-log bucket and the alarms; the VPC pieces, Redshift and Lake Formation grants
    and the Dagster side on ECS when their parameters ask for them (CloudFormation Conditions)."""
    resources = {
        **security_resources(settings),
        **_bucket_resources(settings),
        **_glue_resources(settings),
        **_trigger_resources(settings, crawler_poll_seconds),
        **_alarm_resources(settings),
        **network_resources(settings),
        **redshift_resources(settings),
        **lake_formation_resources(settings),
        **dagster_resources(settings),
    }
    per_file = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            "quality_movies: S3 upload -> EventBridge -> Step Functions -> Glue crawler and data "
            "quality job -> SNS. Generated by `quality-movies export-infra`; do not edit by hand."
        ),
        "Parameters": {
            **_parameters(),
            **security_parameters(),
            **network_parameters(),
            **redshift_parameters(),
            **dagster_parameters(),
        },
        "Conditions": {
            "HasNotificationEmail": not_empty("NotificationEmail"),
            **network_conditions(),
            **redshift_conditions(),
            **dagster_conditions(),
        },
        "Rules": {**network_rules(), **dagster_rules()},
        "Resources": resources,
        "Outputs": {
            "BucketName": {"Value": ref("DataBucket")},
            "AccessLogBucketName": {"Value": ref(LOG_BUCKET)},
            "DataKeyArn": {"Value": arn(DATA_KEY)},
            "CrawlerName": {"Value": ref("InputCrawler")},
            "GlueJobName": {"Value": ref("DataQualityJob")},
            "NotificationTopicArn": {"Value": ref("NotificationTopic")},
            "StateMachineArn": {"Value": ref("PipelineStateMachine")},
            "GlueConnectionName": {"Condition": USE_VPC, "Value": ref(GLUE_CONNECTION)},
            **redshift_outputs(),
            **dagster_outputs(),
        },
    }
    return with_trigger_shapes(per_file, settings, crawler_poll_seconds)
