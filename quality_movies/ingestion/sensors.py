"""A sensor that starts one run per new or changed CSV under ``input_data/``."""

import json
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from quality_movies.ingestion.resources import Lake, LakeObject
from quality_movies.partitions import ETAG_TAG, movie_files


@dataclass
class FilePlan:
    """What to do about the objects under the input prefix."""

    to_process: list[LakeObject] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)


def plan_input_files(objects: list[LakeObject], seen: dict[str, str]) -> FilePlan:
    """Pick the CSV objects whose ETag differs from the one already seen; report the rest.

    Keyed by object key and ETag (never by LastModified, whose 1 s resolution hides files written in
    the same second), so a changed file is processed again and an unchanged one never is.
    """
    plan = FilePlan(seen=dict(seen))
    for obj in sorted(objects, key=lambda o: o.key):
        if not obj.key.lower().endswith(".csv"):
            plan.ignored.append(obj.key)
            continue
        if seen.get(obj.key) != obj.etag:
            plan.to_process.append(obj)
            plan.seen[obj.key] = obj.etag
    return plan


def run_request(lake: Lake, obj: LakeObject) -> dg.RunRequest:
    source_file = lake.source_file(obj.key)
    return dg.RunRequest(
        run_key=f"{obj.key}@{obj.etag}",
        partition_key=source_file,
        tags={ETAG_TAG: obj.etag},
    )


def build_new_files_sensor(job: UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    """The sensor over the lake's input prefix, requesting ``job`` for each new or changed file."""

    @dg.sensor(
        name="new_movie_files",
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Starts one run per new or changed CSV under input_data/.",
    )
    def new_movie_files(context: dg.SensorEvaluationContext, lake: Lake) -> dg.SensorResult:
        seen = json.loads(context.cursor) if context.cursor else {}
        plan = plan_input_files(lake.input_files(), seen)
        for key in plan.ignored:
            context.log.warning(f"ignored {lake.uri(key)}: only .csv files are ingested")
        known = set(context.instance.get_dynamic_partitions(movie_files.name))
        new_partitions = sorted({lake.source_file(o.key) for o in plan.to_process} - known)
        return dg.SensorResult(
            run_requests=[run_request(lake, obj) for obj in plan.to_process],
            dynamic_partitions_requests=(
                [movie_files.build_add_request(new_partitions)] if new_partitions else []
            ),
            cursor=json.dumps(plan.seen, sort_keys=True),
            skip_reason=None
            if plan.to_process
            else f"no new or changed CSV files ({len(plan.ignored)} other keys ignored)",
        )

    return new_movie_files
