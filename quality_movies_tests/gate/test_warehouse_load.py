"""The embedded warehouse loads a file's validated rows, on a new warehouse file too, whether a batch
keeps the file open (later connections share its settings and tables) or not; and a batch of files in
one statement and one transaction, each file replaced, one bad file keeping only itself out."""

import subprocess
import sys

import duckdb

from quality_movies.contract import ValidatedTable
from quality_movies.warehouse.resources import DuckDBWarehouse, LoadMismatch, WarehouseUnavailable
from quality_movies_tests.gate.test_contract import validated_parquet


def test_loads_while_kept_open_and_after(tmp_path):
    warehouse = DuckDBWarehouse(path=str(tmp_path / "new" / "warehouse.duckdb"))
    a = validated_parquet(tmp_path / "a.parquet", source_file="'a.csv'")
    b = validated_parquet(tmp_path / "b.parquet", series_title="'Other'")
    with warehouse.kept_open():
        assert warehouse.load_file(ValidatedTable("a.csv", a, 1)) == 1
        assert warehouse.load_file(ValidatedTable("a.csv", a, 1)) == 1  # replaced, not added
    assert warehouse.load_file(ValidatedTable("b.csv", b, 1)) == 1
    assert warehouse.row_counts() == {"a.csv": 1, "b.csv": 1}
    assert list(warehouse.fetch_movies("b.csv")["series_title"]) == ["Other"]


def test_a_batch_loads_in_one_transaction_and_replaces_its_files(tmp_path, monkeypatch):
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    old_a = validated_parquet(tmp_path / "old_a.parquet", series_title="'Old'")
    old_b = validated_parquet(tmp_path / "old_b.parquet", series_title="'Old'")
    assert warehouse.load_files(
        [ValidatedTable("a.csv", old_a, 1), ValidatedTable("b.csv", old_b, 1)]
    ) == {
        "a.csv": 1,
        "b.csv": 1,
    }
    batches = []
    load_batch = DuckDBWarehouse._load_batch
    monkeypatch.setattr(
        DuckDBWarehouse,
        "_load_batch",
        lambda self, batch: (
            batches.append([t.source_file for t in batch]) or load_batch(self, batch)
        ),
    )
    new_a = validated_parquet(tmp_path / "new_a.parquet", series_title="'New'")
    none_b = str(tmp_path / "none_b.parquet")
    duckdb.sql(
        f"COPY (SELECT * FROM read_parquet('{old_b}') LIMIT 0) TO '{none_b}' (FORMAT PARQUET)"
    )
    c = validated_parquet(tmp_path / "c.parquet", series_title="'C'")

    loaded = warehouse.load_files(
        [
            ValidatedTable("a.csv", new_a, 1),
            ValidatedTable("b.csv", none_b, 0),
            ValidatedTable("c.csv", c, 1),
        ]
    )

    assert loaded == {"a.csv": 1, "b.csv": 0, "c.csv": 1}
    assert batches == [["a.csv", "b.csv", "c.csv"]]
    assert warehouse.row_counts() == {"a.csv": 1, "c.csv": 1}
    # each row names the file it was loaded for, not what the Parquet says (a.csv in every one here)
    assert list(warehouse.fetch_movies("a.csv")["series_title"]) == ["New"]
    assert list(warehouse.fetch_movies("c.csv")["series_title"]) == ["C"]


def test_a_file_whose_count_differs_stays_out_alone(tmp_path):
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    old = validated_parquet(tmp_path / "old.parquet", series_title="'Old'")
    warehouse.load_files([ValidatedTable("a.csv", old, 1)])
    new = validated_parquet(tmp_path / "new.parquet", series_title="'New'")
    b = validated_parquet(tmp_path / "b.parquet")

    loaded = warehouse.load_files([ValidatedTable("a.csv", new, 2), ValidatedTable("b.csv", b, 1)])

    assert loaded["b.csv"] == 1
    assert isinstance(loaded["a.csv"], LoadMismatch)
    assert str(loaded["a.csv"]).startswith("a.csv: 1 rows would be in the warehouse but 2 were")
    assert list(warehouse.fetch_movies("a.csv")["series_title"]) == ["Old"]


def test_an_unreadable_file_fails_alone_and_the_rest_load(tmp_path):
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    tables = [
        ValidatedTable(f"f{n}.csv", validated_parquet(tmp_path / f"f{n}.parquet"), 1)
        for n in range(5)
    ]
    (tmp_path / "f3.parquet").write_bytes(b"not parquet")

    loaded = warehouse.load_files(tables)

    assert {f: v for f, v in loaded.items() if f != "f3.csv"} == {
        "f0.csv": 1,
        "f1.csv": 1,
        "f2.csv": 1,
        "f4.csv": 1,
    }
    assert isinstance(loaded["f3.csv"], WarehouseUnavailable)
    assert str(loaded["f3.csv"]).startswith("f3.csv: loading into the warehouse")
    assert warehouse.row_counts() == {"f0.csv": 1, "f1.csv": 1, "f2.csv": 1, "f4.csv": 1}


def test_a_locked_warehouse_fails_every_file_of_the_batch(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    DuckDBWarehouse(path=str(path)).row_counts()
    a = validated_parquet(tmp_path / "a.parquet")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(path)!r}); print(1, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        holder.stdout.readline()
        loaded = DuckDBWarehouse(path=str(path)).load_files(
            [ValidatedTable("a.csv", a, 1), ValidatedTable("b.csv", a, 1)]
        )
    finally:
        holder.kill()
        holder.wait()

    assert sorted(loaded) == ["a.csv", "b.csv"]
    assert all(isinstance(e, WarehouseUnavailable) and "locked" in str(e) for e in loaded.values())
