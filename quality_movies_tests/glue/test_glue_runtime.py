"""The Glue job in AWS Glue 5.1's runtime: Python 3.11, pyspark 3.5.6, the job's locked wheels only.

``scripts/setup glue-runtime`` builds ``.venv/glue-runtime`` (Glue's provided modules from
glue/runtime-requirements.txt, then the locked wheels with ``pip --no-index``) and keeps the downloaded
wheels in ``.venv/glue-runtime-wheelhouse``; these tests use both and never reach the package index.
The job's code is this tree's (PYTHONPATH), its dependencies those Glue would install.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

from quality_movies.glue_package import (
    GLUE_PROVIDED,
    JOB_MODULES,
    PIPELINE_MODULES,
    build_glue_assets,
    project_version,
)
from quality_movies.quality.resources import GlueQualityJobRunner
from quality_movies_tests.glue import test_glue_runner as on_project_spark
from quality_movies_tests.glue.conftest import LocalGlueClient, client

REPO_ROOT = Path(__file__).resolve().parents[2]
GLUE_RUNTIME = REPO_ROOT / ".venv" / "glue-runtime"
GLUE_PYTHON = GLUE_RUNTIME / "bin" / "python"
WHEELHOUSE = REPO_ROOT / ".venv" / "glue-runtime-wheelhouse"
GLUE_SPARK = "3.5.6"  # AWS Glue 5.1

pytestmark = [
    pytest.mark.glue_runtime,
    pytest.mark.skipif(
        not (GLUE_PYTHON.exists() and WHEELHOUSE.is_dir()),
        reason="no .venv/glue-runtime: build it with `scripts/setup glue-runtime` (once, with the "
        "package index)",
    ),
]


def runtime_env(**extra: str) -> dict[str, str]:
    """The environment without this venv's Python path or pip settings (pip must see no index)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))
    }
    return {**env, **extra}


def run(command: list[str], **options) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, check=False, **options)
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_the_runtime_is_glue_51s_python_and_spark() -> None:
    done = run(
        [
            str(GLUE_PYTHON),
            "-c",
            "import sys, pyspark; print(sys.version_info[:2], pyspark.__version__)",
        ],
        env=runtime_env(),
    )
    assert done.stdout.split() == ["(3,", "11)", GLUE_SPARK]


LINK_PROVIDED = """
import sys
from importlib.metadata import distributions
from pathlib import Path

site, provided = Path(sys.argv[1]), set(sys.argv[2:])
for dist in distributions():
    if dist.metadata["Name"].lower().replace("_", "-") in provided:
        for top in sorted({f.parts[0] for f in dist.files or [] if f.parts[0] != ".."}):
            if not (site / top).exists():
                (site / top).symlink_to(Path(dist.locate_file(top)))
"""


def with_glue_provided_modules(python: str, tmp_path: Path) -> None:
    """Give the venv of ``python`` Glue's provided modules (GLUE_PROVIDED, as installed in
    .venv/glue-runtime) and nothing else of it, as a Glue job finds them: linked into a folder named
    by a .pth file."""
    provided = tmp_path / "glue-provided"
    provided.mkdir()
    run([str(GLUE_PYTHON), "-c", LINK_PROVIDED, str(provided), *GLUE_PROVIDED], env=runtime_env())
    done = run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], env=runtime_env()
    )
    (Path(done.stdout.strip()) / "glue-provided.pth").write_text(f"{provided}\n")


def test_the_wheelhouse_installs_offline_into_a_clean_python_and_imports_the_job(
    tmp_path: Path,
) -> None:
    """What Glue does in a subnet without NAT: pip --no-index from the wheels alone, beside what Glue
    provides; the job's modules and the pipeline's (Dagster's resources, ``--pipeline true``)
    import."""
    wheels = tmp_path / "wheelhouse"
    build_glue_assets(wheels, with_dependencies=True, wheels_from=WHEELHOUSE)  # sha256-checked
    clean = tmp_path / "clean"
    run([str(GLUE_PYTHON), "-m", "venv", str(clean)], env=runtime_env())
    python = str(clean / "bin" / "python")
    with_glue_provided_modules(python, tmp_path)
    run(
        [
            python,
            "-m",
            "pip",
            "--isolated",
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            str(wheels),
            f"quality_movies=={project_version()}",
        ],
        env=runtime_env(),
    )
    imports = ", ".join(
        [*JOB_MODULES, *PIPELINE_MODULES, "dagster_pipes", "pandera", "quality_movies"]
    )
    done = run(
        [python, "-c", f"import {imports}; print(quality_movies.__file__)"],
        env=runtime_env(),
        cwd=tmp_path,
    )
    assert done.stdout.strip().startswith(str(clean))


class GlueRuntimeJobRunner(GlueQualityJobRunner):
    """The production runner, with Glue's start_job_run running the script in Glue's runtime."""

    def glue_client(self):
        return LocalGlueClient(
            client("glue", self.endpoint_url),
            client("s3", self.endpoint_url),
            self.endpoint_url,
            timeout=600,  # a cold Spark 3.5 start on a busy two-core machine
            python=str(GLUE_PYTHON),
            env=runtime_env(PYTHONPATH=str(REPO_ROOT)),
        )


@pytest.fixture
def deployed(aws_env, glue_assets, tmp_path):
    return on_project_spark.deploy_quality_job(aws_env, glue_assets, tmp_path, GlueRuntimeJobRunner)


@pytest.mark.server
def test_the_glue_job_runs_end_to_end_on_glues_spark(deployed) -> None:
    on_project_spark.test_glue_job_runs_and_reports_its_counts_through_s3(deployed)


@pytest.mark.server
def test_reference_data_file_rules_and_catalog_types_on_glues_spark(deployed, tmp_path) -> None:
    on_project_spark.test_glue_job_reads_reference_data_lists_s3_for_file_rules_and_types_as_the_catalog(
        deployed, tmp_path
    )


@pytest.mark.timeout(1800)  # about 70 cases on one local Spark session: 6 minutes here
def test_the_spark_backends_shared_case_tables_pass_on_glues_spark(tmp_path: Path) -> None:
    """The DQDL case tables (cases.py, cases_language.py) on pyspark 3.5.6, with pytest inside the
    runtime; its own ini, since the project's names Dagster warning classes the runtime lacks."""
    ini = tmp_path / "pytest.ini"
    ini.write_text("[pytest]\nmarkers =\n    spark: PySpark tier\n")
    done = run(
        [
            str(GLUE_PYTHON),
            "-m",
            "pytest",
            "-c",
            str(ini),
            "--rootdir",
            str(REPO_ROOT),
            "-p",
            "no:cacheprovider",
            "-q",
            "-m",
            "spark",
            "quality_movies_tests/dq/test_semantics.py",
        ],
        env=runtime_env(PYTHONPATH=str(REPO_ROOT)),
        cwd=REPO_ROOT,
    )
    summary = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed, \d+ deselected in [\d.]+s( \(.*\))?", summary), summary
