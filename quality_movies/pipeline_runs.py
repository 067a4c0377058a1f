"""What the command line needs to know about Dagster runs: processed files, failures, summaries."""

from typing import Any

import dagster as dg

from quality_movies.notifications.sensors import describe_error

WAREHOUSE_ASSET = dg.AssetKey("imdb_movies_rating")


def processed_etags(instance: dg.DagsterInstance, input_prefix: str) -> dict[str, str]:
    """Input key -> ETag of the content last loaded into the warehouse, per file."""
    seen: dict[str, str] = {}
    for record in _all_materializations(instance, WAREHOUSE_ASSET):
        materialization = record.asset_materialization
        if materialization is None or materialization.partition is None:
            continue
        key = f"{input_prefix}{materialization.partition}"
        etag = materialization.metadata.get("source_etag")
        if key not in seen and etag is not None:
            seen[key] = str(getattr(etag, "value", etag))
    return seen


def _all_materializations(instance: dg.DagsterInstance, key: dg.AssetKey):
    """Every materialization record of ``key``, newest first, fetched page by page."""
    cursor = None
    while True:
        page = instance.fetch_materializations(key, limit=1000, cursor=cursor)
        yield from page.records
        if not page.has_more:
            return
        cursor = page.cursor


def failure_reason(result: dg.ExecuteInProcessResult) -> str:
    """The first step failure of a run, as ``step: message``."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            return f"{event.step_key}: {describe_error(event.step_failure_data.error)}"
    return "the run failed before any step ran"


def summary_lines(source_file: str, message: dict[str, Any]) -> list[str]:
    """A short human summary of one file's run."""
    lines = [f"== {source_file}: run {message['status']} ({message['run_id']})"]
    if "rows_read" in message:
        lines.append(
            f"   rows read {message['rows_read']}, good {message['good_rows']}, "
            f"bad {message['bad_rows']}, loaded {message.get('rows_loaded', 0)}"
        )
    for outcome in message.get("rule_outcomes", []):
        reason = f" - {outcome['failure_reason']}" if outcome.get("failure_reason") else ""
        lines.append(f"   [{outcome['outcome']}] {outcome['rule']}{reason}")
    for label, field in (
        ("bad records", "bad_records_uri"),
        ("rule outcomes", "rule_outcomes_uri"),
        ("validated", "validated_uri"),
    ):
        if field in message:
            lines.append(f"   {label}: {message[field]}")
    if message.get("error"):
        lines.append(f"   error: {message['error']}")
    return lines
