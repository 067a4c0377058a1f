"""Pure parts of the run loop: contiguous partition ranges and error text without Dagster's wrapper."""

from types import SimpleNamespace

import pytest

from quality_movies.pipeline_runs import describe_error, describe_exception, partition_ranges


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (["a", "b", "c", "d", "e"], [("a", "e")]),
        (["b"], [("b", "b")]),
        (["a", "b", "d", "e"], [("a", "b"), ("d", "e")]),
        (["e", "a", "c"], [("a", "a"), ("c", "c"), ("e", "e")]),
        ([], []),
    ],
)
def test_partition_ranges_cover_exactly_the_wanted_keys(wanted, expected):
    assert partition_ranges(["a", "b", "c", "d", "e"], wanted) == expected


def error(message: str, cause=None):
    return SimpleNamespace(message=message, cause=cause)


def test_dagster_wrapper_and_class_names_are_dropped():
    wrapped = error(
        'Error occurred while executing op "quality_gate":\n',
        error(
            "quality_movies.dq.errors.UnreadableInputError: movies.csv, line 3: unterminated "
            "quoted field\n"
        ),
    )
    assert describe_error(wrapped) == "movies.csv, line 3: unterminated quoted field"


def test_root_cause_is_kept_when_it_says_more():
    chained = error("warehouse load failed", error("duckdb.IOException: Could not set lock"))
    assert describe_error(chained) == "warehouse load failed (cause: Could not set lock)"


def test_exception_chain_in_one_line():
    try:
        try:
            raise OSError("disk full")
        except OSError as inner:
            raise RuntimeError("could not stage\nmovies.csv") from inner
    except RuntimeError as exc:
        assert describe_exception(exc) == "could not stage movies.csv (cause: disk full)"
