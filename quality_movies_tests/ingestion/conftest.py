"""The S3 server fixtures of the AWS tests, for the lake tests that run against SeaweedFS."""

from quality_movies_tests.aws.conftest import s3_bucket, seaweedfs  # noqa: F401
