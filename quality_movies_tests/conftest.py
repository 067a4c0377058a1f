"""Fixtures shared by every test folder: one local SparkSession, the seed CSV, and a folder of
parsed rulesets of the run's own (not the user's cache)."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED_CSV = REPO_ROOT.parent / "shared" / "data" / "imdb_movies_rating.csv"


@pytest.fixture(scope="session", autouse=True)
def ruleset_cache(tmp_path_factory: pytest.TempPathFactory):
    """QUALITY_MOVIES_CACHE_DIR for the run (child processes inherit it)."""
    previous = os.environ.get("QUALITY_MOVIES_CACHE_DIR")
    os.environ["QUALITY_MOVIES_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield Path(os.environ["QUALITY_MOVIES_CACHE_DIR"])
    if previous is None:
        del os.environ["QUALITY_MOVIES_CACHE_DIR"]
    else:
        os.environ["QUALITY_MOVIES_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for the whole run (start-up costs 10-15 s)."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("quality-movies-tests")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def seed_csv() -> Path:
    """The real 1,000-row IMDb seed file beside the repo; the test is skipped when it is absent."""
    if not SEED_CSV.is_file():
        pytest.skip(f"seed data not found at {SEED_CSV}")
    return SEED_CSV
