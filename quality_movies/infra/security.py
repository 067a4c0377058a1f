"""Encryption and audit pieces of the stack: the KMS key, the access-log bucket, Glue's security configuration.

One customer managed key encrypts the bucket, the SNS topic, the Glue job's and crawler's S3 output,
CloudWatch logs and job bookmarks, and (when the stack creates it) the Redshift namespace and its admin
secret. It is kept when the stack is deleted, since the retained bucket's objects need it.
"""

from typing import Any

from quality_movies.infra.cfn import arn, checkov_skips, ref, sub
from quality_movies.settings import PipelineSettings

DATA_KEY = "DataKey"
LOG_BUCKET = "AccessLogBucket"
GLUE_SECURITY_CONFIGURATION = "GlueSecurityConfiguration"
ACCESS_LOG_PREFIX = "s3-access-logs/"
DAGSTER_LOG_GROUP_PREFIX = "/quality-movies/dagster/"


def use_data_key(*actions: str) -> dict[str, Any]:
    """IAM statement allowing ``actions`` on the stack's key only."""
    return {
        "Sid": "UseDataKey",
        "Effect": "Allow",
        "Action": list(actions),
        "Resource": arn(DATA_KEY),
    }


def _key_policy() -> dict[str, Any]:
    account = {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountIamPoliciesDecide",
                "Effect": "Allow",
                "Principal": {"AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CloudWatchLogsEncryptGlueAndDagsterLogs",
                "Effect": "Allow",
                "Principal": {"Service": sub("logs.${AWS::Region}.amazonaws.com")},
                "Action": [
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": [
                            sub(
                                "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:"
                                f"log-group:{group}*"
                            )
                            for group in ("/aws-glue/", DAGSTER_LOG_GROUP_PREFIX)
                        ]
                    }
                },
            },
            {
                "Sid": "CloudWatchAlarmsPublishToTheTopic",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": account,
            },
        ],
    }


def _deny_insecure_transport(bucket: str) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn(bucket), sub(f"${{{bucket}.Arn}}/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def bucket_policy(bucket: str, extra_statements: list[dict[str, Any]] | None = None) -> dict:
    """A bucket policy refusing plain HTTP, plus ``extra_statements``."""
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": ref(bucket),
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [*(extra_statements or []), _deny_insecure_transport(bucket)],
            },
        },
    }


def security_resources(settings: PipelineSettings) -> dict[str, Any]:
    """The key and its alias, the access-log bucket and policy, Glue's security configuration."""
    key_arn = arn(DATA_KEY)
    log_delivery = {
        "Sid": "S3ServerAccessLogsFromTheDataBucket",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": sub(f"${{{LOG_BUCKET}.Arn}}/{ACCESS_LOG_PREFIX}*"),
        "Condition": {
            "ArnLike": {"aws:SourceArn": sub(f"arn:${{AWS::Partition}}:s3:::{settings.bucket}")},
            "StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")},
        },
    }
    return {
        DATA_KEY: {
            "Type": "AWS::KMS::Key",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "Description": (
                    f"quality_movies: s3://{settings.bucket}, its SNS topic, Glue output, logs "
                    "and bookmarks, and the Redshift namespace the stack creates."
                ),
                "EnableKeyRotation": True,
                "KeyPolicy": _key_policy(),
            },
        },
        "DataKeyAlias": {
            "Type": "AWS::KMS::Alias",
            "Properties": {
                "AliasName": sub("alias/${AWS::StackName}-data"),
                "TargetKeyId": ref(DATA_KEY),
            },
        },
        LOG_BUCKET: {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Metadata": checkov_skips(
                (
                    "CKV_AWS_18",
                    "This bucket receives the data bucket's access logs; logging it would need "
                    "yet another bucket.",
                )
            ),
            "Properties": {
                # S3 server access logs are delivered only to buckets encrypted with SSE-S3.
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
                "LifecycleConfiguration": {
                    "Rules": [
                        {
                            "Id": "ExpireAccessLogs",
                            "Status": "Enabled",
                            "ExpirationInDays": ref("AccessLogRetentionDays"),
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                        }
                    ]
                },
            },
        },
        "AccessLogBucketPolicy": bucket_policy(LOG_BUCKET, [log_delivery]),
        GLUE_SECURITY_CONFIGURATION: {
            "Type": "AWS::Glue::SecurityConfiguration",
            "Properties": {
                "Name": sub("${AWS::StackName}-glue-encryption"),
                "EncryptionConfiguration": {
                    "S3Encryptions": [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": key_arn}],
                    "CloudWatchEncryption": {
                        "CloudWatchEncryptionMode": "SSE-KMS",
                        "KmsKeyArn": key_arn,
                    },
                    "JobBookmarksEncryption": {
                        "JobBookmarksEncryptionMode": "CSE-KMS",
                        "KmsKeyArn": key_arn,
                    },
                },
            },
        },
    }


def security_parameters() -> dict[str, Any]:
    return {
        "AccessLogRetentionDays": {
            "Type": "Number",
            "Default": 365,
            "MinValue": 1,
            "MaxValue": 3650,
            "Description": "Days the data bucket's S3 access logs are kept in the log bucket.",
        }
    }
