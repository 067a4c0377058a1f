"""The stack's variants: one template, and a parameter file per way of deploying it.

Each file is in CloudFormation's ``[{"ParameterKey", "ParameterValue"}]`` format, which
``aws cloudformation deploy --parameter-overrides file://...``, ``cfn-lint --parameter-files`` and
``create-stack --parameters`` all read. The IDs are examples: copy a file and put your own in.
The default variant (no parameters) is the stack without network, Redshift or Lake Formation pieces.
"""

from typing import Any

EXAMPLE_VPC = "vpc-0a1b2c3d4e5f60718"
EXAMPLE_SUBNETS = "subnet-0a1b2c3d4e5f60718,subnet-0b2c3d4e5f6071829,subnet-0c3d4e5f607182930"
EXAMPLE_AVAILABILITY_ZONE = "us-east-1a"
EXAMPLE_ROUTE_TABLES = "rtb-0a1b2c3d4e5f60718"
EXAMPLE_REDSHIFT_SECURITY_GROUP = "sg-0a1b2c3d4e5f60718"

_NETWORK = {
    "VpcId": EXAMPLE_VPC,
    "SubnetIds": EXAMPLE_SUBNETS,
    "GlueAvailabilityZone": EXAMPLE_AVAILABILITY_ZONE,
    "RouteTableIds": EXAMPLE_ROUTE_TABLES,
    "RedshiftSecurityGroupId": EXAMPLE_REDSHIFT_SECURITY_GROUP,
}

VARIANTS: dict[str, dict[str, str]] = {
    # The seed's setup: Glue in an existing VPC, loading into an existing Redshift workgroup.
    "network-existing-redshift": {
        **_NETWORK,
        "RedshiftTarget": "existing",
        "RedshiftWorkgroupName": "quality-movies",
    },
    # No VPC; the stack creates Redshift Serverless and grants Lake Formation permissions.
    "serverless-redshift-lake-formation": {
        "RedshiftTarget": "serverless",
        "LakeFormationGrants": "true",
    },
    # Everything: VPC, endpoints, a new Redshift Serverless workgroup in it, Lake Formation grants.
    "network-serverless-redshift-lake-formation": {
        **_NETWORK,
        "RedshiftTarget": "serverless",
        "LakeFormationGrants": "true",
    },
    # No VPC, a new Redshift Serverless workgroup, and the batched trigger: uploads queue up in SQS and
    # a pipe starts one crawl and one Glue job run per batch.
    "serverless-redshift-batched": {"RedshiftTarget": "serverless", "TriggerShape": "batched"},
}


def parameter_file(parameters: dict[str, str]) -> list[dict[str, Any]]:
    """``parameters`` in CloudFormation's parameter-file format."""
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()]
