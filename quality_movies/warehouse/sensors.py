"""The yearly view refreshes itself by declarative automation after files land in the warehouse."""

import dagster as dg

YEAR_AGGREGATED = dg.AssetKey("year_aggregated")

# Eager, except that a missing upstream partition (a file that failed) must not hold the view back.
REFRESH_AFTER_LOAD = (
    dg.AutomationCondition.eager()
    .without(~dg.AutomationCondition.any_deps_missing())
    .with_label("eager_even_if_a_file_failed")
)


def build_refresh_sensor() -> dg.AutomationConditionSensorDefinition:
    """Evaluates the view's automation condition under the daemon (every 30 s)."""
    return dg.AutomationConditionSensorDefinition(
        name="refresh_views",
        target=dg.AssetSelection.assets(YEAR_AGGREGATED),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Refreshes year_aggregated once the files of a run are in the warehouse.",
    )
