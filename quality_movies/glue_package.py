"""``quality-movies glue-package``: build (and upload) what the Glue job needs to run the project's code.

The Glue job runs ``glue/quality_movies_job.py`` with the project on its Python path: a wheel (for
``--additional-python-modules``, which pip-installs it with its few dependencies) and the same package as a
plain zip (for ``--extra-py-files``), both holding the ``.dqdl``, ``.lark`` and ``.sql`` data files.
"""

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path

import quality_movies
from quality_movies.settings import PipelineSettings

SCRIPT_NAME = "quality_movies_job.py"
PACKAGE_ZIP = "quality_movies.zip"
DISTRIBUTION = "quality_movies"
PACKAGE_DATA_SUFFIXES = (".py", ".dqdl", ".lark", ".sql")
# The job module, and the DQDL parser it imports when it parses a ruleset (a Glue worker has
# no parsed rulesets kept).
JOB_MODULES = ("quality_movies.glue_job", "quality_movies.dq.parser")
# Imported by the entrypoint script, or by the job only while it runs (pandera checks the validated
# rows against the warehouse contract), rather than when the job module is imported.
SCRIPT_REQUIREMENTS = ("dagster-pipes", "pandera")

# Distributions that every Glue 4.0/5.0 Spark job already has (AWS "Python modules already provided").
GLUE_PROVIDED = frozenset(
    {
        "pyspark",
        "py4j",
        "boto3",
        "botocore",
        "s3transfer",
        "jmespath",
        "python-dateutil",
        "urllib3",
        "six",
        "numpy",
        "pandas",
        "pyarrow",
        "pytz",
        "tzdata",
        "packaging",
        "pip",
        "setuptools",
        "wheel",
        "typing_extensions",
        "typing-extensions",
    }
)


@dataclass(frozen=True)
class GlueAssets:
    """The files of one build and the modules Glue must install next to them."""

    script: Path
    wheel: Path
    package_zip: Path
    additional_python_modules: list[str]

    def files(self) -> list[Path]:
        return [self.script, self.wheel, self.package_zip]


def project_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0.0.0"


def wheel_name() -> str:
    """File name of the project wheel, as the stack's ``GlueJobWheel`` parameter expects it."""
    return f"{DISTRIBUTION}-{project_version()}-py3-none-any.whl"


def job_script_path() -> Path:
    """The Glue entrypoint script of the source tree."""
    script = Path(quality_movies.__file__).resolve().parents[1] / "glue" / SCRIPT_NAME
    if not script.is_file():
        raise FileNotFoundError(
            f"{script} is missing: run glue-package from a source checkout of quality_movies"
        )
    return script


def package_files() -> list[tuple[Path, str]]:
    """(file, name in archive) of every module and data file of the ``quality_movies`` package."""
    root = Path(quality_movies.__file__).resolve().parent
    found = []
    for path in sorted(root.rglob("*")):
        if (
            path.is_file()
            and path.suffix in PACKAGE_DATA_SUFFIXES
            and "__pycache__" not in path.parts
        ):
            found.append((path, f"quality_movies/{path.relative_to(root).as_posix()}"))
    return found


def job_requirements() -> list[str]:
    """Pinned third-party distributions that importing the job's modules loads and Glue lacks.

    Measured in a fresh interpreter, so the list follows the code's real imports (the DQDL parser
    included: the job imports it when it parses the ruleset).
    """
    probe = (
        "import json, sys, importlib; [importlib.import_module(m) for m in sys.argv[1:]]; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *JOB_MODULES], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"importing {JOB_MODULES} failed, fix it first:\n{done.stderr}")
    top_levels = json.loads(done.stdout)
    owners = packages_distributions()
    distributions = set(SCRIPT_REQUIREMENTS) | {
        dist
        for name in top_levels
        for dist in owners.get(name, [])
        if dist.lower() != DISTRIBUTION and dist.lower() not in GLUE_PROVIDED
    }
    return [f"{dist}=={version(dist)}" for dist in sorted(distributions, key=str.lower)]


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(dest: Path, requirements: list[str]) -> Path:
    """A pure-Python wheel of the package whose only dependencies are what Glue lacks."""
    dist_info = f"{DISTRIBUTION}-{project_version()}.dist-info"
    metadata = "\n".join(
        [
            "Metadata-Version: 2.1",
            f"Name: {DISTRIBUTION}",
            f"Version: {project_version()}",
            "Summary: quality_movies data quality job for AWS Glue",
            *[f"Requires-Dist: {r}" for r in requirements],
            "",
        ]
    )
    wheel_meta = "Wheel-Version: 1.0\nGenerator: quality_movies.glue_package\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    records = []
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        entries = [(name, path.read_bytes()) for path, name in package_files()]
        entries += [
            (f"{dist_info}/METADATA", metadata.encode()),
            (f"{dist_info}/WHEEL", wheel_meta.encode()),
            (f"{dist_info}/top_level.txt", b"quality_movies\n"),
        ]
        for name, data in entries:
            wheel.writestr(name, data)
            records.append(_record_line(name, data))
        records.append(f"{dist_info}/RECORD,,")
        wheel.writestr(f"{dist_info}/RECORD", "\n".join(records) + "\n")
    return dest


def build_package_zip(dest: Path) -> Path:
    """The package as a zip with ``quality_movies/`` at its root, for ``--extra-py-files``."""
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, name in package_files():
            archive.write(path, name)
    return dest


def build_glue_assets(out_dir: Path) -> GlueAssets:
    """Write the job script, the wheel and the zip into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    requirements = job_requirements()
    script = out_dir / SCRIPT_NAME
    script.write_bytes(job_script_path().read_bytes())
    return GlueAssets(
        script=script,
        wheel=build_wheel(out_dir / wheel_name(), requirements),
        package_zip=build_package_zip(out_dir / PACKAGE_ZIP),
        additional_python_modules=requirements,
    )


def job_arguments(settings: PipelineSettings, assets: GlueAssets) -> dict[str, str]:
    """Glue job arguments that put the uploaded assets on the job's Python path."""
    base = f"s3://{settings.bucket}/{settings.glue_assets_prefix}"
    return {
        "--additional-python-modules": ",".join(
            [f"{base}{assets.wheel.name}", *assets.additional_python_modules]
        ),
        "--extra-py-files": f"{base}{assets.package_zip.name}",
    }


def upload_glue_assets(assets: GlueAssets, settings: PipelineSettings, s3_client=None) -> list[str]:
    """Put the files at ``s3://<bucket>/<glue_assets_prefix>``; returns their URIs."""
    if s3_client is None:
        import boto3

        s3_client = boto3.client(
            "s3",
            region_name=settings.region or None,
            endpoint_url=os.environ.get("QUALITY_MOVIES_AWS_ENDPOINT_URL") or None,
        )
    uris = []
    for path in assets.files():
        key = f"{settings.glue_assets_prefix}{path.name}"
        s3_client.upload_file(str(path), settings.bucket, key)
        uris.append(f"s3://{settings.bucket}/{key}")
    return uris


def main(argv: list[str] | None = None) -> int:
    """``quality-movies glue-package [--out DIR] [--upload]``."""
    parser = argparse.ArgumentParser(
        prog="quality-movies glue-package",
        description="Build the Glue job script, project wheel and zip; optionally upload them to S3.",
    )
    parser.add_argument("--out", default="dist/glue", help="output folder (default: dist/glue)")
    parser.add_argument(
        "--upload",
        action="store_true",
        help="upload to s3://<bucket>/<glue_assets_prefix> (endpoint: QUALITY_MOVIES_AWS_ENDPOINT_URL)",
    )
    args = parser.parse_args(argv)
    settings = PipelineSettings.from_env()
    assets = build_glue_assets(Path(args.out))
    for path in assets.files():
        print(f"built {path}")
    print(json.dumps(job_arguments(settings, assets), indent=2))
    if args.upload:
        for uri in upload_glue_assets(assets, settings):
            print(f"uploaded {uri}")
    return 0
