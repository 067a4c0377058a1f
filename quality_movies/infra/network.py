"""The optional network of the seed: the Glue job and crawler inside an existing VPC.

Given ``VpcId`` (with ``SubnetIds`` and ``RouteTableIds``), the stack adds a security group for Glue,
the Glue NETWORK connection that the job and the crawler use, the S3 gateway endpoint, the Glue,
CloudWatch (monitoring) and CloudWatch Logs interface endpoints, and the SNS, Redshift Data API and
Redshift Serverless ones the job's pipeline runs (``--pipeline true``) call. Glue's group allows HTTPS
out (to those endpoints) and traffic between Glue's own workers, nothing else: Glue never connects to
Redshift (the load goes through the Redshift Data API, and Redshift's COPY reads S3 itself). Without
``VpcId`` none of this exists.
"""

from typing import Any

from quality_movies.infra.cfn import cfn_lint_ignores, glue_arn, not_empty, ref, sub
from quality_movies.settings import PipelineSettings

USE_VPC = "UseVpc"
CREATE_ENDPOINTS = "CreateVpcEndpointsInVpc"
GLUE_CONNECTION = "GlueNetworkConnection"
GLUE_SECURITY_GROUP = "GlueSecurityGroup"
INTERFACE_ENDPOINTS = {
    "GlueEndpoint": "glue",
    "MonitoringEndpoint": "monitoring",
    "LogsEndpoint": "logs",
    "SnsEndpoint": "sns",
    "RedshiftDataEndpoint": "redshift-data",
    # the Data API's temporary credentials of a workgroup
    "RedshiftServerlessEndpoint": "redshift-serverless",
}


def connection_name(settings: PipelineSettings) -> str:
    return f"{settings.glue_job_name}-network"


def network_parameters() -> dict[str, Any]:
    return {
        "VpcId": {
            "Type": "String",
            "Default": "",
            "AllowedPattern": "^$|^vpc-[0-9a-f]+$",
            "Description": "Existing VPC for the Glue job and crawler (empty: Glue's own network, no VPC pieces).",
        },
        "SubnetIds": {
            "Type": "CommaDelimitedList",
            "Default": "",
            "Description": "Private subnets of the VPC for the interface endpoints; the Glue connection uses the first.",
        },
        "GlueAvailabilityZone": {
            "Type": "String",
            "Default": "",
            "AllowedPattern": "^$|^[a-z]{2}(-[a-z]+)+-[0-9][a-z]$",
            "Description": "Availability Zone of the first of SubnetIds, where the Glue connection places its workers.",
        },
        "RouteTableIds": {
            "Type": "CommaDelimitedList",
            "Default": "",
            "Description": "Route tables of those subnets, for the S3 gateway endpoint.",
        },
        "RedshiftSecurityGroupId": {
            "Type": "String",
            "Default": "",
            "AllowedPattern": "^$|^sg-[0-9a-f]+$",
            "Description": "Security group for the Redshift Serverless workgroup the stack creates (RedshiftTarget=serverless). Nothing connects to Redshift's port: the load is a Data API COPY.",
        },
        "CreateVpcEndpoints": {
            "Type": "String",
            "Default": "true",
            "AllowedValues": ["true", "false"],
            "Description": "With a VPC: create the S3, Glue, monitoring, logs, SNS, Redshift Data API and Redshift Serverless endpoints (false when the VPC has them already).",
        },
    }


def network_conditions() -> dict[str, Any]:
    return {
        USE_VPC: not_empty("VpcId"),
        CREATE_ENDPOINTS: {
            "Fn::And": [{"Condition": USE_VPC}, {"Fn::Equals": [ref("CreateVpcEndpoints"), "true"]}]
        },
    }


def network_rules() -> dict[str, Any]:
    """Parameter checks CloudFormation runs before any change: a VPC needs subnets, route tables, a zone."""
    return {
        "VpcNeedsSubnetsRouteTablesAndZone": {
            "RuleCondition": not_empty("VpcId"),
            "Assertions": [
                {
                    "Assert": {"Fn::Not": [{"Fn::Contains": [ref("SubnetIds"), ""]}]},
                    "AssertDescription": "With VpcId, give SubnetIds (private subnets of that VPC).",
                },
                {
                    "Assert": {"Fn::Not": [{"Fn::Contains": [ref("RouteTableIds"), ""]}]},
                    "AssertDescription": "With VpcId, give RouteTableIds (the subnets' route tables).",
                },
                {
                    "Assert": {"Fn::Not": [{"Fn::Equals": [ref("GlueAvailabilityZone"), ""]}]},
                    "AssertDescription": "With VpcId, give GlueAvailabilityZone (the first subnet's zone).",
                },
            ],
        }
    }


def _glue_in_vpc_policy(settings: PipelineSettings) -> dict[str, Any]:
    """What the crawler and the job need to place their workers' network interfaces in the VPC."""
    ec2 = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}"
    statements = [
        {
            "Sid": "UseNetworkConnection",
            "Effect": "Allow",
            "Action": "glue:GetConnection",
            "Resource": [
                glue_arn("catalog"),
                glue_arn(f"connection/{connection_name(settings)}"),
            ],
        },
        {
            "Sid": "GlueNetworkInterfacesInTheVpc",
            "Effect": "Allow",
            "Action": [
                "ec2:CreateNetworkInterface",
                "ec2:DeleteNetworkInterface",
                "ec2:CreateTags",
                "ec2:DeleteTags",
            ],
            "Resource": [
                sub(f"{ec2}:network-interface/*"),
                sub(f"{ec2}:subnet/*"),
                sub(f"{ec2}:security-group/*"),
            ],
        },
        {
            "Sid": "DescribeTheVpc",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeVpcEndpoints",
                "ec2:DescribeRouteTables",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "ec2:DescribeVpcAttribute",
            ],
            "Resource": "*",
        },
    ]
    return {
        "Type": "AWS::IAM::Policy",
        "Condition": USE_VPC,
        "Properties": {
            "PolicyName": "glue-in-vpc",
            "Roles": [ref("CrawlerRole"), ref("GlueJobRole")],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
        },
    }


def _tcp(port_from: int, port_to: int, description: str, **peer: Any) -> dict[str, Any]:
    return {
        "IpProtocol": "tcp",
        "FromPort": port_from,
        "ToPort": port_to,
        "Description": description,
        **peer,
    }


def network_resources(settings: PipelineSettings) -> dict[str, Any]:
    glue_group = ref(GLUE_SECURITY_GROUP)
    resources: dict[str, Any] = {
        "GlueInVpcPolicy": _glue_in_vpc_policy(settings),
        GLUE_SECURITY_GROUP: {
            "Type": "AWS::EC2::SecurityGroup",
            "Condition": USE_VPC,
            "Properties": {
                "GroupDescription": "quality_movies Glue job and crawler workers",
                "VpcId": ref("VpcId"),
                "SecurityGroupEgress": [
                    _tcp(
                        443, 443, "HTTPS to AWS APIs through the VPC endpoints", CidrIp="0.0.0.0/0"
                    )
                ],
            },
        },
        "GlueSelfIngress": {
            "Type": "AWS::EC2::SecurityGroupIngress",
            "Condition": USE_VPC,
            "Properties": {
                "GroupId": glue_group,
                "SourceSecurityGroupId": glue_group,
                **_tcp(0, 65535, "Glue workers talk to each other (required by Glue)"),
            },
        },
        "GlueSelfEgress": {
            "Type": "AWS::EC2::SecurityGroupEgress",
            "Condition": USE_VPC,
            "Properties": {
                "GroupId": glue_group,
                "DestinationSecurityGroupId": glue_group,
                **_tcp(0, 65535, "Glue workers talk to each other (required by Glue)"),
            },
        },
        GLUE_CONNECTION: {
            "Type": "AWS::Glue::Connection",
            "Condition": USE_VPC,
            # cfn-lint resolves SubnetIds and GlueAvailabilityZone to their empty defaults, which the
            # rule above forbids with a VPC.
            "Metadata": cfn_lint_ignores("W1030", "W1035"),
            "Properties": {
                "CatalogId": ref("AWS::AccountId"),
                "ConnectionInput": {
                    "Name": connection_name(settings),
                    "Description": "Runs the quality job and the crawler inside the VPC.",
                    "ConnectionType": "NETWORK",
                    "PhysicalConnectionRequirements": {
                        "SubnetId": {"Fn::Select": [0, ref("SubnetIds")]},
                        "AvailabilityZone": ref("GlueAvailabilityZone"),
                        "SecurityGroupIdList": [glue_group],
                    },
                },
            },
        },
        "EndpointSecurityGroup": {
            "Type": "AWS::EC2::SecurityGroup",
            "Condition": CREATE_ENDPOINTS,
            "Properties": {
                "GroupDescription": "quality_movies interface endpoints, reached by Glue",
                "VpcId": ref("VpcId"),
                "SecurityGroupIngress": [
                    _tcp(443, 443, "HTTPS from Glue workers", SourceSecurityGroupId=glue_group)
                ],
                # Endpoints answer requests only; this rule replaces the default allow-all egress.
                "SecurityGroupEgress": [
                    {
                        "IpProtocol": "icmp",
                        "FromPort": 252,
                        "ToPort": 86,
                        "CidrIp": "255.255.255.255/32",
                        "Description": "No outbound traffic",
                    }
                ],
            },
        },
        "S3GatewayEndpoint": {
            "Type": "AWS::EC2::VPCEndpoint",
            "Condition": CREATE_ENDPOINTS,
            "Properties": {
                "VpcId": ref("VpcId"),
                "ServiceName": sub("com.amazonaws.${AWS::Region}.s3"),
                "VpcEndpointType": "Gateway",
                "RouteTableIds": ref("RouteTableIds"),
            },
        },
    }
    for name, service in INTERFACE_ENDPOINTS.items():
        resources[name] = {
            "Type": "AWS::EC2::VPCEndpoint",
            "Condition": CREATE_ENDPOINTS,
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
