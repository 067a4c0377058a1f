"""Every variant of the stack: checkov finds nothing, cfn-lint is clean with each variant's parameters."""

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs

from quality_movies.infra.export import export_infra, render_yaml
from quality_movies.infra.variants import VARIANTS
from quality_movies.settings import PipelineSettings

# checkov pins boto3==1.35.49 while the project needs a newer boto3, so `scripts/setup dev` installs it
# into its own environment, .venv/scan (pinned in pyproject.toml's `scan` dependency group).
SCAN_CHECKOV = Path(sys.prefix) / "scan" / "bin" / "checkov"

# The findings the stack accepts, each skipped in the template with its reason.
ACCEPTED = [("CKV_AWS_18", "AWS::S3::Bucket.AccessLogBucket")]


def checkov_executable() -> str:
    found = SCAN_CHECKOV if SCAN_CHECKOV.exists() else shutil.which("checkov")
    assert found, f"checkov is missing: run `scripts/setup dev` (it installs {SCAN_CHECKOV})"
    return str(found)


def with_defaults(template: dict[str, Any], parameter_file: Path) -> dict[str, Any]:
    """The template with a variant's parameter values as Defaults.

    checkov evaluates Conditions with the parameters' defaults and leaves out resources whose condition
    is false, so this is how it scans one variant.
    """
    variant = json.loads(json.dumps(template))
    for entry in json.loads(parameter_file.read_text()):
        variant["Parameters"][entry["ParameterKey"]]["Default"] = entry["ParameterValue"]
    return variant


def weakened(template: dict[str, Any]) -> dict[str, Any]:
    """The stack as it was before hardening: no topic key, no access logs, no Glue encryption."""
    resources = json.loads(json.dumps(template))["Resources"]
    del resources["NotificationTopic"]["Properties"]["KmsMasterKeyId"]
    del resources["DataBucket"]["Properties"]["LoggingConfiguration"]
    del resources["InputCrawler"]["Properties"]["CrawlerSecurityConfiguration"]
    del resources["DataQualityJob"]["Properties"]["SecurityConfiguration"]
    return {**template, "Resources": resources}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("infra")
    export_infra(out, PipelineSettings())
    return out


@pytest.fixture(scope="module")
def template(exported: Path) -> dict[str, Any]:
    return yaml.safe_load((exported / "template.yaml").read_text())


@pytest.fixture(scope="module")
def checkov_results(
    exported: Path, template: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """One offline checkov run over every variant and a weakened stack: results by file and outcome."""
    scanned = tmp_path_factory.mktemp("scan")
    shutil.copy(exported / "template.yaml", scanned / "default.yaml")
    for variant in VARIANTS:
        parameters = exported / "parameters" / f"{variant}.json"
        (scanned / f"{variant}.yaml").write_text(render_yaml(with_defaults(template, parameters)))
    (scanned / "weakened.yaml").write_text(render_yaml(weakened(template)))
    done = subprocess.run(
        [
            checkov_executable(),
            "--skip-download",
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--directory",
            str(scanned),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["summary"]["parsing_errors"] == 0
    by_file: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for outcome, checks in report["results"].items():
        for check in checks:
            name = Path(check["file_path"]).name
            by_file.setdefault(name, {}).setdefault(outcome, []).append(check)
    return by_file


def checked_resources(results: dict[str, list[dict[str, Any]]]) -> set[str]:
    return {
        check["resource"].split(".", 1)[1]
        for outcome in ("passed_checks", "failed_checks", "skipped_checks")
        for check in results.get(outcome, [])
    }


@pytest.mark.parametrize("variant", ["default", *VARIANTS])
def test_checkov_finds_nothing_in_the_variant(checkov_results: dict, variant: str) -> None:
    results = checkov_results[f"{variant}.yaml"]

    failed = [(c["check_id"], c["resource"]) for c in results.get("failed_checks", [])]
    assert failed == []
    assert len(results["passed_checks"]) > 60


def test_each_variant_scan_covers_its_own_pieces(checkov_results: dict) -> None:
    # The IAM checks reach the COPY role and the Lake Formation policy only in the variants that
    # have them. checkov cannot decide the VPC conditions (empty-string defaults), so it checks the
    # VPC pieces in every variant, which is more, not less.
    optional = {"RedshiftCopyRole", "LakeFormationDataAccessPolicy"}
    network = {"GlueInVpcPolicy", "GlueSecurityGroup", "RedshiftIngressFromGlue"}
    expected = {
        "default": set(),
        "network-existing-redshift": {"RedshiftCopyRole"},
        "serverless-redshift-lake-formation": optional,
        "network-serverless-redshift-lake-formation": optional,
        "serverless-redshift-batched": {"RedshiftCopyRole"},
    }
    assert set(expected) == {"default", *VARIANTS}
    for variant, pieces in expected.items():
        checked = checked_resources(checkov_results[f"{variant}.yaml"])
        assert checked & optional == pieces, variant
        assert {"DataBucket", "NotificationTopic", "GlueJobRole", "DataQualityJob"} <= checked
        if variant.startswith("network"):
            assert network <= checked, variant


@pytest.mark.parametrize("variant", ["default", *VARIANTS])
def test_each_accepted_finding_is_skipped_with_its_reason(
    checkov_results: dict, variant: str
) -> None:
    skipped = checkov_results[f"{variant}.yaml"].get("skipped_checks", [])

    assert [(c["check_id"], c["resource"]) for c in skipped] == ACCEPTED
    for check in skipped:
        assert len(check["check_result"]["suppress_comment"]) > 20


def test_checkov_catches_what_the_hardening_fixed(checkov_results: dict) -> None:
    failed = {
        (c["check_id"], c["resource"])
        for c in checkov_results["weakened.yaml"].get("failed_checks", [])
    }

    assert failed == {
        ("CKV_AWS_26", "AWS::SNS::Topic.NotificationTopic"),
        ("CKV_AWS_18", "AWS::S3::Bucket.DataBucket"),
        ("CKV_AWS_195", "AWS::Glue::Crawler.InputCrawler"),
        ("CKV_AWS_195", "AWS::Glue::Job.DataQualityJob"),
    }


def variant_parameters(template: dict[str, Any], parameter_file: Path) -> dict[str, Any]:
    """A parameter file as cfn-lint takes parameters: lists for CommaDelimitedList parameters."""
    parameters = {}
    for entry in json.loads(parameter_file.read_text()):
        key, value = entry["ParameterKey"], entry["ParameterValue"]
        is_list = template["Parameters"][key]["Type"] == "CommaDelimitedList"
        parameters[key] = value.split(",") if is_list else value
    return parameters


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cfn_lint_reports_nothing_for_the_variant(
    exported: Path, template: dict[str, Any], variant: str
) -> None:
    parameters = variant_parameters(template, exported / "parameters" / f"{variant}.json")

    matches = lint_file(exported / "template.yaml", config=ManualArgs(parameters=[parameters]))

    assert [str(match) for match in matches] == []


def test_cfn_lint_checks_the_variant_parameters(exported: Path, template: dict[str, Any]) -> None:
    parameters = variant_parameters(
        template, exported / "parameters" / "network-existing-redshift.json"
    )
    parameters["RedshiftTarget"] = "provisioned"

    matches = lint_file(exported / "template.yaml", config=ManualArgs(parameters=[parameters]))

    assert any("provisioned" in str(match) for match in matches)
