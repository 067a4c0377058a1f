"""``quality-movies glue-package``: build (and upload) what the Glue job needs, for a Glue without internet.

The job runs ``glue/quality_movies_job.py``; Glue pip-installs the project wheel and every dependency
wheel from S3 (``--additional-python-modules`` lists their S3 paths, ``--python-modules-installer-option
--no-index`` keeps pip off the package index), so the job also runs in a private subnet without NAT.
The dependency wheels are pinned in ``glue/wheelhouse.lock`` (file name and sha256 of each, for CPython
3.11 on manylinux x86_64, Glue 5.x's platform); ``--lock`` writes that file again from the package index.
"""

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distributions, packages_distributions, version
from pathlib import Path

import quality_movies
from quality_movies.settings import PipelineSettings

SCRIPT_NAME = "quality_movies_job.py"
DISTRIBUTION = "quality_movies"
PACKAGE_DATA_SUFFIXES = (".py", ".dqdl", ".lark", ".sql")
# The job module, and the DQDL parser it imports when it parses a ruleset (a Glue worker has
# no parsed rulesets kept).
JOB_MODULES = ("quality_movies.quality.glue_job", "quality_movies.dq.parser")
# What a job run of the state machine (``--pipeline true``) imports besides: the Dagster path's own
# functions and resources (quality_movies.aws_pipeline, environment.aws_resources), so Dagster's
# libraries are in the wheelhouse too.
PIPELINE_MODULES = (
    "quality_movies.aws_pipeline",
    "quality_movies.environment",
    "quality_movies.lake",
    "quality_movies.monitoring.resources",
    "quality_movies.notifications.resources",
    "quality_movies.quality.resources",
    "quality_movies.runs.resources",
    "quality_movies.warehouse.resources",
    "dagster_aws.s3",
    "dagster_pyspark",
)
# Imported by the entrypoint script, or by the job only while it runs (pandera checks the validated
# rows against the warehouse contract), rather than when the job module is imported.
SCRIPT_REQUIREMENTS = ("dagster-pipes", "pandera")

# Distributions Glue's Spark runtime brings (AWS "Python modules already provided in AWS Glue"): the
# wheelhouse never replaces them. Others that Glue also has (packaging, typing-extensions) are shipped,
# so the job gets the versions it was tested with.
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
        "pip",
        "setuptools",
        "wheel",
    }
)
# Glue's Spark itself: published on the package index as a source distribution only, so a wheel that
# requires it (dagster-pyspark) is downloaded without its dependencies, which are locked on their own.
GLUE_SPARK = frozenset({"pyspark", "py4j"})
GLUE_PYTHON = "3.11"
# Glue 5.0 and 5.1 run on Amazon Linux 2023 (glibc 2.34): every manylinux tag up to 2.34. pip does not
# widen one ``--platform`` to the older glibc versions, so each is named.
GLUE_PLATFORMS = (
    "manylinux2014_x86_64",
    *(f"manylinux_2_{minor}_x86_64" for minor in range(17, 35)),
)
LOCK_NAME = "wheelhouse.lock"
INSTALLER_OPTION = "--no-index"


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@dataclass(frozen=True)
class LockedWheel:
    """One pinned dependency wheel of the job: its file name and the sha256 of its content."""

    file: str
    sha256: str

    @property
    def distribution(self) -> str:
        return _canonical(self.file.split("-")[0])

    @property
    def version(self) -> str:
        return self.file.split("-")[1]


@dataclass(frozen=True)
class GlueAssets:
    """The files of one build: the entrypoint script, the project wheel, the dependency wheels and
    the ruleset in force (the state machine's job runs read it, ``--ruleset_uri``)."""

    script: Path
    wheel: Path
    dependencies: tuple[Path, ...] = ()
    ruleset: Path | None = None

    def wheels(self) -> list[Path]:
        """Every wheel Glue installs, the project's first."""
        return [self.wheel, *self.dependencies]

    def files(self) -> list[Path]:
        return [self.script, *self.wheels(), *([self.ruleset] if self.ruleset else [])]


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
    included: the job imports it when it parses the ruleset; the pipeline's modules too).
    """
    probe = (
        "import json, sys, importlib; [importlib.import_module(m) for m in sys.argv[1:]]; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *JOB_MODULES, *PIPELINE_MODULES],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"importing {JOB_MODULES + PIPELINE_MODULES} failed, fix it first:\n{done.stderr}"
        )
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


def lock_path() -> Path:
    """``glue/wheelhouse.lock`` of the source tree."""
    return job_script_path().with_name(LOCK_NAME)


def read_lock(path: Path | None = None) -> list[LockedWheel]:
    """The pinned dependency wheels, in file-name order."""
    lines = (path or lock_path()).read_text().splitlines()
    wheels = []
    for line in lines:
        if line.strip() and not line.startswith("#"):
            file, digest = line.split()
            wheels.append(LockedWheel(file, digest.removeprefix("sha256=")))
    return wheels


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pip_download(
    requirements: list[str], dest: Path, *, deps: bool, constraints: Path | None = None
) -> None:
    """``pip download`` of binary wheels for Glue's platform (CPython 3.11, manylinux x86_64)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--only-binary=:all:",
        *[option for platform in GLUE_PLATFORMS for option in ("--platform", platform)],
        "--python-version",
        GLUE_PYTHON,
        "--implementation",
        "cp",
        "--abi",
        "cp311",
        "--dest",
        str(dest),
    ]
    if not deps:
        command.append("--no-deps")
    if constraints is not None:
        command += ["--constraint", str(constraints)]
    done = subprocess.run([*command, *requirements], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        problem = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"pip download from the package index failed: {problem}")


def requires_glue_spark(requirement: str) -> bool:
    """Whether the installed distribution pinned by ``requirement`` (``name==version``) requires
    Glue's Spark (on Linux, Python 3.11, no extras)."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    environment = {"python_version": GLUE_PYTHON, "sys_platform": "linux", "extra": ""}
    for text in requires(requirement.split("==")[0]) or []:
        needed = Requirement(text)
        if needed.marker is not None and not needed.marker.evaluate(environment):
            continue
        if _canonical(needed.name) in GLUE_SPARK:
            return True
    return False


def write_lock(path: Path | None = None) -> list[LockedWheel]:
    """Resolve the job's requirements for Glue's platform from the package index and pin every wheel.

    Transitive dependencies take the versions installed here (the ones the tests ran with); what
    Glue provides is left out.
    """
    with tempfile.TemporaryDirectory(prefix="glue-lock-") as tmp:
        constraints = Path(tmp) / "constraints.txt"
        installed = {_canonical(d.metadata["Name"]): d.version for d in distributions()}
        constraints.write_text(
            "".join(
                f"{name}=={v}\n" for name, v in sorted(installed.items()) if name != DISTRIBUTION
            )
        )
        dest = Path(tmp) / "wheels"
        requirements = job_requirements()
        on_spark = [r for r in requirements if requires_glue_spark(r)]
        pip_download(
            [r for r in requirements if r not in on_spark], dest, deps=True, constraints=constraints
        )
        if on_spark:  # their other dependencies are job requirements of their own
            pip_download(on_spark, dest, deps=False)
        wheels = [
            LockedWheel(wheel.name, _sha256(wheel))
            for wheel in sorted(dest.glob("*.whl"))
            if _canonical(wheel.name.split("-")[0]) not in GLUE_PROVIDED
        ]
    header = (
        "# The Glue job's dependency wheels for CPython 3.11 on manylinux x86_64 (AWS Glue 5.x), pinned:\n"
        "# written by `quality-movies glue-package --lock` from the package index; do not edit by hand.\n"
    )
    (path or lock_path()).write_text(
        header + "".join(f"{w.file} sha256={w.sha256}\n" for w in wheels)
    )
    return wheels


def fetch_locked_wheels(dest: Path, wheels_from: Path | None = None) -> list[Path]:
    """The locked dependency wheels in ``dest``: copied from ``wheels_from`` or downloaded from the
    package index, each checked against its sha256 in the lock."""
    locked = read_lock()
    dest.mkdir(parents=True, exist_ok=True)
    missing = [w for w in locked if not (dest / w.file).is_file()]
    if missing and wheels_from is not None:
        for wheel in missing:
            source = wheels_from / wheel.file
            if not source.is_file():
                raise FileNotFoundError(f"{source} is missing: build the wheelhouse again")
            shutil.copyfile(source, dest / wheel.file)
    elif missing:
        pip_download([f"{w.distribution}=={w.version}" for w in missing], dest, deps=False)
    paths = []
    for wheel in locked:
        path = dest / wheel.file
        if not path.is_file():
            raise RuntimeError(
                f"the package index gave no {wheel.file}: run `quality-movies glue-package --lock`"
            )
        if _sha256(path) != wheel.sha256:
            raise RuntimeError(
                f"{path} does not match its sha256 in {LOCK_NAME}: delete it and build again"
            )
        paths.append(path)
    return paths


def ruleset_in_force_text(ruleset_path: str = "") -> str:
    """The ruleset the Dagster path evaluates with: ``QUALITY_MOVIES_RULESET``'s file, else the
    packaged movies ruleset."""
    from quality_movies.quality.glue_job import packaged_ruleset_text

    if not ruleset_path:
        return packaged_ruleset_text()
    path = Path(ruleset_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} (QUALITY_MOVIES_RULESET) is missing: name a DQDL file")
    return path.read_text(encoding="utf-8")


def build_glue_assets(
    out_dir: Path,
    *,
    with_dependencies: bool = False,
    wheels_from: Path | None = None,
    ruleset_path: str = "",
) -> GlueAssets:
    """Write the job script, the project wheel and the ruleset in force into ``out_dir``; with
    ``with_dependencies`` the locked dependency wheels too (from ``wheels_from`` or the package
    index)."""
    from quality_movies.infra.state_machine import RULESET_FILE

    out_dir.mkdir(parents=True, exist_ok=True)
    script = out_dir / SCRIPT_NAME
    script.write_bytes(job_script_path().read_bytes())
    ruleset = out_dir / RULESET_FILE
    ruleset.write_text(ruleset_in_force_text(ruleset_path), encoding="utf-8")
    dependencies = fetch_locked_wheels(out_dir, wheels_from) if with_dependencies else []
    return GlueAssets(
        script=script,
        wheel=build_wheel(out_dir / wheel_name(), job_requirements()),
        dependencies=tuple(dependencies),
        ruleset=ruleset,
    )


def job_arguments(settings: PipelineSettings, assets: GlueAssets) -> dict[str, str]:
    """The Glue job arguments that install the uploaded wheels, and nothing from an index."""
    base = f"s3://{settings.bucket}/{settings.glue_assets_prefix}"
    return {
        "--additional-python-modules": ",".join(f"{base}{w.name}" for w in assets.wheels()),
        "--python-modules-installer-option": INSTALLER_OPTION,
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
    """``quality-movies glue-package [--out DIR] [--wheels-from DIR] [--upload] | --lock``."""
    parser = argparse.ArgumentParser(
        prog="quality-movies glue-package",
        description=(
            "Build the Glue job script, the project wheel and the locked dependency wheels (from the "
            "package index, or --wheels-from); optionally upload them to S3."
        ),
    )
    parser.add_argument("--out", default="dist/glue", help="output folder (default: dist/glue)")
    parser.add_argument(
        "--wheels-from",
        type=Path,
        help="folder holding the locked dependency wheels already (no package index needed)",
    )
    parser.add_argument(
        "--upload",
        action="store_true",
        help="upload to s3://<bucket>/<glue_assets_prefix> (endpoint: QUALITY_MOVIES_AWS_ENDPOINT_URL)",
    )
    parser.add_argument(
        "--lock",
        action="store_true",
        help=f"resolve the dependencies from the package index and write glue/{LOCK_NAME}",
    )
    args = parser.parse_args(argv)
    try:
        if args.lock:
            for wheel in write_lock():
                print(f"locked {wheel.file}")
            return 0
        settings = PipelineSettings.from_env()
        assets = build_glue_assets(
            Path(args.out),
            with_dependencies=True,
            wheels_from=args.wheels_from,
            ruleset_path=os.environ.get("QUALITY_MOVIES_RULESET", ""),
        )
    except (RuntimeError, FileNotFoundError) as exc:
        print(f"glue-package: {exc}", file=sys.stderr)
        return 1
    for path in assets.files():
        print(f"built {path}")
    print(json.dumps(job_arguments(settings, assets), indent=2))
    if args.upload:
        for uri in upload_glue_assets(assets, settings):
            print(f"uploaded {uri}")
    return 0
