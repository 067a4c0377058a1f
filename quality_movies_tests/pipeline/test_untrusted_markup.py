"""Issue 22 point 6: CSV values, column names and file names reach HTML (the quality report), Dagster
metadata (Markdown previews, tables, check descriptions) and notifications; everywhere they show as
the text they are, never as markup.

Markdown is rendered with markdown-it in CommonMark mode with tables, which passes raw HTML through:
stricter than the Dagster UI's renderer, so what is inert here is inert there.
"""

import json
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import pytest
from markdown_it import MarkdownIt

from quality_movies.definitions import build_definitions
from quality_movies.dq import parse_ruleset
from quality_movies.dq.metric_history import FileQuality
from quality_movies.environment import Environment
from quality_movies.jobs import INGEST_JOB, REFRESH_JOB
from quality_movies.lake.local import LocalLake
from quality_movies.monitoring.report import render_report
from quality_movies.monitoring.resources import DuckDBMetricStore
from quality_movies.notifications.resources import sns_subject
from quality_movies.partitions import movie_files
from quality_movies.pipeline_runs import settle_run
from quality_movies.quality.assets import RECOMMENDED_RULESET_KEY, recommended_ruleset
from quality_movies.quality.resources import EmbeddedQualityJobRunner
from quality_movies_tests.reliability.inputs import HEADER, csv_text, movie

SCRIPT = "<script>alert(1)</script>"
IMAGE = "<img src=x onerror=alert(2)>"
LINK = "[click me](javascript:alert(3))"
PICTURE = "![pixel](http://tracker.invalid/p.png)"
COLUMN = "<b onmouseover=alert(4)>Extra</b>"
HOSTILE = (SCRIPT, IMAGE, LINK, PICTURE, COLUMN)
ACTIVE_TAGS = {"script", "img", "a", "b", "iframe", "object", "embed", "svg:script"}


class Markup(HTMLParser):
    """The elements, attributes and text of an HTML page."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]

    def handle_data(self, data):
        self.text.append(data)


def assert_inert(html: str, *shown: str) -> None:
    """No active element or event attribute in ``html``, and each of ``shown`` is in its text."""
    page = Markup(html)
    assert not ACTIVE_TAGS & set(page.tags), page.tags
    assert not [a for a in page.attributes if a.startswith("on") or a == "href"], page.attributes
    text = " ".join(page.text)
    for value in shown:
        assert value in text, (value, text[:2000])


def render_markdown(text: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(text)


def test_the_quality_report_shows_file_names_rules_and_values_as_text(tmp_path: Path):
    store = DuckDBMetricStore(path=str(tmp_path / "warehouse.duckdb"))
    rule = f'ColumnValues "{COLUMN}" in ["{SCRIPT}"]'
    reason = f"Value {IMAGE} does not match; see {LINK} {PICTURE}"
    store.record(
        FileQuality(
            source_file=f"{IMAGE}.csv",
            file_version="v1",
            run_id="run-1",
            ruleset_fingerprint="f" * 64,
            rule_outcomes=[
                {
                    "Rule": rule,
                    "Outcome": "Failed",
                    "FailureReason": reason,
                    "EvaluatedMetrics": {f"Column.{COLUMN}.ColumnValues.Compliance": 0.5},
                }
            ],
            processed_at=datetime(2026, 12, 1, tzinfo=UTC),
        )
    )
    page = render_report(store.frame(), generated_at=datetime(2026, 12, 1, tzinfo=UTC))
    assert_inert(page, f"{IMAGE}.csv", rule, reason)


HOSTILE_RULESET = f"""Rules = [
    IsComplete "Series_Title",
    ColumnValues "IMDB_Rating" between 8.5 and 10.3,
    ColumnValues "{COLUMN}" in ["{SCRIPT}", "{IMAGE}"]
]
"""


@pytest.fixture
def hostile_run(tmp_path: Path):
    """One gate run over a CSV whose column name and values are markup, then the view's refresh."""
    ruleset = tmp_path / "hostile.dqdl"
    ruleset.write_text(HOSTILE_RULESET)
    env = Environment.from_env(
        {"QUALITY_MOVIES_HOME": str(tmp_path / "home"), "QUALITY_MOVIES_RULESET": str(ruleset)}
    )
    rows = [
        [*movie(SCRIPT, "9.0", overview=LINK), SCRIPT],
        [*movie(LINK, "9.1", overview=PICTURE), IMAGE],
        [*movie(IMAGE, "9.2"), PICTURE],
    ]
    rows[2][5] = PICTURE  # Genre, shown in year_aggregated's preview
    data = tmp_path / "hostile.csv"
    data.write_text(csv_text(rows, header=[*HEADER, COLUMN]))
    defs = build_definitions(env)
    lake = env.resources()["lake"]
    lake.upload(data, lake.input_key(data.name))
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(movie_files.name, [data.name])
        run = defs.resolve_job_def(INGEST_JOB).execute_in_process(
            partition_key=data.name, instance=instance, raise_on_error=False
        )
        refresh = defs.resolve_job_def(REFRESH_JOB).execute_in_process(instance=instance)
        yield env, defs, instance, run, refresh


def metadata_of(result: dg.ExecuteInProcessResult) -> list[tuple[str, object]]:
    found = [
        (name, value)
        for event in result.get_asset_materialization_events()
        for name, value in event.materialization.metadata.items()
    ]
    found += [
        (name, value)
        for evaluation in result.get_asset_check_evaluations()
        for name, value in evaluation.metadata.items()
    ]
    return found


def test_dagster_metadata_shows_column_names_and_values_as_text(hostile_run):
    _, defs, _, run, refresh = hostile_run
    assert run.success and refresh.success
    markdown = [
        (n, v)
        for n, v in metadata_of(run) + metadata_of(refresh)
        if isinstance(v, dg.MarkdownMetadataValue)
    ]
    assert {n for n, _ in markdown} == {"preview"}  # raw_movies' and year_aggregated's previews
    previews = [render_markdown(v.md_str) for _, v in markdown]
    for html in previews:
        assert_inert(html)
    assert_inert("".join(previews), SCRIPT, IMAGE, LINK, PICTURE, COLUMN)

    tables = [v for _, v in metadata_of(run) if isinstance(v, dg.TableMetadataValue)]
    assert tables  # the rule outcomes: cells are plain values, which the UI shows as text
    cells = [
        value for table in tables for record in table.records for value in record.data.values()
    ]
    assert all(isinstance(value, str | int | float | bool) or value is None for value in cells)
    assert any(COLUMN in str(value) for value in cells)

    gate = defs.resolve_assets_def(dg.AssetKey("validated_movies"))
    descriptions = [spec.description or "" for spec in gate.check_specs]
    for description in descriptions:
        assert_inert(render_markdown(description))
    [shown] = [d for d in descriptions if COLUMN in d]
    assert_inert(render_markdown(shown), f'ColumnValues "{COLUMN}" in ["{SCRIPT}", "{IMAGE}"]')


def test_notifications_carry_values_as_json_text(hostile_run):
    env, _, instance, run, _ = hostile_run
    resources = env.resources()
    [settled] = settle_run(
        instance,
        instance.get_run_by_id(run.run_id),
        resources["ledger"],
        resources["lake"],
        resources["notifier"],
        "http://127.0.0.1:3000/runs/x",
    )
    [sent] = resources["notifier"].messages()
    outcomes = sent["message"]["rule_outcomes"]
    assert f'ColumnValues "{COLUMN}" in ["{SCRIPT}", "{IMAGE}"]' in [o["rule"] for o in outcomes]
    line = (Path(env.outbox_path)).read_text().splitlines()[0]
    assert json.loads(line) == sent  # one JSON document: values are strings, nothing is markup
    assert sns_subject(f"quality_movies FAILED: {IMAGE}\n{SCRIPT}") == (
        f"quality_movies FAILED: {IMAGE} {SCRIPT}"
    )


def test_the_recommended_ruleset_shows_column_names_and_values_as_text(tmp_path: Path):
    """``recommended_ruleset``'s Markdown (the ruleset and its diff, in code blocks) keeps a column
    name or value from the data as text, even one with line breaks and a code fence of its own."""
    fenced = f"notes\n```\n{SCRIPT}"  # a quoted header field may hold line breaks
    rows = [
        [f"Film {i}", f"8.{i}", value, PICTURE] for i, value in enumerate([SCRIPT, IMAGE, LINK] * 2)
    ]
    data = tmp_path / "lake" / "quality-movie-bucket" / "input_data" / "hostile.csv"
    data.parent.mkdir(parents=True)
    data.write_text(csv_text(rows, header=["Series_Title", "IMDB_Rating", COLUMN, fenced]))
    ruleset = tmp_path / "hostile.dqdl"
    ruleset.write_text(HOSTILE_RULESET)
    result = dg.materialize(
        [recommended_ruleset],
        resources={
            "lake": LocalLake(root=str(tmp_path / "lake")),
            "quality_job": EmbeddedQualityJobRunner(
                work_dir=str(tmp_path / "work"), ruleset_path=str(ruleset)
            ),
        },
    )
    assert result.success
    [materialization] = result.asset_materializations_for_node("recommended_ruleset")
    metadata = materialization.metadata
    recommended = (tmp_path / "lake" / "quality-movie-bucket" / RECOMMENDED_RULESET_KEY).read_text()
    assert parse_ruleset(recommended).rules  # the comments stay comments
    for name in ("ruleset", "diff_against_ruleset_in_force"):
        html = render_markdown(metadata[name].value)
        assert_inert(html, SCRIPT, IMAGE, LINK, COLUMN.lower())
    shown = render_markdown(metadata["ruleset"].value)
    assert shown.count("<pre>") == 1  # one code block: nothing of the data closed it
