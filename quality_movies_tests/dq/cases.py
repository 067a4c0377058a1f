"""Rule/row outcome cases derived by hand from the AWS Glue DQDL docs; run against both backends.

Each case: a ruleset, CSV rows (first column ``id``), the expected Outcome per rule and the expected
DataQualityEvaluationResult per row. Comments cite the documented behaviour the expectation follows.
``references`` are other datasets (name -> CSV) the rules read; ``neighbours`` files (name -> content,
last modified) written beside the data file, whose folder the rules call ``{folder}``.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from quality_movies.dq.history import AnomalyVerdict

NOW = datetime(2024, 6, 10, 12, 0, 0)


@dataclass
class ListHistory:
    """A metric history given as lists (a test double of the pipeline's MetricHistory).

    Its anomaly verdict is deliberately simple: a value outside the range of the earlier values.
    """

    values: dict[str, list[float]]

    def previous(self, metric: str, k: int | None = None) -> list[float]:
        earlier = self.values.get(metric, [])
        return earlier[-k:] if k else list(earlier)

    def detect_anomaly(self, metric: str, value: float) -> AnomalyVerdict:
        earlier = self.values.get(metric, [])
        low, high = min(earlier), max(earlier)
        anomalous = not low <= value <= high
        observation = f"{metric} = {value} is outside [{low}, {high}] of earlier files."
        return AnomalyVerdict(anomalous, observation, low, high, len(earlier))


@dataclass(frozen=True)
class Case:
    name: str
    rules: str
    csv: str
    rule_outcomes: list[str]
    row_results: list[str]
    metrics: dict[str, float] = field(default_factory=dict)
    reason_contains: str | None = None
    skipped_rules_per_row: int = 0
    history: dict[str, list[float]] | None = None
    references: dict[str, str] = field(default_factory=dict)
    neighbours: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    data_modified: datetime | None = None
    analyzer_metrics: dict[str, dict[str, float]] = field(default_factory=dict)


CASES = [
    # "between": boundaries are exclusive. NULL fails every ColumnValues operator except != and not in.
    # A rating that cannot be read as a number ("nine") fails its row.
    Case(
        "between_is_exclusive",
        'Rules = [ ColumnValues "imdb_rating" between 8.5 and 10.3 ]',
        "id,imdb_rating\n1,8.5\n2,8.6\n3,10.3\n4,10.2\n5,\n6,nine\n",
        ["Failed"],
        ["Failed", "Passed", "Failed", "Passed", "Failed", "Failed"],
        {"Column.imdb_rating.ColumnValues.Compliance": 0.333333333333},
        reason_contains="nine",
    ),
    # "not between" is inclusive: the end points count as not between; NULL still fails.
    Case(
        "not_between_is_inclusive",
        'Rules = [ ColumnValues "x" not between 1 and 5 ]',
        "id,x\n1,1\n2,3\n3,5\n4,6\n5,0\n6,\n",
        ["Failed"],
        ["Passed", "Failed", "Passed", "Passed", "Passed", "Failed"],
    ),
    # Negated rules using != and not in let NULL rows pass.
    Case(
        "not_equal_lets_null_pass",
        'Rules = [ ColumnValues "x" != 3 ]',
        "id,x\n1,3\n2,4\n3,\n",
        ["Failed"],
        ["Failed", "Passed", "Passed"],
    ),
    Case(
        "not_in_lets_null_pass",
        'Rules = [ ColumnValues "c" not in ["a", "b"] ]',
        "id,c\n1,a\n2,c\n3,\n",
        ["Failed"],
        ["Failed", "Passed", "Passed"],
    ),
    # Docs: `ColumnValues "Age" not in [21, 22, 23, NULL]` makes NULL fail explicitly.
    Case(
        "not_in_with_null_keyword_fails_null",
        'Rules = [ ColumnValues "age" not in [21, 22, 23, NULL] ]',
        "id,age\n1,21\n2,30\n3,\n",
        ["Failed"],
        ["Failed", "Passed", "Failed"],
    ),
    # Docs: `ColumnValues "Country" in ["US", "CA", "UK", NULL, EMPTY, WHITESPACES_ONLY]` allows those.
    Case(
        "in_with_keywords",
        'Rules = [ ColumnValues "country" in ["US", "CA", NULL, EMPTY, WHITESPACES_ONLY] ]',
        'id,country\n1,US\n2,UK\n3,\n4,"   "\n',
        ["Failed"],
        ["Passed", "Failed", "Passed", "Passed"],
    ),
    # Docs: `(ColumnValues "Age" > 21) OR (ColumnValues "Age" = NULL)` explicitly allows NULL per row;
    # composite rules are by default evaluated rule by rule over the whole dataset, then combined:
    # "> 21" fails (row 3 is 10) and "= NULL" fails (rows 1, 3 are not NULL), so the rule fails.
    Case(
        "composite_or_allows_null",
        'Rules = [ (ColumnValues "age" > 21) or (ColumnValues "age" = NULL) ]',
        "id,age\n1,30\n2,\n3,10\n",
        ["Failed"],
        ["Passed", "Passed", "Failed"],
    ),
    # "and" composite: passes only if every part passes; a NULL row fails "> 0".
    Case(
        "composite_and",
        'Rules = [ (ColumnValues "x" > 0) and (ColumnValues "x" < 10) ]',
        "id,x\n1,5\n2,\n3,12\n",
        ["Failed"],
        ["Passed", "Failed", "Failed"],
    ),
    # "with threshold" compares the fraction of passing rows (2 of 3 > 0.5); rows still fail one by one.
    Case(
        "threshold_passes_on_fraction",
        'Rules = [ ColumnValues "x" > 2 with threshold > 0.5 ]',
        "id,x\n1,3\n2,4\n3,1\n",
        ["Passed"],
        ["Passed", "Passed", "Failed"],
        {"Column.x.ColumnValues.Compliance": 0.666666666667},
    ),
    Case(
        "threshold_fails_on_fraction",
        'Rules = [ ColumnValues "x" > 2 with threshold >= 0.9 ]',
        "id,x\n1,3\n2,4\n3,1\n",
        ["Failed"],
        ["Passed", "Passed", "Failed"],
    ),
    # Where clause: rows filtered out are Passed at row level and left out of the metrics.
    Case(
        "where_filters_rows",
        'Rules = [ ColumnValues "rating" > 8 where "genre = \'Drama\'" ]',
        "id,genre,rating\n1,Drama,9\n2,Drama,7\n3,Comedy,5\n",
        ["Failed"],
        ["Passed", "Failed", "Passed"],
        {"Column.rating.ColumnValues.Compliance": 0.5},
    ),
    # matches checks the whole value against the regular expression.
    Case(
        "matches_full_value",
        'Rules = [ ColumnValues "code" matches "[A-Z]{2}" ]',
        "id,code\n1,AB\n2,ABC\n3,\n",
        ["Failed"],
        ["Passed", "Failed", "Failed"],
    ),
    # Docs: `ColumnValues "Load_Date" > (now() - 3 days)`; now is fixed at 2024-06-10 12:00.
    Case(
        "date_relative_to_now",
        'Rules = [ ColumnValues "load_date" > (now() - 3 days) ]',
        "id,load_date\n1,2024-06-09\n2,2024-06-01\n3,junk\n",
        ["Failed"],
        ["Passed", "Failed", "Failed"],
        reason_contains="junk",
    ),
    Case(
        "date_literals_between",
        'Rules = [ ColumnValues "d" between "2024-01-01" and "2024-12-31" ]',
        "id,d\n1,2024-03-01\n2,2024-01-01\n3,2023-05-05\n",
        ["Failed"],
        ["Passed", "Failed", "Failed"],
    ),
    # IsComplete / Completeness: NULL rows fail at row level; Completeness compares the fraction.
    Case(
        "is_complete",
        'Rules = [ IsComplete "title" ]',
        "id,title\n1,A\n2,\n3,C\n",
        ["Failed"],
        ["Passed", "Failed", "Passed"],
        {"Column.title.Completeness": 0.666666666667},
    ),
    Case(
        "completeness_threshold",
        'Rules = [ Completeness "title" > 0.5 ]',
        "id,title\n1,A\n2,\n3,C\n",
        ["Passed"],
        ["Passed", "Failed", "Passed"],
    ),
    # IsUnique: rows whose value repeats fail; Uniqueness is the fraction of unique rows.
    Case(
        "is_unique",
        'Rules = [ IsUnique "k" ]',
        "id,k\n1,a\n2,a\n3,b\n",
        ["Failed"],
        ["Failed", "Failed", "Passed"],
        {"Column.k.Uniqueness": 0.333333333333},
    ),
    Case(
        "is_primary_key",
        'Rules = [ IsPrimaryKey "k" ]',
        "id,k\n1,1\n2,2\n3,\n",
        ["Failed"],
        ["Passed", "Passed", "Failed"],
    ),
    # ColumnLength counts NULL as length 0; between stays exclusive.
    Case(
        "column_length_null_is_zero",
        'Rules = [ ColumnLength "t" between 2 and 4, ColumnLength "t" <= 3 ]',
        "id,t\n1,abc\n2,a\n3,\n4,abcd\n",
        ["Failed", "Failed"],
        ["Passed", "Failed", "Failed", "Failed"],
        {"Column.t.MaximumLength": 4.0, "Column.t.MinimumLength": 0.0},
    ),
    # Dataset-level rules are Skipped at row level; failing ones do not make rows bad.
    Case(
        "dataset_rules_skip_rows",
        """Rules = [
            RowCount between 2 and 5,
            Mean "x" > 2,
            Sum "x" = 6,
            StandardDeviation "x" between 0.8 and 0.9,
            DistinctValuesCount "x" = 3,
            ColumnCount = 2,
            ColumnExists "nope"
        ]""",
        "id,x\n1,1\n2,2\n3,3\n",
        ["Passed", "Failed", "Passed", "Passed", "Passed", "Passed", "Failed"],
        ["Passed", "Passed", "Passed"],
        {
            "Dataset.*.RowCount": 3.0,
            "Column.x.Mean": 2.0,
            "Column.x.Sum": 6.0,
            "Column.x.StandardDeviation": 0.816496580928,
            "Column.x.DistinctValuesCount": 3.0,
            "Dataset.*.ColumnCount": 2.0,
        },
        skipped_rules_per_row=7,
    ),
    # Entropy (natural log) of a, a, b, b is ln 2; UniqueValueRatio of a, a, b, c is 2 of 3 values.
    Case(
        "entropy_and_unique_value_ratio",
        'Rules = [ Entropy "e" between 0.69 and 0.7, UniqueValueRatio "u" > 0.6 ]',
        "id,e,u\n1,a,a\n2,a,a\n3,b,b\n4,b,c\n",
        ["Passed", "Passed"],
        ["Passed", "Passed", "Passed", "Passed"],
        {"Column.e.Entropy": 0.69314718056, "Column.u.UniqueValueRatio": 0.666666666667},
        skipped_rules_per_row=2,
    ),
    Case(
        "correlation_datatype_customsql",
        """Rules = [
            ColumnCorrelation "x" "y" > 0.99,
            ColumnDataType "z" = "INTEGER",
            ColumnDataType "z" = "INTEGER" with threshold > 0.6,
            CustomSql "select count(*) from primary where z = '1'" between 0 and 2
        ]""",
        "id,x,y,z\n1,1,2,1\n2,2,4,1.5\n3,3,6,7\n",
        ["Passed", "Failed", "Passed", "Passed"],
        ["Passed", "Passed", "Passed"],
        {
            "Multicolumn.x,y.ColumnCorrelation": 1.0,
            "Column.z.ColumnDataType.Compliance": 0.666666666667,
            "Dataset.*.CustomSQL": 1.0,
        },
        skipped_rules_per_row=4,
    ),
    # A composite with a dataset-level part has no row-level result: Skipped.
    Case(
        "composite_with_dataset_rule_is_skipped",
        'Rules = [ (IsComplete "x") and (RowCount > 0) ]',
        "id,x\n1,\n2,b\n",
        ["Failed"],
        ["Passed", "Passed"],
        skipped_rules_per_row=1,
    ),
    # Typed like Glue: the crawler types "id" bigint, so `id > 1` compares numbers (as text, "10" < "2").
    # Rows outside the where clause pass at row level and are left out of the metric.
    Case(
        "where_clause_on_typed_column",
        'Rules = [ ColumnValues "rating" > 8 where "id > 2" ]',
        "id,rating\n1,1\n2,1\n3,9\n4,7\n5,9\n6,9\n7,9\n8,9\n9,9\n10,1\n",
        ["Failed"],
        ["Passed", "Passed", "Passed", "Failed", *["Passed"] * 5, "Failed"],
        {"Column.rating.ColumnValues.Compliance": 0.75},
    ),
    # The example: CustomSql over the typed `primary`; att1 is bigint, so 9 and 10 are > 2.
    Case(
        "custom_sql_on_typed_column",
        'Rules = [ CustomSql "select count(*) from primary where att1 > 2" = 2 ]',
        "id,att1\n1,9\n2,10\n3,1\n",
        ["Passed"],
        ["Passed", "Passed", "Passed"],
        {"Dataset.*.CustomSQL": 2.0},
        skipped_rules_per_row=1,
    ),
    # A text column compared with a number reads as numbers where it can (Spark's implicit cast);
    # "n/a" is not one, so its row is outside the where clause.
    Case(
        "where_clause_casts_text_compared_with_number",
        'Rules = [ IsComplete "title" where "score >= 2.5" ]',
        "id,score,title\n1,2.5,A\n2,n/a,\n3,3,\n4,1,\n",
        ["Failed"],
        ["Passed", "Passed", "Failed", "Passed"],
        {"Column.title.Completeness": 0.5},
    ),
    # A rule whose SQL fails, or that names a column the data lacks, is Failed with the reason (as in
    # AWS's reference, Deequ) and the other rules are evaluated. At row level Deequ lists such a rule
    # in DataQualityRulesSkip and passes the rows; here (issue 22) a row-level rule naming a missing
    # column fails every row, since no row is validated by a rule that was not evaluated. A
    # dataset-level rule that cannot run (CustomSql's count) stays Skipped and fails no row.
    Case(
        "failing_sql_and_missing_columns_are_failed_rules",
        """Rules = [
            ColumnValues "x" > 0 where "nosuch > 1",
            CustomSql "select count(*) from primary where nosuch > 1" > 0,
            IsComplete "missing",
            RowCount = 2
        ]""",
        "id,x\n1,1\n2,-1\n",
        ["Failed", "Failed", "Failed", "Passed"],
        ["Failed", "Failed"],
        reason_contains="nosuch",
        skipped_rules_per_row=2,
    ),
    # Rule type reference, Variance: `Variance "Star_Rating" < 3`; AWS's reference computes the
    # population variance (as for StandardDeviation): of 1, 2, 3 it is 2/3.
    Case(
        "variance",
        'Rules = [ Variance "star_rating" < 3, Variance "star_rating" > 1 ]',
        "id,star_rating\n1,1\n2,2\n3,3\n",
        ["Passed", "Failed"],
        ["Passed", "Passed", "Passed"],
        {"Column.star_rating.Variance": 0.666666666667},
        skipped_rules_per_row=2,
    ),
    # ColumnNamesMatchPattern "aws_.*": every column name must match; AWS's reference finds the
    # pattern in the name and reports the share of names that match. "id" does not contain "aws_".
    Case(
        "column_names_match_pattern",
        'Rules = [ ColumnNamesMatchPattern "aws_.*", ColumnNamesMatchPattern "^(id|aws_.*)$" ]',
        "id,aws_id,aws_name\n1,a,b\n",
        ["Failed", "Passed"],
        ["Passed"],
        {"Dataset.*.ColumnNamesPatternMatchRatio": 1.0},
        reason_contains="Columns that do not match the pattern: id",
        skipped_rules_per_row=2,
    ),
    # ColumnExists emits its metric (AWS's reference: Dataset.<column>.ColumnExists, 1 or 0).
    Case(
        "column_exists_metric",
        'Rules = [ ColumnExists "x" ]',
        "id,x\n1,a\n",
        ["Passed"],
        ["Passed"],
        {"Dataset.x.ColumnExists": 1.0},
        skipped_rules_per_row=1,
    ),
    # DataFreshness "Order_Date" <= 24 hours: a row passes when now minus its date is at most 24 hours
    # (now is 2024-06-10 12:00): 12 hours passes, 36 and 72 hours fail, an empty date fails.
    Case(
        "data_freshness_within_hours",
        'Rules = [ DataFreshness "order_date" <= 24 hours ]',
        "id,order_date\n1,2024-06-10\n2,2024-06-09\n3,2024-06-07 12:00:00\n4,\n",
        ["Failed"],
        ["Passed", "Failed", "Failed", "Failed"],
        {"Column.order_date.DataFreshness.Compliance": 0.25},
    ),
    # DataFreshness "Order_Date" between 2 days and 5 days (exclusive, as every between): only the
    # 72-hour-old row passes; 9.5 days is too old.
    Case(
        "data_freshness_between_days",
        'Rules = [ DataFreshness "order_date" between 2 days and 5 days ]',
        "id,order_date\n1,2024-06-10\n2,2024-06-09\n3,2024-06-07 12:00:00\n4,2024-06-01\n",
        ["Failed"],
        ["Failed", "Failed", "Passed", "Failed"],
        {"Column.order_date.DataFreshness.Compliance": 0.25},
    ),
    # Dynamic rules (DQDL reference): `RowCount > avg(last(2))` compares with the average of the
    # last two files' row counts (1 and 2: 1.5); 3 rows pass it, and fail `< min(last(2))`.
    Case(
        "dynamic_rules_read_history",
        "Rules = [ RowCount > avg(last(2)), RowCount < min(last(2)) ]",
        "id\n1\n2\n3\n",
        ["Passed", "Failed"],
        ["Passed", "Passed", "Passed"],
        {"Dataset.*.RowCount": 3.0},
        skipped_rules_per_row=2,
        history={"Dataset.*.RowCount": [5.0, 1.0, 2.0]},
    ),
    # Without a history a dynamic rule fails with a "needs history" reason, never passes.
    Case(
        "dynamic_rule_without_history_fails",
        "Rules = [ RowCount > avg(last(2)) ]",
        "id\n1\n",
        ["Failed"],
        ["Passed"],
        reason_contains="needs history",
        skipped_rules_per_row=1,
    ),
    # DetectAnomalies judges the metric against its history: 3 rows is within the earlier counts;
    # a completeness of 0.5 is below every earlier one (test history: outside the range = anomaly).
    Case(
        "detect_anomalies_with_history",
        'Rules = [ DetectAnomalies "RowCount", DetectAnomalies "Completeness" "x" ]',
        "id,x\n1,a\n2,\n3,b\n4,\n",
        ["Passed", "Failed"],
        ["Passed", "Passed", "Passed", "Passed"],
        {"Dataset.*.RowCount": 4.0, "Column.x.Completeness": 0.5},
        reason_contains="outside [0.9, 1.0]",
        skipped_rules_per_row=2,
        history={"Dataset.*.RowCount": [3.0, 5.0], "Column.x.Completeness": [0.9, 1.0]},
    ),
    Case(
        "detect_anomalies_without_history_fails",
        'Rules = [ DetectAnomalies "RowCount" ]',
        "id\n1\n",
        ["Failed"],
        ["Passed"],
        {"Dataset.*.RowCount": 1.0},
        reason_contains="needs history",
        skipped_rules_per_row=1,
    ),
    # Rules against other datasets (rule type reference). RowCountMatch "reference" = 1.0: the primary
    # dataset's rows over the reference's, here 3 of 4.
    Case(
        "row_count_match",
        """DataSources = { "AdditionalDataSources": ["reference"] }
        Rules = [ RowCountMatch "reference" >= 0.9, RowCountMatch "reference" between 0.7 and 0.8 ]""",
        "id\n1\n2\n3\n",
        ["Failed", "Passed"],
        ["Passed", "Passed", "Passed"],
        {"Dataset.reference.RowCountMatch": 0.75},
        skipped_rules_per_row=2,
        references={"reference": "id\n1\n2\n3\n4\n"},
    ),
    # ReferentialIntegrity "id" "reference.id": the share of primary values found in the reference
    # (ids 1 and 2 of 1, 2, 3); with several columns, the pairs must be found together.
    Case(
        "referential_integrity",
        """Rules = [
            ReferentialIntegrity "id" "reference.id" = 1.0,
            ReferentialIntegrity "primary.id" "reference.id" > 0.6,
            ReferentialIntegrity "id,k" "reference.{id,code}" > 0.3
        ]""",
        "id,k\n1,a\n2,b\n3,c\n",
        ["Failed", "Passed", "Passed"],
        ["Passed", "Passed", "Passed"],
        {"Column.reference.ReferentialIntegrity": 0.333333333333},
        skipped_rules_per_row=3,
        references={"reference": "id,code\n1,a\n2,x\n"},
    ),
    # DatasetMatch "reference" "id" (key) compares the other columns of rows with the same key:
    # only id 1 matches (2 differs in x, 3 is missing); "id->ref_id" maps a key to another name.
    Case(
        "dataset_match",
        """Rules = [
            DatasetMatch "reference" "id" >= 0.9,
            DatasetMatch "renamed" "id->ref_id" "x" between 0.3 and 0.4
        ]""",
        "id,x\n1,a\n2,b\n3,c\n",
        ["Failed", "Passed"],
        ["Passed", "Passed", "Passed"],
        {"Dataset.reference.DatasetMatch": 0.333333333333},
        skipped_rules_per_row=2,
        references={
            "reference": "id,x\n1,a\n2,B\n4,d\n",
            "renamed": "ref_id,x\n1,a\n2,B\n4,d\n",
        },
    ),
    # SchemaMatch "reference" = 1.0: the primary columns with the same name and type in the
    # reference (typed as the crawler types them); "other" has id as text, so 1 of 2 columns.
    Case(
        "schema_match",
        'Rules = [ SchemaMatch "reference" = 1.0, SchemaMatch "other" = 1.0 ]',
        "id,x\n1,a\n2,b\n",
        ["Passed", "Failed"],
        ["Passed", "Passed"],
        {"Dataset.reference.SchemaMatch": 1.0, "Dataset.other.SchemaMatch": 0.5},
        skipped_rules_per_row=2,
        references={"reference": "id,x,y\n7,q,z\n", "other": "id,x\nA,b\n"},
    ),
    # AggregateMatch "sum(amount)" "sum(reference.amount)": 30 over 40; averages 15 over 13.33. Beside
    # a SchemaMatch (which types every column), amount is still read as numbers (1 of 2 columns match).
    Case(
        "aggregate_match",
        """Rules = [
            AggregateMatch "sum(amount)" "sum(reference.amount)" >= 0.9,
            AggregateMatch "avg(amount)" "avg(reference.amount)" between 1.12 and 1.13,
            SchemaMatch "reference" = 0.5
        ]""",
        "id,amount\n1,10\n2,20\n",
        ["Failed", "Passed", "Passed"],
        ["Passed", "Passed"],
        {"Column.amount.AggregateMatch": 1.125, "Dataset.reference.SchemaMatch": 0.5},
        skipped_rules_per_row=3,
        references={"reference": "amount\n10\n20\n10\n"},
    ),
    # File rules (rule type reference) over the data file (no path) or its folder. FileSize: the share
    # of files over 1 KB is 1 of 3 (the data file is 5 bytes, small.dat 10, big.dat 2048).
    Case(
        "file_size",
        """Rules = [
            FileSize < 1 KB,
            FileSize "{folder}/" > 1 KB,
            FileSize "{folder}/" > 1 KB with threshold > 0.3
        ]""",
        "id\n1\n",
        ["Passed", "Failed", "Passed"],
        ["Passed"],
        {
            "Dataset.*.FileSize.Compliance": 0.333333333333,
            "Dataset.*.FileCount": 3.0,
            "Dataset.*.MaximumFileSize": 2048.0,
            "Dataset.*.MinimumFileSize": 5.0,
        },
        skipped_rules_per_row=3,
        neighbours={
            "big.dat": ("x" * 2048, datetime(2024, 6, 1, tzinfo=UTC)),
            "small.dat": ("x" * 10, datetime(2024, 6, 1, tzinfo=UTC)),
        },
    ),
    # FileFreshness on last-modified times (now is 2024-06-10 12:00 UTC): the data file (11:00 that
    # day) is fresh, old.csv (June 1) is not; "9:30 AM" to "9:30 PM" is that day's window (UTC, or
    # with `timeZone` in New York, 13:30 to 01:30 UTC, which 11:00 UTC is not in).
    Case(
        "file_freshness",
        """Rules = [
            FileFreshness > (now() - 24 hours),
            FileFreshness "{folder}/" >= (now() - 1 days),
            FileFreshness "{folder}/" > "2024-01-01",
            FileFreshness between "9:30 AM" and "9:30 PM" with timeZone = "America/New_York",
            FileFreshness "{folder}/" between "9:30 AM" and "9:30 PM" with threshold > 0.4
        ]""",
        "id\n1\n",
        ["Passed", "Failed", "Passed", "Failed", "Passed"],
        ["Passed"],
        {"Dataset.*.FileFreshness.Compliance": 0.5, "Dataset.*.FileCount": 2.0},
        skipped_rules_per_row=5,
        neighbours={"old.csv": ("id\n2\n", datetime(2024, 6, 1, tzinfo=UTC))},
        data_modified=datetime(2024, 6, 10, 11, 0, tzinfo=UTC),
    ),
    # FileMatch with checksums (MD5 of "id\n1\n" by md5sum; SHA-256 is the default algorithm), and
    # between files: copy.csv has the data file's bytes, other.txt not; matchFileName also compares
    # the names, which differ.
    Case(
        "file_match",
        """Rules = [
            FileMatch in ["bc9280dfc1d4e67233f138f5bbbf0951"] with hashAlgorithm = "MD5",
            FileMatch in ["7cde7fb64fd82bd152710cf238e017b9ab46c0592483edc067ba4f6c75fac108"],
            FileMatch "{folder}/copy.csv" "{folder}/file_match.csv",
            FileMatch "{folder}/other.txt" "{folder}/copy.csv",
            FileMatch "{folder}/copy.csv" "{folder}/file_match.csv" with matchFileName = "true"
        ]""",
        "id\n1\n",
        ["Passed", "Passed", "Passed", "Failed", "Failed"],
        ["Passed"],
        skipped_rules_per_row=5,
        neighbours={
            "copy.csv": ("id\n1\n", datetime(2024, 6, 1, tzinfo=UTC)),
            "other.txt": ("something else", datetime(2024, 6, 1, tzinfo=UTC)),
        },
    ),
    # FileUniqueness: the share of files whose content no other file has: only other.txt of three.
    Case(
        "file_uniqueness",
        'Rules = [ FileUniqueness "{folder}/" > 0.5, FileUniqueness "{folder}/" < 0.5 ]',
        "id\n1\n",
        ["Failed", "Passed"],
        ["Passed"],
        {"Dataset.*.FileUniquenessRatio": 0.333333333333, "Dataset.*.FileCount": 3.0},
        skipped_rules_per_row=2,
        neighbours={
            "copy.csv": ("id\n1\n", datetime(2024, 6, 1, tzinfo=UTC)),
            "other.txt": ("something else", datetime(2024, 6, 1, tzinfo=UTC)),
        },
    ),
    # filterOrder (FileUniqueness page of the DQDL rule type reference,
    # https://docs.aws.amazon.com/glue/latest/dg/dqdl-rule-types-FileUniqueness.html: "the default order
    # is recentFiles first, then uriRegex"). Newest first: other.txt (06-20), the data file (06-10),
    # copy.csv (06-01, the data file's bytes). recentFiles = 2 then .csv$: the data file alone, ratio 1;
    # .csv$ then recentFiles = 2: the data file and its copy, no file unique, ratio 0 of 2 files.
    Case(
        "file_filter_order",
        r"""Rules = [
            FileUniqueness "{folder}/" = 1 with recentFiles = 2 with uriRegex = "\.csv$",
            FileUniqueness "{folder}/" = 1 with recentFiles = 2 with uriRegex = "\.csv$"
                with filterOrder = ["recentFiles", "uriRegex"],
            FileUniqueness "{folder}/" = 1 with recentFiles = 2 with uriRegex = "\.csv$"
                with filterOrder = ["uriRegex","recentFiles"]
        ]""",
        "id\n1\n",
        ["Passed", "Passed", "Failed"],
        ["Passed"],
        {"Dataset.*.FileUniquenessRatio": 0.0, "Dataset.*.FileCount": 2.0},
        skipped_rules_per_row=3,
        neighbours={
            "copy.csv": ("id\n1\n", datetime(2024, 6, 1, tzinfo=UTC)),
            "other.txt": ("something else", datetime(2024, 6, 20, tzinfo=UTC)),
        },
        data_modified=datetime(2024, 6, 10, tzinfo=UTC),
    ),
    # CustomSql's row-level form (rule type reference): `CustomSql "select Name from primary where
    # Age > 18"`: the rows the query returns pass, the others fail; without a threshold every row
    # must pass, `with threshold` sets the share. AWS's reference rejects returned columns the
    # primary table lacks (the rule fails, no row does).
    Case(
        "custom_sql_row_level",
        """Rules = [
            CustomSql "select id from primary where age > 18",
            CustomSql "select id from primary where age > 18" with threshold >= 0.5,
            CustomSql "select age * 2 as double_age from primary"
        ]""",
        "id,age\n1,20\n2,9\n3,30\n4,\n",
        ["Failed", "Passed", "Failed"],
        ["Passed", "Failed", "Passed", "Failed"],
        {"Dataset.*.CustomSQL.Compliance": 0.5},
        reason_contains="Columns not found: double_age",
        skipped_rules_per_row=1,
    ),
    # ColumnDataType (rule type reference; AWS's reference for `with format`, DECIMAL(p,s) and !=):
    # the share of non-NULL values of the type. "30/02/2024" is no date, "2024-01-01" not dd/MM/yyyy;
    # "13-2024" has no month 13; DECIMAL(5,2) holds 3 integer digits ("1.234" rounds to 1.23);
    # != INTEGER: none of x is an integer.
    Case(
        "column_data_type_format_decimal_not_equal",
        """Rules = [
            ColumnDataType "d" = "DATE" with format = "dd/MM/yyyy",
            ColumnDataType "m" = "DATE" with format = "MM-yyyy",
            ColumnDataType "x" = "DECIMAL(5,2)",
            ColumnDataType "x" != "INTEGER"
        ]""",
        "id,d,m,x\n1,31/12/2024,12-2024,123.45\n2,30/02/2024,13-2024,1234.5\n"
        "3,2024-01-01,01-1999,1.234\n4,,,abc\n",
        ["Failed", "Failed", "Failed", "Passed"],
        ["Passed", "Passed", "Passed", "Passed"],
        {
            "Column.d.ColumnDataType.Compliance": 0.5,
            "Column.m.ColumnDataType.Compliance": 0.75,
        },
        skipped_rules_per_row=4,
    ),
    # Analyzers (DQDL reference): metrics computed and written, never passed or failed. AllStatistics
    # (rule type reference): RowCount, Completeness, Uniqueness; min/max for a numeric column, lengths
    # for a text one. x: 1, 2, 2, NULL (only "1" occurs once of 3 values); t: 2 of 4 values occur once.
    # An analyzer's row checks (ColumnLength) never enter the rows' Pass/Fail/Skip lists.
    Case(
        "analyzers",
        """Rules = [ RowCount > 0 ]
        Analyzers = [
            AllStatistics "x",
            AllStatistics "t",
            Mean "x",
            ColumnLength "t",
            CustomSql "select sum(x) from primary"
        ]""",
        "id,x,t\n1,1,ab\n2,2,abc\n3,2,ab\n4,,abcd\n",
        ["Passed"],
        ["Passed", "Passed", "Passed", "Passed"],
        skipped_rules_per_row=1,
        analyzer_metrics={
            'AllStatistics "x"': {
                "Dataset.*.RowCount": 4.0,
                "Column.x.Completeness": 0.75,
                "Column.x.Uniqueness": 0.333333333333,
                "Column.x.Minimum": 1.0,
                "Column.x.Maximum": 2.0,
            },
            'AllStatistics "t"': {
                "Dataset.*.RowCount": 4.0,
                "Column.t.Completeness": 1.0,
                "Column.t.Uniqueness": 0.5,
                "Column.t.MinimumLength": 2.0,
                "Column.t.MaximumLength": 4.0,
            },
            'Mean "x"': {"Column.x.Mean": 1.66666666667},
            'ColumnLength "t"': {
                "Column.t.LengthCompliance": 1.0,
                "Column.t.MaximumLength": 4.0,
                "Column.t.MinimumLength": 2.0,
            },
            'CustomSql "select sum(x) from primary"': {"Dataset.*.CustomSQL": 5.0},
        },
    ),
    # A where clause that raises on one value while running (Spark's raise_error) is a Failed rule,
    # as one that does not compile is; the other rules are evaluated (id > 2 fails rows 1 and 2).
    Case(
        "where_clause_failing_while_running",
        """Rules = [
            IsComplete "x" where "CASE WHEN x = 'abc' THEN raise_error('bad value') ELSE TRUE END",
            ColumnValues "id" > 2
        ]""",
        "id,x\n1,5\n2,abc\n3,7\n",
        ["Failed", "Failed"],
        ["Failed", "Failed", "Passed"],
        reason_contains="The where clause failed: ",
        skipped_rules_per_row=1,
    ),
    # IsUnique / Uniqueness over several columns (their pages: "checks multiple columns"): the pairs
    # (1, 08:00) ... are all unique though neither column is; Uniqueness "k" alone is 0 (every value
    # repeats), so the single-column rule fails every row.
    Case(
        "uniqueness_of_several_columns",
        """Rules = [
            IsUnique "k" "t",
            Uniqueness "k" "t" = 1.0,
            Uniqueness "k" > 0.5
        ]""",
        "id,k,t\n1,1,08:00\n2,1,09:00\n3,2,08:00\n4,2,09:00\n",
        ["Passed", "Passed", "Failed"],
        ["Failed", "Failed", "Failed", "Failed"],
        {"Multicolumn.k,t.Uniqueness": 1.0, "Column.k.Uniqueness": 0.0},
    ),
    # DetectAnomalies of row-checking metrics (the page: "ColumnLength as a rule name and the column
    # name"): the metric is computed, judged against its history, and the rule stays dataset level.
    Case(
        "detect_anomalies_of_row_level_metrics",
        """Rules = [
            DetectAnomalies "ColumnLength" "x",
            DetectAnomalies "Uniqueness" "x",
            DetectAnomalies "CustomSQL" "select count(*) from primary"
        ]""",
        "id,x\n1,ab\n2,abc\n3,ab\n",
        ["Passed", "Failed", "Passed"],
        ["Passed", "Passed", "Passed"],
        {
            "Column.x.LengthCompliance": 1.0,
            "Column.x.Uniqueness": 0.333333333333,
            "Dataset.*.CustomSQL": 3.0,
        },
        reason_contains="Column.x.Uniqueness = 0.333333333333 is outside [0.5, 0.9]",
        skipped_rules_per_row=3,
        history={
            "Column.x.MinimumLength": [1.0, 2.0],
            "Column.x.MaximumLength": [3.0, 5.0],
            "Column.x.Uniqueness": [0.5, 0.9],
            "Dataset.*.CustomSQL": [2.0, 4.0],
        },
    ),
    # DetectAnomalies "ColumnLength" judges the shortest and the longest length (the DQDL reference's
    # rule type table: ColumnLength's observations come "only by analyzing minimum and maximum length"),
    # not its compliance, which is 1 whenever there is no condition. Lengths here: 2, 3, 2, so min 2 is
    # within the earlier [2, 2] and max 3 is outside the earlier [2, 2]: Failed.
    Case(
        "detect_anomalies_of_column_length_judges_lengths",
        'Rules = [ DetectAnomalies "ColumnLength" "x" ]',
        "id,x\n1,ab\n2,abc\n3,ab\n",
        ["Failed"],
        ["Passed", "Passed", "Passed"],
        {"Column.x.MinimumLength": 2.0, "Column.x.MaximumLength": 3.0},
        reason_contains="Column.x.MaximumLength = 3.0 is outside [2.0, 2.0]",
        skipped_rules_per_row=1,
        history={
            "Column.x.MinimumLength": [2.0, 2.0],
            "Column.x.MaximumLength": [2.0, 2.0],
            "Column.x.LengthCompliance": [1.0, 1.0],
        },
    ),
    # The ignoreCase tag (issue 9's tag list): text compared and patterns matched regardless of case.
    Case(
        "column_values_ignore_case",
        """Rules = [
            ColumnValues "c" in ["us", "ca"] with ignoreCase = "true",
            ColumnValues "c" matches "u[a-z]" with ignoreCase = "true",
            ColumnValues "c" in ["us", "ca"]
        ]""",
        "id,c\n1,US\n2,Ca\n3,uk\n",
        ["Failed", "Failed", "Failed"],
        ["Failed", "Failed", "Failed"],
        {"Column.c.ColumnValues.Compliance": 0.0},
    ),
    # Issue 24: column names holding dots (exports from real systems: `Some.Date`, `col.with.dot`,
    # `Building.Code`, from AWS's and Deequ's DQDL test data) are plain names, as any other: DQDL
    # quotes the name, and the crawler only lower-cases it. NOW is 2024-06-10 12:00, so the two
    # dates are 9.5 days and 1.5 days old (<= 30 days) and "not a date" fails its row (the DataFreshness
    # page: a value that is not a date fails); two of three values are dates (threshold > 0.5
    # passes); "col.with.dot" is empty on row 2; 4 columns; every lower-cased name matches.
    Case(
        "column_names_with_dots",
        """Rules = [
            ColumnDataType "Some.Date" = "DATE" with threshold > 0.5,
            DataFreshness "Some.Date" <= 30 days,
            ColumnCount = 4,
            ColumnNamesMatchPattern "^[a-z]+(\\.[a-z]+)*$",
            IsComplete "col.with.dot",
            ColumnValues "Building.Code" in ["B1", "B2", "B3"]
        ]""",
        "id,Some.Date,col.with.dot,Building.Code\n1,2024-06-01,a,B1\n2,2024-06-09,,B2\n"
        "3,not a date,c,B3\n",
        ["Passed", "Failed", "Passed", "Passed", "Failed", "Passed"],
        ["Passed", "Failed", "Failed"],
        {
            "Column.some.date.ColumnDataType.Compliance": 0.666666666667,
            "Column.some.date.DataFreshness.Compliance": 0.666666666667,
            "Dataset.*.ColumnCount": 4.0,
            "Dataset.*.ColumnNamesPatternMatchRatio": 1.0,
            "Column.col.with.dot.Completeness": 0.666666666667,
            "Column.building.code.ColumnValues.Compliance": 1.0,
        },
        skipped_rules_per_row=3,
    ),
    # Issue 24 (found by the differential test): Spark's parser turns `x BETWEEN 0 AND 100` into
    # `x >= 0 AND x <= 100`, so a text column is compared as numbers there as in `x > 0` (the
    # crawler types "x" string: "abc" is no number). 5 is between; "abc" reads as NULL and 500 is
    # not, so only row 1 is considered, and its id 1 is not > 1; the other rows are filtered out
    # (Passed at row level).
    Case(
        "where_between_on_text_column",
        'Rules = [ ColumnValues "id" > 1 where "x between 0 and 100" ]',
        "id,x\n1,5\n2,abc\n3,500\n4,\n",
        ["Failed"],
        ["Failed", "Passed", "Passed", "Passed"],
        {"Column.id.ColumnValues.Compliance": 0.0},
    ),
    # Issue 24 (differential test): Spark casts a number a string function reads to its text
    # (Spark SQL's implicit casts: length(x) of the double 2365 is length("2365.0") = 6, of 0.75
    # is 4), in CustomSql and where clauses alike; DuckDB refused length(DOUBLE). The crawler
    # types "x" double (every value a number, not all whole). Row 2 alone has length 4.
    Case(
        "string_functions_read_numbers_as_text",
        """Rules = [
            CustomSql "select max(length(x)) from primary" = 6,
            ColumnValues "id" = 2 where "length(x) = 4"
        ]""",
        "id,x\n1,2365\n2,0.75\n3,\n",
        ["Passed", "Passed"],
        ["Passed", "Passed", "Passed"],
        {"Dataset.*.CustomSQL": 6.0, "Column.id.ColumnValues.Compliance": 1.0},
        skipped_rules_per_row=1,
    ),
    # Issue 24 (differential test): Spark SQL sums and averages a text column as doubles, text that
    # is no number ("abc") reading as NULL: sum 2 + 4.5 = 6.5, average 6.5 / 2 = 3.25 (the crawler
    # types "x" string); DuckDB refused sum(VARCHAR).
    Case(
        "custom_sql_sums_text_as_numbers",
        """Rules = [
            CustomSql "select sum(x) from primary" = 6.5,
            CustomSql "select avg(x) from primary" = 3.25
        ]""",
        "id,x\n1,2\n2,abc\n3,4.5\n",
        ["Passed", "Passed"],
        ["Passed", "Passed", "Passed"],
        skipped_rules_per_row=2,
    ),
]


@dataclass(frozen=True)
class UnusableCase:
    """A CSV no backend can evaluate: both stop with ``error`` (an UnreadableInputError) whose
    message contains ``message``."""

    name: str
    csv: str
    message: str
    error: str = "UnreadableInputError"


# README ("A bad file fails alone"): a column named twice or missing makes the file unusable, with a
# line saying what to fix. Names are compared lower-cased, as the Glue crawler stores them.
UNUSABLE_CASES = [
    # Issue 24 (differential test): Spark named the empty field `_c1` and evaluated the file.
    UnusableCase(
        "header_with_an_empty_name",
        "id,,x\n1,2,3\n",
        "the header has an empty column name; name every column and run again.",
    ),
    # Issue 24 (differential test): Spark numbered the repeated name and evaluated the file.
    UnusableCase(
        "header_names_differing_only_in_case",
        "id,My Col,MY COL\n1,2,3\n",
        "header column 'MY COL' repeats 'my col' once names are lower-cased",
    ),
]
