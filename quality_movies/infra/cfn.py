"""Small builders for CloudFormation JSON: intrinsic functions, ARNs, roles and checkov skips."""

from typing import Any

from quality_movies.settings import PipelineSettings

NO_VALUE = {"Ref": "AWS::NoValue"}


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def arn(name: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, "Arn"]}


def if_(condition: str, then: Any, otherwise: Any = NO_VALUE) -> dict[str, list[Any]]:
    """``Fn::If``; without ``otherwise`` the property or list item disappears when false."""
    return {"Fn::If": [condition, then, otherwise]}


def equals(parameter: str, value: str) -> dict[str, list[Any]]:
    return {"Fn::Equals": [ref(parameter), value]}


def not_empty(parameter: str) -> dict[str, list[Any]]:
    return {"Fn::Not": [equals(parameter, "")]}


def bucket_arn(
    settings: PipelineSettings, prefix: str = "", objects: bool = False
) -> dict[str, str]:
    suffix = f"/{prefix}*" if objects else ""
    return sub(f"arn:${{AWS::Partition}}:s3:::{settings.bucket}{suffix}")


def glue_arn(resource: str) -> dict[str, str]:
    return sub(f"arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:{resource}")


def assume_role(*services: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": services[0] if len(services) == 1 else list(services)},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}},
            }
        ],
    }


def role(
    services: str | list[str], policy_name: str, statements: list[dict[str, Any]]
) -> dict[str, Any]:
    """An IAM role for AWS services with one inline policy."""
    trusted = [services] if isinstance(services, str) else services
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": assume_role(*trusted),
            "Policies": [
                {
                    "PolicyName": policy_name,
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                }
            ],
        },
    }


def list_bucket(settings: PipelineSettings, prefixes: list[str]) -> dict[str, Any]:
    return {
        "Sid": "ListOwnPrefixes",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": bucket_arn(settings),
        "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}},
    }


def checkov_skips(*skips: tuple[str, str]) -> dict[str, Any]:
    """Resource ``Metadata`` that makes checkov skip the given checks, each with its reason."""
    return {"checkov": {"skip": [{"id": check, "comment": reason} for check, reason in skips]}}


def cfn_lint_ignores(*checks: str) -> dict[str, Any]:
    """Resource ``Metadata`` that makes cfn-lint skip ``checks`` on that resource."""
    return {"cfn-lint": {"config": {"ignore_checks": list(checks)}}}
