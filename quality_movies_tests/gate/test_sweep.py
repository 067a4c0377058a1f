"""What a killed attempt leaves is removed later, and only that: live attempts keep their staging."""

import os
import time
from pathlib import Path

from quality_movies.lake import LocalLake
from quality_movies.quality.resources import sweep_staged_outputs, sweep_work_dir
from quality_movies_tests.gate.conftest import HOST

DEAD_PID = 2**22 + 4321  # above Linux's default pid_max: no such process


def staged(lake: LocalLake, tmp_path: Path, token: str, age_seconds: float = 0) -> str:
    key = f"validated_movies/_staging/{token}/source_file=a.csv/validated_movies.parquet"
    src = tmp_path / f"payload-{token}"  # upload may link it: one file per object
    src.write_bytes(b"x")
    lake.upload(src, key)
    if age_seconds:
        then = time.time() - age_seconds
        os.utime(lake.uri(key), (then, then))
    return key


def test_staging_of_dead_or_long_gone_attempts_is_removed(tmp_path):
    lake = LocalLake(root=str(tmp_path / "lake"))
    dead = staged(lake, tmp_path, f"a1-{DEAD_PID}-{HOST}")
    live = staged(lake, tmp_path, f"b2-{os.getpid()}-{HOST}")
    elsewhere_old = staged(lake, tmp_path, "c3-12-other-host", age_seconds=2 * 86400)
    elsewhere_new = staged(lake, tmp_path, "d4-12-other-host")

    removed = sweep_staged_outputs(lake)

    assert sorted(removed) == sorted([dead, elsewhere_old])
    left = {o.key for o in lake.list_objects("validated_movies/")}
    assert left == {live, elsewhere_new}


def test_work_folders_of_dead_processes_are_removed(tmp_path):
    work = tmp_path / "work"
    dead = work / f"quality-run-{DEAD_PID}-{HOST}-abc"
    live = work / f"quality-run-{os.getpid()}-{HOST}-def"
    for folder in (dead, live):
        (folder / "spill").mkdir(parents=True)

    assert sweep_work_dir(str(work)) == [str(dead)]
    assert not dead.exists() and live.exists()
