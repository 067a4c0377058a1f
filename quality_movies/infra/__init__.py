"""Exported AWS trigger: CloudFormation stack, Step Functions ASL and EventBridge pattern from the settings."""
