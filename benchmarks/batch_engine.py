"""The engine over a batch of small files: one ``evaluate_files`` call against a loop of
``evaluate_file``, same files, same outputs (rule outcomes, bad records, validated Parquet).

    .venv/bin/python benchmarks/batch_engine.py --files 300 --rows 200 [--ruleset PATH] [--repeat N]

Files are written by the benchmark generator's row shape (benchmarks/run.py) into a temp folder;
the two ways alternate, each run on fresh output folders. Prints one line per run and the medians.
"""

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from quality_movies.dq import (
    BatchFile,
    default_ruleset_path,
    evaluate_file,
    evaluate_files,
    load_ruleset,
)

HEADER = (
    "Poster_Link,Series_Title,Released_Year,Certificate,Runtime,Genre,IMDB_Rating,Overview,"
    "Meta_score,Director,Star1,Star2,Star3,Star4,No_of_Votes,Gross\n"
)
RATINGS = ("7.6", "8.1", "8.6", "9.0", "9.3", "")


def write_files(folder: Path, files: int, rows: int) -> list[Path]:
    paths = []
    for number in range(files):
        path = folder / f"movies_{number:05d}.csv"
        lines = [
            f"https://example.org/{number}/{row}.jpg,Film {number}-{row},1994,A,142 min,Drama,"
            f'{RATINGS[(number + row) % len(RATINGS)]},A story.,80,Some One,A,B,C,D,{1000 + row},"1,234"\n'
            for row in range(rows)
        ]
        path.write_text(HEADER + "".join(lines), encoding="utf-8")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--ruleset", type=Path, default=default_ruleset_path())
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ruleset = load_ruleset(args.ruleset)
    timings: dict[str, list[float]] = {"loop of evaluate_file": [], "evaluate_files": []}
    with tempfile.TemporaryDirectory(prefix="batch_engine_") as temp:
        folder = Path(temp)
        (folder / "input").mkdir()
        paths = write_files(folder / "input", args.files, args.rows)
        for round_number in range(args.repeat):
            for way in timings:
                out = folder / "out"
                shutil.rmtree(out, ignore_errors=True)
                started = time.perf_counter()
                if way == "evaluate_files":
                    batch = [BatchFile(p, None, out / p.stem) for p in paths]
                    results = evaluate_files(ruleset, batch, good_parquet=True)
                    assert all(r.error is None for r in results), "a file failed"
                else:
                    for path in paths:
                        evaluate_file(ruleset, path, out / path.stem, good_parquet=True)
                elapsed = time.perf_counter() - started
                timings[way].append(elapsed)
                print(f"round {round_number + 1}: {way}: {elapsed:.2f} s", flush=True)
    loop, batch = (statistics.median(t) for t in timings.values())
    print(
        f"{args.files} files x {args.rows} rows: loop median {loop:.2f} s "
        f"({1000 * loop / args.files:.1f} ms/file), evaluate_files median {batch:.2f} s "
        f"({1000 * batch / args.files:.1f} ms/file), {loop / batch:.1f}x"
    )


if __name__ == "__main__":
    main()
