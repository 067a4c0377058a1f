"""The embedded warehouse loads a file's validated rows, on a new warehouse file too, whether a batch
keeps the file open (later connections share its settings and tables) or not."""

from quality_movies.warehouse.contract import ValidatedTable
from quality_movies.warehouse.resources import DuckDBWarehouse
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
