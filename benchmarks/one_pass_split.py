"""Good and bad rows of one CSV in one pass over the file, three ways, against two filtered COPYs.

The question of issue 20's engine target: does writing good and bad rows together (reading the file
once, not twice) make the split cheaper in DuckDB? The rule is the seed rule (reference (b)'s SQL);
the outputs are good and bad rows as JSON lines, byte for byte the same rows in each way.

- ``two``: two COPYs of the annotated SELECT, WHERE Passed / WHERE Failed (the file read twice);
- ``part``: one ``COPY ... PARTITION_BY (DataQualityEvaluationResult)`` (read once);
- ``arrow``: one streamed SELECT (Arrow batches) split in Python and fed to two concurrent COPYs
  that read the batches (read once).

    .venv/bin/python benchmarks/one_pass_split.py benchmarks/.data/movies_1000000.csv two part arrow

Each way runs in a fresh process; prints wall and CPU seconds and peak RSS.
"""

import os
import queue
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

PREDICATE = "TRY_CAST(imdb_rating AS DOUBLE) > 8.5 AND TRY_CAST(imdb_rating AS DOUBLE) < 10.3"
RULE = 'ColumnValues "imdb_rating" between 8.5 and 10.3'


def annotated(data: str) -> str:
    return (
        f"SELECT *, CASE WHEN {PREDICATE} THEN ['{RULE}'] ELSE [] END AS DataQualityRulesPass, "
        f"CASE WHEN {PREDICATE} THEN [] ELSE ['{RULE}'] END AS DataQualityRulesFail, "
        f"CASE WHEN {PREDICATE} THEN 'Passed' ELSE 'Failed' END AS DataQualityEvaluationResult "
        f"FROM read_csv('{data}', all_varchar = true)"
    )


def split(data: str, way: str, out: Path) -> None:
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET memory_limit = '1GB'")
    rows = annotated(data)
    if way == "two":
        for verdict, name in (("Passed", "good"), ("Failed", "bad")):
            con.execute(
                f"COPY (SELECT * FROM ({rows}) WHERE DataQualityEvaluationResult = '{verdict}') "
                f"TO '{out / name}.jsonl' (FORMAT JSON)"
            )
    elif way == "part":
        con.execute(
            f"COPY ({rows}) TO '{out}' (FORMAT JSON, PARTITION_BY (DataQualityEvaluationResult), "
            "WRITE_PARTITION_COLUMNS true)"
        )
    else:
        reader = con.sql(rows).to_arrow_reader(100_000)
        queues = {"Passed": queue.Queue(4), "Failed": queue.Queue(4)}
        errors: list[BaseException] = []

        def batches(q: queue.Queue):
            while (batch := q.get()) is not None:
                yield batch

        def copy(verdict: str, name: str) -> None:
            cursor = con.cursor()
            cursor.execute("SET preserve_insertion_order = false")
            stream = pa.RecordBatchReader.from_batches(reader.schema, batches(queues[verdict]))
            cursor.register("stream", stream)
            try:
                cursor.execute(f"COPY (SELECT * FROM stream) TO '{out / name}.jsonl' (FORMAT JSON)")
            except Exception as error:  # noqa: BLE001 (reported after the join)
                errors.append(error)

        writers = [
            threading.Thread(target=copy, args=pair)
            for pair in (("Passed", "good"), ("Failed", "bad"))
        ]
        for writer in writers:
            writer.start()
        for batch in reader:
            verdicts = batch.column("DataQualityEvaluationResult")
            for verdict, q in queues.items():
                q.put(batch.filter(pc.equal(verdicts, verdict)))
        for q in queues.values():
            q.put(None)
        for writer in writers:
            writer.join()
        if errors:
            raise errors[0]


def main() -> int:
    data, ways = sys.argv[1], sys.argv[2:]
    if ways[:1] == ["--way"]:
        out = Path(ways[2])
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        import duckdb  # noqa: F401 (imported before the clock starts)
        import pyarrow  # noqa: F401

        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        split(data, ways[1], out)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
        print(
            f"{ways[1]}: {time.perf_counter() - started:.2f} s wall, "
            f"{cpu:.2f} s CPU, peak RSS {usage.ru_maxrss // 1024} MB, "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        shutil.rmtree(out, ignore_errors=True)
        return 0
    out = Path(data).parent / "one_pass_split"
    for way in ways:
        subprocess.run([sys.executable, __file__, data, "--way", way, str(out)], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
