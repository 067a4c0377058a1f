"""The views over all files (the yearly view, the quality report) refresh themselves by declarative
automation after files land in the warehouse."""

import dagster as dg

VIEWS = [dg.AssetKey("year_aggregated"), dg.AssetKey("quality_report")]

# Eager, except that a missing upstream partition (a file that failed) must not hold the view back.
REFRESH_AFTER_LOAD = (
    dg.AutomationCondition.eager()
    .without(~dg.AutomationCondition.any_deps_missing())
    .with_label("eager_even_if_a_file_failed")
)


def build_refresh_sensor() -> dg.AutomationConditionSensorDefinition:
    """Evaluates the views' automation condition under the daemon (every 30 s)."""
    return dg.AutomationConditionSensorDefinition(
        name="refresh_views",
        target=dg.AssetSelection.assets(*VIEWS),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Refreshes year_aggregated and quality_report once a run's files are loaded.",
    )
