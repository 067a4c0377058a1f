"""`dq recommend` (profiling) against `dq check` of the seed rule on the same synthetic file.

    PYTHONPATH=. .venv/bin/python benchmarks/recommend_bench.py --rows 1000000 --repeat 3

Generates the file as benchmarks/run.py does (seed 7, kept in benchmarks/.data/), then runs the two
commands alternately (check, recommend, check, ...) as the CLI runs them, each in its own process, and
prints the median wall time of each and their ratio (issue 21: recommend at most 2x check).
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.run import SEED_RULE, data_file, ensure_data


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ensure_data(args.rows)
    data = data_file(args.rows)
    cli = [sys.executable, "-m", "quality_movies.dq.cli"]
    checks, recommends = [], []
    with tempfile.TemporaryDirectory(prefix="recommend-bench-") as folder:
        out = Path(folder)
        for _ in range(args.repeat):
            check = [*cli, "check", "--rules", str(SEED_RULE), "--data", str(data)]
            checks.append(timed([*check, "--out", str(out / "check")]))
            recommend = [*cli, "recommend", "--data", str(data), "--out", str(out / "r.dqdl")]
            recommends.append(timed(recommend))
        rules = sum(1 for line in (out / "r.dqdl").read_text().splitlines() if line[4:5].isalpha())
    check_s, recommend_s = statistics.median(checks), statistics.median(recommends)
    print(
        f"{args.rows:,} rows ({data.stat().st_size / 1e6:.0f} MB): dq check seed rule "
        f"{check_s:.2f} s, dq recommend {recommend_s:.2f} s ({rules} rules), "
        f"ratio {recommend_s / check_s:.2f} (medians of {args.repeat}; "
        f"check {', '.join(f'{t:.2f}' for t in checks)}; "
        f"recommend {', '.join(f'{t:.2f}' for t in recommends)})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
