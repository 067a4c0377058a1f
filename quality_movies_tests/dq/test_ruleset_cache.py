"""A ruleset is parsed once per text: a later process loads it without the DQDL parser, and an
edited, invalid or damaged ruleset is parsed again."""

import subprocess
import sys
from pathlib import Path

import pytest

from quality_movies.dq import DQDLSyntaxError, load_ruleset, parse_ruleset
from quality_movies.dq import parser as dqdl_parser

SEED_RULESET = 'Rules = [ ColumnValues "imdb_rating" between 8.5 and 10.3 ]\n'
LOAD_IN_A_NEW_PROCESS = (
    "import sys; from quality_movies.dq import load_ruleset; "
    "r = load_ruleset(sys.argv[1]); print('lark' in sys.modules, r.rules[0].text)"
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QUALITY_MOVIES_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "dqdl"


def _load_in_a_new_process(path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", LOAD_IN_A_NEW_PROCESS, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_a_known_ruleset_loads_in_a_new_process_without_the_parser(tmp_path, cache):
    path = tmp_path / "seed.dqdl"
    path.write_text(SEED_RULESET, encoding="utf-8")
    rule = 'ColumnValues "imdb_rating" between 8.5 and 10.3'
    assert _load_in_a_new_process(path) == f"True {rule}"  # parsed with lark, then kept
    assert len(list(cache.glob("*.pickle"))) == 1
    assert _load_in_a_new_process(path) == f"False {rule}"  # read back; lark never imported
    assert load_ruleset(path) == dqdl_parser.parse_ruleset(SEED_RULESET, str(path))


def test_an_edited_ruleset_is_parsed_again(tmp_path, cache):
    path = tmp_path / "seed.dqdl"
    path.write_text(SEED_RULESET, encoding="utf-8")
    assert load_ruleset(path).rules[0].text.endswith("between 8.5 and 10.3")
    path.write_text(SEED_RULESET.replace("8.5", "9.0"), encoding="utf-8")
    assert load_ruleset(path).rules[0].text.endswith("between 9.0 and 10.3")


def test_the_same_text_from_another_source_keeps_its_own_name(cache):
    assert parse_ruleset(SEED_RULESET, "a.dqdl").source == "a.dqdl"
    assert parse_ruleset(SEED_RULESET, "b.dqdl").source == "b.dqdl"


def test_a_ruleset_that_does_not_load_is_not_kept_and_fails_each_time(cache):
    for _ in range(2):
        with pytest.raises(DQDLSyntaxError, match=r"bad\.dqdl:1:"):
            parse_ruleset("Rules = [ ColumnValues 'imdb_rating' > 1 ]", "bad.dqdl")
    assert not list(cache.glob("*.pickle"))


def test_a_damaged_entry_is_parsed_again(cache):
    expected = dqdl_parser.parse_ruleset(SEED_RULESET, "seed.dqdl")
    assert parse_ruleset(SEED_RULESET, "seed.dqdl") == expected
    (entry,) = cache.glob("*.pickle")
    entry.write_bytes(b"cut sho")
    assert parse_ruleset(SEED_RULESET, "seed.dqdl") == expected


def test_an_empty_cache_dir_setting_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("QUALITY_MOVIES_CACHE_DIR", "")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert parse_ruleset(SEED_RULESET).rules[0].rule_type == "ColumnValues"
    assert not list(tmp_path.rglob("*.pickle"))


def test_without_a_home_nothing_is_kept_and_the_ruleset_still_loads(monkeypatch):
    monkeypatch.delenv("QUALITY_MOVIES_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert parse_ruleset(SEED_RULESET).rules[0].rule_type == "ColumnValues"
