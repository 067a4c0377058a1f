"""The CloudFormation stack of the AWS pipeline, built from ``PipelineSettings``.

Names (bucket, crawler, job, topic, state machine) come from the settings so that the Dagster resources
and the stack always agree; sizes that operators tune per environment are stack Parameters.
"""

from importlib.metadata import version
from typing import Any

from quality_movies.infra.state_machine import (
    DEFAULT_CRAWLER_POLL_SECONDS,
    TOPIC_ARN_PLACEHOLDER,
    event_pattern,
    state_machine_definition,
)
from quality_movies.settings import PipelineSettings

GLUE_JOB_SCRIPT = "quality_movies_job.py"
GLUE_VERSIONS = ["5.0"]  # the job needs Python 3.11 (Glue 5.0)
GLUE_WORKER_TYPES = ["G.1X", "G.2X", "G.4X", "G.8X"]


def glue_job_wheel() -> str:
    """File name of the project wheel Glue pip-installs (``--additional-python-modules``)."""
    return f"quality_movies-{version('quality_movies')}-py3-none-any.whl"


def input_rule_name(settings: PipelineSettings) -> str:
    """Name of the EventBridge rule, e.g. for ``aws events disable-rule --name``."""
    return f"{settings.state_machine_name}-input-object-created"


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def _ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def _arn(name: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, "Arn"]}


def _bucket_arn(
    settings: PipelineSettings, prefix: str = "", objects: bool = False
) -> dict[str, str]:
    suffix = f"/{prefix}*" if objects else ""
    return _sub(f"arn:${{AWS::Partition}}:s3:::{settings.bucket}{suffix}")


def _glue_arn(resource: str) -> dict[str, str]:
    return _sub(f"arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:{resource}")


def _assume_role(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": _ref("AWS::AccountId")}},
            }
        ],
    }


def _role(service: str, policy_name: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": _assume_role(service),
            "Policies": [
                {
                    "PolicyName": policy_name,
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                }
            ],
        },
    }


def _list_bucket(settings: PipelineSettings, prefixes: list[str]) -> dict[str, Any]:
    return {
        "Sid": "ListOwnPrefixes",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": _bucket_arn(settings),
        "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}},
    }


def _glue_logs(kind: str) -> dict[str, Any]:
    return {
        "Sid": "WriteGlueLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": _sub(
            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws-glue/"
            f"{kind}*"
        ),
    }


def _catalog_resources(settings: PipelineSettings) -> list[dict[str, str]]:
    return [
        _glue_arn("catalog"),
        _glue_arn(f"database/{settings.glue_database}"),
        _glue_arn(f"table/{settings.glue_database}/*"),
    ]


def _parameters() -> dict[str, Any]:
    return {
        "GlueVersion": {
            "Type": "String",
            "Default": "5.0",
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
            "Description": "Wheel of the project under the Glue assets prefix, pip-installed through --additional-python-modules with its few dependencies.",
        },
        "GlueMaxConcurrentRuns": {
            "Type": "Number",
            "Default": 3,
            "MinValue": 1,
            "MaxValue": 50,
            "Description": "Uploads processed at once; more wait with backoff in the state machine.",
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
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
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
        "DataBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": _ref("DataBucket"),
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [
                                _arn("DataBucket"),
                                _sub("${DataBucket.Arn}/*"),
                            ],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                },
            },
        },
    }


def _glue_resources(settings: PipelineSettings) -> dict[str, Any]:
    assets = f"s3://{settings.bucket}/{settings.glue_assets_prefix}"
    crawler_statements = [
        {
            "Sid": "ReadInputData",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": _bucket_arn(settings, settings.input_prefix, objects=True),
        },
        _list_bucket(settings, [settings.input_prefix]),
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
    ]
    output_prefixes = [
        settings.bad_records_prefix,
        settings.rule_outcomes_prefix,
        settings.validated_prefix,
        f"{settings.glue_assets_prefix}temp/",
        settings.pipes_prefix,
    ]
    job_statements = [
        {
            "Sid": "ReadInputAndJobAssets",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [
                _bucket_arn(settings, settings.input_prefix, objects=True),
                _bucket_arn(settings, settings.glue_assets_prefix, objects=True),
            ],
        },
        {
            "Sid": "WriteOutputs",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": [_bucket_arn(settings, prefix, objects=True) for prefix in output_prefixes],
        },
        _list_bucket(
            settings,
            [settings.input_prefix, settings.glue_assets_prefix, *output_prefixes],
        ),
        {
            "Sid": "ReadCatalog",
            "Effect": "Allow",
            "Action": ["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"],
            "Resource": _catalog_resources(settings),
        },
        {
            "Sid": "PublishDataQualityResults",
            "Effect": "Allow",
            "Action": "glue:PublishDataQuality",
            "Resource": _glue_arn("dataQualityRuleset/*"),
        },
        _glue_logs("jobs"),
        {
            "Sid": "PutGlueMetrics",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": "Glue"}},
        },
    ]
    return {
        "GlueDatabase": {
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": _ref("AWS::AccountId"),
                "DatabaseInput": {
                    "Name": settings.glue_database,
                    "Description": "Raw movie files crawled from the input prefix.",
                },
            },
        },
        "CrawlerRole": _role("glue.amazonaws.com", "crawl-input-data", crawler_statements),
        "InputCrawler": {
            "Type": "AWS::Glue::Crawler",
            "Properties": {
                "Name": settings.crawler_name,
                "Role": _arn("CrawlerRole"),
                "DatabaseName": _ref("GlueDatabase"),
                "Targets": {
                    "S3Targets": [{"Path": f"s3://{settings.bucket}/{settings.input_prefix}"}]
                },
                "SchemaChangePolicy": {
                    "UpdateBehavior": "UPDATE_IN_DATABASE",
                    "DeleteBehavior": "LOG",
                },
            },
        },
        "GlueJobRole": _role("glue.amazonaws.com", "run-data-quality-job", job_statements),
        "DataQualityJob": {
            "Type": "AWS::Glue::Job",
            "Properties": {
                "Name": settings.glue_job_name,
                "Role": _arn("GlueJobRole"),
                "Command": {
                    "Name": "glueetl",
                    "PythonVersion": "3",
                    "ScriptLocation": f"{assets}{GLUE_JOB_SCRIPT}",
                },
                "GlueVersion": _ref("GlueVersion"),
                "WorkerType": _ref("GlueWorkerType"),
                "NumberOfWorkers": _ref("GlueNumberOfWorkers"),
                "ExecutionProperty": {"MaxConcurrentRuns": _ref("GlueMaxConcurrentRuns")},
                "MaxRetries": 0,
                "Timeout": 120,
                "DefaultArguments": {
                    "--job-language": "python",
                    "--additional-python-modules": _sub(f"{assets}${{GlueJobWheel}}"),
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
                },
            },
        },
    }


def _trigger_resources(settings: PipelineSettings, crawler_poll_seconds: int) -> dict[str, Any]:
    notification_topic_arn = _ref("NotificationTopic")
    state_machine_statements = [
        {
            "Sid": "RunCrawler",
            "Effect": "Allow",
            "Action": ["glue:StartCrawler", "glue:GetCrawler"],
            "Resource": _glue_arn(f"crawler/{settings.crawler_name}"),
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
            "Resource": _glue_arn(f"job/{settings.glue_job_name}"),
        },
        {
            "Sid": "Notify",
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": notification_topic_arn,
        },
    ]
    events_statements = [
        {
            "Sid": "StartPipeline",
            "Effect": "Allow",
            "Action": "states:StartExecution",
            "Resource": _ref("PipelineStateMachine"),
        }
    ]
    return {
        "NotificationTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": settings.sns_topic_name,
                "DisplayName": "quality_movies pipeline",
            },
        },
        "NotificationEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasNotificationEmail",
            "Properties": {
                "TopicArn": notification_topic_arn,
                "Protocol": "email",
                "Endpoint": _ref("NotificationEmail"),
            },
        },
        "StateMachineRole": _role(
            "states.amazonaws.com", "run-crawler-job-and-notify", state_machine_statements
        ),
        "PipelineStateMachine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": settings.state_machine_name,
                "StateMachineType": "STANDARD",
                "RoleArn": _arn("StateMachineRole"),
                "Definition": state_machine_definition(
                    settings,
                    topic_arn=TOPIC_ARN_PLACEHOLDER,
                    crawler_poll_seconds=crawler_poll_seconds,
                ),
                "DefinitionSubstitutions": {"NotificationTopicArn": notification_topic_arn},
            },
        },
        "EventsRole": _role("events.amazonaws.com", "start-pipeline", events_statements),
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
                        "Arn": _ref("PipelineStateMachine"),
                        "RoleArn": _arn("EventsRole"),
                        "RetryPolicy": {
                            "MaximumEventAgeInSeconds": 3600,
                            "MaximumRetryAttempts": 10,
                        },
                    }
                ],
            },
        },
    }


def cloudformation_template(
    settings: PipelineSettings, *, crawler_poll_seconds: int = DEFAULT_CRAWLER_POLL_SECONDS
) -> dict[str, Any]:
    """The whole stack: bucket, Glue catalog/crawler/job, SNS, state machine, EventBridge rule, roles."""
    resources = {
        **_bucket_resources(settings),
        **_glue_resources(settings),
        **_trigger_resources(settings, crawler_poll_seconds),
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            "quality_movies: S3 upload -> EventBridge -> Step Functions -> Glue crawler and data "
            "quality job -> SNS. Generated by `quality-movies export-infra`; do not edit by hand."
        ),
        "Parameters": _parameters(),
        "Conditions": {
            "HasNotificationEmail": {"Fn::Not": [{"Fn::Equals": [_ref("NotificationEmail"), ""]}]}
        },
        "Resources": resources,
        "Outputs": {
            "BucketName": {"Value": _ref("DataBucket")},
            "CrawlerName": {"Value": _ref("InputCrawler")},
            "GlueJobName": {"Value": _ref("DataQualityJob")},
            "NotificationTopicArn": {"Value": _ref("NotificationTopic")},
            "StateMachineArn": {"Value": _ref("PipelineStateMachine")},
        },
    }
