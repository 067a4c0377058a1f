"""What Dagster's own bookkeeping costs for a batch of N files, with no data work at all.

A job shaped as the ingest job (raw_movies -> movies_catalog_table -> a quality gate with four
outputs and five per-partition checks), over N dynamic partitions in one single-run backfill on a
fresh SQLite instance: per file 6 planned materializations, 6 materializations and 5 check
evaluations, as `quality-movies run` writes them. The time is the floor under which no batch of N
files can run while each keeps its own partition, materializations and checks.

    .venv/bin/python benchmarks/dagster_floor.py 100 1000 [--sync full|normal|off]
        [--event-log sharded|consolidated|memory|postgres [--postgres-url URL]]
        [--planned-events per-file|per-run] [--rules N]

``--sync`` applies the product's setting for the instance's SQLite files
(quality_movies/runs/instance_storage.py); ``full`` is Dagster's default. ``--event-log consolidated``
measures Dagster's ConsolidatedSqliteEventLogStorage (one SQLite file, each event written once; its
docstring says it is meant for tests, so the product keeps Dagster's default: a file per run plus an
index file that repeats every asset event). ``--event-log memory`` keeps everything in memory
(Dagster's ephemeral instance, no disk at all): what Dagster's own handling of the events costs
whatever the storage. ``--event-log postgres`` uses dagster-postgres (not a dependency of the
product) on the empty database at ``--postgres-url`` (give one count per database).
``--planned-events per-run`` measures Dagster's opt-in of one planned event per asset and run (the
product keeps one per file: with it, the files of a failed run show as failed in the UI).
``--rules N`` sets the rule checks per file (default 4, the default ruleset's; rows_conserved besides).
"""

import argparse
import os
import tempfile
import time

import dagster as dg

from quality_movies.runs.instance_storage import set_instance_sync

FILES = dg.DynamicPartitionsDefinition(name="movie_files")
GATE_OUTPUTS = ("validated_movies", "bad_records", "rule_outcomes", "imdb_movies_rating")
RULES = 4  # the default ruleset's rules: a check each, plus rows_conserved


def _per_file_asset(name: str, upstream: str | None) -> dg.AssetsDefinition:
    """As raw_movies and movies_catalog_table: one result for the run's range of partitions, which
    Dagster records as one materialization per partition."""

    @dg.asset(
        name=name,
        partitions_def=FILES,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[upstream] if upstream else [],
    )
    def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"files": len(context.partition_keys)})

    return _asset


def build_defs(rules: int = RULES) -> dg.Definitions:
    """The ingest job's shape with ``rules`` rule checks (plus rows_conserved) per file."""
    checks = [f"rule_{i}" for i in range(1, rules + 1)] + ["rows_conserved"]

    @dg.multi_asset(
        partitions_def=FILES,
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True,
        deps=["movies_catalog_table"],
        outs={n: dg.AssetOut(dagster_type=dg.Nothing, is_required=False) for n in GATE_OUTPUTS},
        check_specs=[
            dg.AssetCheckSpec(c, asset="validated_movies", partitions_def=FILES) for c in checks
        ],
    )
    def quality_gate(context: dg.AssetExecutionContext):
        for key in context.partition_keys:
            for name in GATE_OUTPUTS:
                yield dg.AssetMaterialization(
                    name, partition=key, metadata={"dagster/row_count": 100}
                )
            for check in checks:
                yield dg.AssetCheckEvaluation(
                    asset_key=dg.AssetKey("validated_movies"),
                    check_name=check,
                    passed=True,
                    partition=key,
                )

    return dg.Definitions(
        assets=[
            _per_file_asset("raw_movies", None),
            _per_file_asset("movies_catalog_table", "raw_movies"),
            quality_gate,
        ],
        jobs=[dg.define_asset_job("ingest", selection="*", partitions_def=FILES)],
    )


CONSOLIDATED = """\
event_log_storage:
  module: dagster.core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir: {home}
"""


# Dagster's opt-in (dagster-io/dagster#29288): one planned event per asset for a run's range of
# partitions instead of one per partition; Dagster's SQLite storage then no longer marks the files of a
# failed run as failed. Measured, not used by the product.
PLANNED_PER_RUN = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


POSTGRES = """\
storage:
  postgres:
    postgres_url: {url}
"""


def measure(
    count: int, event_log: str = "sharded", postgres_url: str | None = None, rules: int = RULES
) -> tuple[float, float]:
    """Wall and CPU seconds of one run over ``count`` new partitions on a fresh instance (the CPU
    seconds are this process's: the run executes in it; on a shared machine they are the steadier
    figure)."""
    if event_log == "memory":
        instance = dg.DagsterInstance.ephemeral()
    else:
        home = tempfile.mkdtemp(prefix="dagster-floor-")
        os.environ["DAGSTER_HOME"] = home
        with open(os.path.join(home, "dagster.yaml"), "w") as config:
            config.write("telemetry:\n  enabled: false\n")
            if event_log == "consolidated":
                config.write(CONSOLIDATED.format(home=home))
            if event_log == "postgres":
                config.write(POSTGRES.format(url=postgres_url))
        instance = dg.DagsterInstance.get()
    keys = [f"movies_{i:04d}.csv" for i in range(1, count + 1)]
    instance.add_dynamic_partitions(FILES.name, keys)
    job = build_defs(rules).resolve_job_def("ingest")
    start, cpu_start = time.perf_counter(), time.process_time()
    result = job.execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        },
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
    )
    assert result.success
    stored = instance.get_records_for_run(result.run_id, limit=100_000).records
    planned = 0 if os.getenv(PLANNED_PER_RUN) else 6
    per_file = planned + len(GATE_OUTPUTS) + 2 + rules + 1  # materializations, checks
    assert len(stored) > per_file * count, f"{len(stored)} events stored for {count} files"
    return time.perf_counter() - start, time.process_time() - cpu_start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("counts", type=int, nargs="+")
    parser.add_argument("--sync", choices=("full", "normal", "off"), default="full")
    parser.add_argument(
        "--event-log", choices=("sharded", "consolidated", "memory", "postgres"), default="sharded"
    )
    parser.add_argument(
        "--postgres-url",
        help="with --event-log postgres: an empty database, e.g. "
        "postgresql+psycopg2://postgres@127.0.0.1:55432/floor (needs dagster-postgres)",
    )
    parser.add_argument("--planned-events", choices=("per-file", "per-run"), default="per-file")
    parser.add_argument(
        "--rules", type=int, default=RULES, help="rule checks per file (rows_conserved besides)"
    )
    args = parser.parse_args()
    if args.planned_events == "per-run":
        os.environ[PLANNED_PER_RUN] = "true"
    set_instance_sync(args.sync)
    for count in args.counts:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        seconds, cpu = measure(count, args.event_log, args.postgres_url, args.rules)
        print(
            f"{count} files, sync {args.sync}, {args.event_log} event log, planned events "
            f"{args.planned_events}, {args.rules} rule checks: {seconds:.1f} s "
            f"({seconds / count * 1000:.0f} ms per file), {cpu:.1f} s CPU, load before {load}"
        )


if __name__ == "__main__":
    main()
