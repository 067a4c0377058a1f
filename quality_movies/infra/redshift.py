"""The optional Redshift target and Lake Formation grants.

``RedshiftTarget``: ``none`` (the stack has no Redshift piece), ``serverless`` (the stack creates a
Redshift Serverless namespace and workgroup, with the admin password kept by Redshift in Secrets Manager
under the stack's key) or ``existing`` (the named workgroup exists; the stack only creates the COPY role,
to be associated with it). The COPY role may read the validated prefix and nothing else. The warehouse
DDL stays with the pipeline, which applies it on first use.
"""

from typing import Any

from quality_movies.infra.cfn import arn, bucket_arn, cfn_lint_ignores, equals, if_, ref
from quality_movies.infra.network import USE_VPC
from quality_movies.infra.security import DATA_KEY, use_data_key
from quality_movies.settings import PipelineSettings

CREATE_REDSHIFT = "CreateRedshiftServerless"
USE_REDSHIFT = "UseRedshift"
HAS_REDSHIFT_SECURITY_GROUP = "HasRedshiftSecurityGroup"
GRANT_LAKE_FORMATION = "GrantLakeFormation"
COPY_ROLE = "RedshiftCopyRole"
NAMESPACE = "RedshiftNamespace"
WORKGROUP = "RedshiftWorkgroup"


def redshift_parameters() -> dict[str, Any]:
    return {
        "RedshiftTarget": {
            "Type": "String",
            "Default": "none",
            "AllowedValues": ["none", "serverless", "existing"],
            "Description": "none: no Redshift piece; serverless: create a namespace and workgroup; existing: use RedshiftWorkgroupName as it is.",
        },
        "RedshiftNamespaceName": {
            "Type": "String",
            "Default": "quality-movies",
            "AllowedPattern": "^[a-z0-9-]{3,64}$",
            "Description": "Namespace the stack creates (RedshiftTarget=serverless).",
        },
        "RedshiftWorkgroupName": {
            "Type": "String",
            "Default": "quality-movies",
            "AllowedPattern": "^[a-z0-9-]{3,64}$",
            "Description": "Workgroup the stack creates (serverless) or the existing one (existing).",
        },
        "RedshiftDatabaseName": {
            "Type": "String",
            "Default": "dev",
            "AllowedPattern": "^[a-z_][a-z0-9_$]{0,126}$",
            "Description": "Database of the namespace the stack creates.",
        },
        "RedshiftAdminUsername": {
            "Type": "String",
            "Default": "admin",
            "AllowedPattern": "^[a-zA-Z][a-zA-Z0-9_]{0,127}$",
            "Description": "Admin user of the namespace the stack creates; its password lives in Secrets Manager.",
        },
        "RedshiftBaseCapacity": {
            "Type": "Number",
            "Default": 8,
            "MinValue": 8,
            "MaxValue": 512,
            "Description": "Base RPUs of the workgroup the stack creates.",
        },
        "LakeFormationGrants": {
            "Type": "String",
            "Default": "false",
            "AllowedValues": ["true", "false"],
            "Description": "Grant the Glue roles Lake Formation permissions on the database and its tables (when Lake Formation governs the catalog).",
        },
    }


def redshift_conditions() -> dict[str, Any]:
    return {
        CREATE_REDSHIFT: equals("RedshiftTarget", "serverless"),
        USE_REDSHIFT: {"Fn::Not": [equals("RedshiftTarget", "none")]},
        HAS_REDSHIFT_SECURITY_GROUP: {"Fn::Not": [equals("RedshiftSecurityGroupId", "")]},
        GRANT_LAKE_FORMATION: equals("LakeFormationGrants", "true"),
    }


def _copy_role(settings: PipelineSettings) -> dict[str, Any]:
    statements = [
        {
            "Sid": "ReadValidatedRows",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": bucket_arn(settings, settings.validated_prefix, objects=True),
        },
        {
            "Sid": "ListValidatedRows",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn(settings),
            "Condition": {"StringLike": {"s3:prefix": [f"{settings.validated_prefix}*"]}},
        },
        use_data_key("kms:Decrypt"),
    ]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {
                    "Service": ["redshift.amazonaws.com", "redshift-serverless.amazonaws.com"]
                },
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}},
            }
        ],
    }
    return {
        "Type": "AWS::IAM::Role",
        "Condition": USE_REDSHIFT,
        "Properties": {
            "Description": "COPY of validated rows into Redshift",
            "AssumeRolePolicyDocument": trust,
            "Policies": [
                {
                    "PolicyName": "copy-validated-rows",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                }
            ],
        },
    }


def _grant(role: str, resource: dict[str, Any], permissions: list[str]) -> dict[str, Any]:
    return {
        "Type": "AWS::LakeFormation::PrincipalPermissions",
        "Condition": GRANT_LAKE_FORMATION,
        "Properties": {
            "Principal": {"DataLakePrincipalIdentifier": arn(role)},
            "Resource": resource,
            "Permissions": permissions,
            "PermissionsWithGrantOption": [],
        },
    }


def lake_formation_resources(settings: PipelineSettings) -> dict[str, Any]:
    """Grants on the database and on its tables (a wildcard: the crawler creates the table later)."""
    database = {"Database": {"CatalogId": ref("AWS::AccountId"), "Name": settings.glue_database}}
    tables = {
        "Table": {
            "CatalogId": ref("AWS::AccountId"),
            "DatabaseName": settings.glue_database,
            "TableWildcard": {},
        }
    }
    grants = {
        "JobDatabaseGrant": _grant("GlueJobRole", database, ["DESCRIBE"]),
        "JobTablesGrant": _grant("GlueJobRole", tables, ["SELECT", "DESCRIBE"]),
        "CrawlerDatabaseGrant": _grant(
            "CrawlerRole", database, ["CREATE_TABLE", "ALTER", "DESCRIBE"]
        ),
        "CrawlerTablesGrant": _grant("CrawlerRole", tables, ["SELECT", "ALTER", "DESCRIBE"]),
    }
    for grant in grants.values():
        grant["DependsOn"] = "GlueDatabase"
    data_access = {
        "Type": "AWS::IAM::Policy",
        "Condition": GRANT_LAKE_FORMATION,
        "Properties": {
            "PolicyName": "lake-formation-data-access",
            "Roles": [ref("CrawlerRole"), ref("GlueJobRole")],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        # Credentials for the tables Lake Formation grants; the action takes no ARN.
                        "Sid": "LakeFormationDataAccess",
                        "Effect": "Allow",
                        "Action": "lakeformation:GetDataAccess",
                        "Resource": "*",
                    }
                ],
            },
        },
    }
    return {**grants, "LakeFormationDataAccessPolicy": data_access}


def redshift_resources(settings: PipelineSettings) -> dict[str, Any]:
    return {
        COPY_ROLE: _copy_role(settings),
        NAMESPACE: {
            "Type": "AWS::RedshiftServerless::Namespace",
            "Condition": CREATE_REDSHIFT,
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "NamespaceName": ref("RedshiftNamespaceName"),
                "DbName": ref("RedshiftDatabaseName"),
                "AdminUsername": ref("RedshiftAdminUsername"),
                "ManageAdminPassword": True,
                "AdminPasswordSecretKmsKeyId": ref(DATA_KEY),
                "KmsKeyId": ref(DATA_KEY),
                "IamRoles": [arn(COPY_ROLE)],
                "DefaultIamRoleArn": arn(COPY_ROLE),
                "LogExports": ["userlog", "connectionlog", "useractivitylog"],
            },
        },
        WORKGROUP: {
            "Type": "AWS::RedshiftServerless::Workgroup",
            "Condition": CREATE_REDSHIFT,
            # cfn-lint resolves SubnetIds to its empty default, which the VPC rule forbids with a VPC;
            # the Join/Split round trip (same list) keeps that warning on this resource, where the
            # ignore applies, instead of on the parameter.
            "Metadata": cfn_lint_ignores("W1033"),
            "Properties": {
                "WorkgroupName": ref("RedshiftWorkgroupName"),
                "NamespaceName": ref(NAMESPACE),
                "BaseCapacity": ref("RedshiftBaseCapacity"),
                "PubliclyAccessible": False,
                # COPY through the VPC only where the stack gives it an S3 endpoint to go through.
                "EnhancedVpcRouting": if_(USE_VPC, True, False),
                "SubnetIds": if_(
                    USE_VPC, {"Fn::Split": [",", {"Fn::Join": [",", ref("SubnetIds")]}]}
                ),
                "SecurityGroupIds": if_(
                    HAS_REDSHIFT_SECURITY_GROUP, [ref("RedshiftSecurityGroupId")]
                ),
            },
        },
    }


def redshift_outputs() -> dict[str, Any]:
    return {
        "RedshiftCopyRoleArn": {"Condition": USE_REDSHIFT, "Value": arn(COPY_ROLE)},
        "RedshiftWorkgroupName": {
            "Condition": USE_REDSHIFT,
            "Value": ref("RedshiftWorkgroupName"),
        },
        "RedshiftNamespaceName": {"Condition": CREATE_REDSHIFT, "Value": ref(NAMESPACE)},
    }
