"""The GitHub workflows: actionlint is clean, CI runs the README's test command, deploy assumes a role by
OIDC and runs the three deploy commands, its shell steps do what docs/deploy.md says."""

import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from quality_movies.infra.variants import VARIANTS

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
DEPLOY_DOC = REPO_ROOT / "docs" / "deploy.md"
ACTIONLINT = Path(sys.executable).parent / "actionlint"


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    assert ACTIONLINT.exists(), f"{ACTIONLINT} is missing: run `scripts/setup dev`"
    return subprocess.run(
        [str(ACTIONLINT), "-no-color", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )


def workflow(name: str) -> dict[str, Any]:
    # PyYAML reads the key `on` as True (YAML 1.1); take it back under its name.
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True)
    return document


def steps(document: dict[str, Any]) -> list[dict[str, Any]]:
    (job,) = document["jobs"].values()
    return job["steps"]


def step(document: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [s for s in steps(document) if s.get("name") == name]
    return found


def test_workflows_are_the_two_expected() -> None:
    assert sorted(p.name for p in WORKFLOWS.iterdir()) == ["ci.yml", "deploy.yml"]


def test_actionlint_reports_nothing() -> None:
    result = actionlint(WORKFLOWS / "ci.yml", WORKFLOWS / "deploy.yml")

    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_misspelt_action_input(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "deploy.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        (WORKFLOWS / "deploy.yml").read_text().replace("role-to-assume", "role-to-asume")
    )

    result = actionlint(broken)

    assert result.returncode == 1
    assert "role-to-asume" in result.stdout


def test_ci_runs_the_readme_test_command() -> None:
    ci = workflow("ci.yml")
    readme = (REPO_ROOT / "README.md").read_text()

    assert re.search(r"^scripts/test\b", readme, re.MULTILINE), "README's test command moved"
    assert set(ci["on"]) == {"push", "pull_request"}
    assert [s["run"] for s in steps(ci) if "run" in s] == ["scripts/test"]
    setup = {s["uses"].split("@")[0]: s.get("with", {}) for s in steps(ci) if "uses" in s}
    assert setup["actions/setup-python"]["python-version"] == "3.11"
    assert setup["actions/setup-java"]["java-version"] == "17"


def test_deploy_runs_on_a_tag_or_by_hand() -> None:
    deploy = workflow("deploy.yml")

    assert deploy["on"]["push"] == {"tags": ["v*"]}
    assert deploy["on"]["workflow_dispatch"]["inputs"]["execute"]["default"] is True


def test_deploy_assumes_a_role_by_oidc_and_holds_no_keys() -> None:
    deploy = workflow("deploy.yml")
    text = (WORKFLOWS / "deploy.yml").read_text()
    (job,) = deploy["jobs"].values()

    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    credentials = step(deploy, "Assume the deploy role (OIDC)")
    assert credentials["uses"].startswith("aws-actions/configure-aws-credentials@")
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert "aws-access-key-id" not in text
    assert "secrets." not in text


def test_deploy_uploads_exports_and_deploys_in_that_order() -> None:
    deploy = workflow("deploy.yml")
    runs = [s.get("run", "") for s in steps(deploy)]

    def first(command: str) -> int:
        return next(i for i, run in enumerate(runs) if command in run)

    upload = first("quality-movies glue-package --out dist/glue --upload")
    export = first("quality-movies export-infra --out build/infra")
    cloudformation = first("aws cloudformation deploy")
    assert upload < export < cloudformation
    names = [s.get("name", "") for s in steps(deploy)]
    assert names.index("Assume the deploy role (OIDC)") < upload
    assert "--template-file build/infra/template.yaml" in runs[cloudformation]


def fake_tools(folder: Path, head_bucket_exit: int) -> Path:
    """An ``aws`` and a ``.venv/bin/quality-movies`` that record their arguments in calls.log."""
    log = folder / "calls.log"
    for tool in (folder / "bin" / "aws", folder / ".venv" / "bin" / "quality-movies"):
        tool.parent.mkdir(parents=True, exist_ok=True)
        name = tool.name
        exit_code = f'[ "$1" = "s3api" ] && exit {head_bucket_exit}' if name == "aws" else ""
        tool.write_text(f'#!/bin/bash\necho "{name} $*" >> "{log}"\n{exit_code}\nexit 0\n')
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return log


def run_step(document: dict[str, Any], name: str, folder: Path, env: dict[str, str]) -> str:
    """Run a workflow step's script with bash -e (as GitHub's default shell) in ``folder``."""
    output = folder / "github_output"
    output.touch()
    environment = {
        "PATH": f"{folder / 'bin'}:{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_REF_NAME": "v1.2.0",
        **env,
    }
    subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step(document, name)["run"]],
        cwd=folder,
        env=environment,
        check=True,
        capture_output=True,
    )
    return output.read_text()


@pytest.mark.parametrize(("bucket_exists", "uploaded"), [(True, "true"), (False, "false")])
def test_glue_package_is_uploaded_only_once_the_bucket_exists(
    tmp_path: Path, bucket_exists: bool, uploaded: str
) -> None:
    log = fake_tools(tmp_path, head_bucket_exit=0 if bucket_exists else 254)

    output = run_step(
        workflow("deploy.yml"),
        "Build and upload the Glue package",
        tmp_path,
        {"QUALITY_MOVIES_BUCKET": "acme-movies"},
    )

    assert output == f"uploaded={uploaded}\n"
    upload = " --upload" if bucket_exists else ""
    assert log.read_text().splitlines() == [
        "aws s3api head-bucket --bucket acme-movies",
        f"quality-movies glue-package --out dist/glue{upload}",
    ]


@pytest.mark.parametrize(
    ("parameter_file", "execute", "extra"),
    [
        ("", "true", ""),
        (
            "deploy/production.json",
            "true",
            " --parameter-overrides file://deploy/production.json",
        ),
        ("", "false", " --no-execute-changeset"),
    ],
)
def test_deploy_step_builds_the_cloudformation_command(
    tmp_path: Path, parameter_file: str, execute: str, extra: str
) -> None:
    log = fake_tools(tmp_path, head_bucket_exit=0)

    run_step(
        workflow("deploy.yml"),
        "Deploy the stack through a change set",
        tmp_path,
        {
            "STACK_NAME": "quality-movies",
            "STACK_PARAMETER_FILE": parameter_file,
            "EXECUTE_CHANGE_SET": execute,
        },
    )

    assert log.read_text().splitlines() == [
        "aws cloudformation deploy --stack-name quality-movies "
        "--template-file build/infra/template.yaml --capabilities CAPABILITY_IAM "
        f"--no-fail-on-empty-changeset --tags quality-movies:version=v1.2.0{extra}"
    ]


def test_deploy_doc_names_every_parameter_variant_and_repository_variable() -> None:
    doc = DEPLOY_DOC.read_text()
    template = yaml.safe_load((REPO_ROOT / "infra" / "template.yaml").read_text())
    deploy_text = (WORKFLOWS / "deploy.yml").read_text()

    missing_parameters = [p for p in template["Parameters"] if f"`{p}`" not in doc]
    assert missing_parameters == []
    missing_variants = [v for v in VARIANTS if f"infra/parameters/{v}.json" not in doc]
    assert missing_variants == []
    variables = set(re.findall(r"vars\.([A-Z_]+)", deploy_text))
    assert variables == {
        "AWS_DEPLOY_ROLE_ARN",
        "AWS_REGION",
        "STACK_NAME",
        "STACK_PARAMETER_FILE",
        "QUALITY_MOVIES_BUCKET",
    }
    assert [v for v in sorted(variables) if f"`{v}`" not in doc] == []
    for command in (
        "quality-movies glue-package --out dist/glue --upload",
        "quality-movies export-infra --out build/infra",
        "aws cloudformation deploy",
        "--no-execute-changeset",
        "id-token: write",
    ):
        assert command in doc, command
