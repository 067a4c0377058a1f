"""The modified z-score judgement, against numbers worked out by hand."""

import pytest

from quality_movies.dq.anomaly import expected_range, format_number, judge, metric_label

# median 11; |deviations| 2,1,1,0,0,1,1,2 -> MAD 1; half width 3.5 * 1 / 0.6745 = 5.18903
SMALL = [10, 12, 11, 13, 9, 11, 10, 12]


def test_band_is_median_plus_minus_threshold_mads():
    lower, upper = expected_range(SMALL)
    assert lower == pytest.approx(11 - 5.18903, abs=1e-5)
    assert upper == pytest.approx(11 + 5.18903, abs=1e-5)


@pytest.mark.parametrize(
    ("value", "anomalous", "word"),
    [(17, True, "above"), (16, False, "within"), (6, False, "within"), (5, True, "below")],
)
def test_values_outside_the_band_are_anomalies(value, anomalous, word):
    verdict = judge("Dataset.*.RowCount", value, SMALL)
    assert verdict.anomalous is anomalous
    assert f" is {word} the expected range " in verdict.observation
    assert verdict.history_size == 8


def test_identical_history_keeps_a_band_of_one_percent_mad():
    # MAD 0 is floored at 1% of the median: 10 -> half width 35 / 0.6745 = 51.89
    history = [1000.0] * 12
    verdict = judge("Dataset.*.RowCount", 300, history)
    assert verdict.anomalous
    assert (
        verdict.observation
        == "RowCount 300 is below the expected range 948-1,052 from the last 12 files"
    )
    assert verdict.lower == pytest.approx(948.11, abs=0.01)
    assert verdict.upper == pytest.approx(1051.89, abs=0.01)
    assert not judge("Dataset.*.RowCount", 1040, history).anomalous
    assert judge("Dataset.*.RowCount", 1060, history).anomalous


def test_a_few_wild_files_do_not_widen_the_band():
    # sorted: 5, 1000 x 10, 50000 -> median 1000, |deviations| median 0 -> same band as above;
    # a mean +- 3 sd rule would accept 300 here (mean 5000.4, sd about 14,000)
    history = [1000.0] * 5 + [5.0] + [1000.0] * 5 + [50000.0]
    assert judge("Dataset.*.RowCount", 300, history).anomalous
    assert not judge("Dataset.*.RowCount", 1010, history).anomalous


def test_no_judgement_before_three_earlier_files():
    verdict = judge("Dataset.*.RowCount", 5, [1000.0, 1000.0])
    assert not verdict.anomalous
    assert verdict.lower is None and verdict.upper is None
    assert verdict.observation == (
        "RowCount 5 not judged: 2 earlier files, anomaly detection needs at least 3"
    )
    assert judge("Dataset.*.RowCount", 5, [1000.0] * 3).anomalous


def test_column_metrics_read_as_words():
    # median 1, MAD 0 -> floor 0.01 -> half width 0.035 / 0.6745 = 0.05189
    verdict = judge("Column.imdb_rating.Completeness", 0.9, [1.0, 1.0, 1.0])
    assert verdict.observation == (
        "Completeness of imdb_rating 0.9 is below the expected range 0.948-1.05 from the last 3 files"
    )
    assert metric_label("Column.imdb_rating.ColumnValues.Compliance") == (
        "ColumnValues.Compliance of imdb_rating"
    )
    assert format_number(1234567) == "1,234,567"
