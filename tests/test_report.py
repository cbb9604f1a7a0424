"""Display formatting of the summary tables."""

import math

import pandas as pd

from initlib.report import format_interval, interval_table, paired_table, to_markdown


def test_format_interval_scales_and_rounds():
    assert format_interval(0.97831, 0.9769, 0.97972, scale=100, decimals=2) == "97.83 [97.69, 97.97]"


def test_format_interval_single_value_has_no_interval():
    assert format_interval(0.5, math.nan, math.nan) == "0.50"


def test_format_interval_nan_mean_is_dash():
    assert format_interval(math.nan, math.nan, math.nan) == "-"


def test_interval_table_marks_partial_counts():
    summary = pd.DataFrame([
        {"init": "he", "metric": "steps_to_97", "mean": 2200.0, "ci_low": 1896.0, "ci_high": 2504.0, "n": 3, "n_runs": 5, "n_diverged": 1},
    ])
    table = interval_table(summary, ["steps_to_97"], ["he", "xavier"])
    assert list(table.columns) == ["init", "seeds", "diverged", "steps to 97%"]
    assert table.loc[0, "init"] == "He"
    assert table.loc[0, "steps to 97%"] == "2200 [1896, 2504] (3 of 5)"
    assert len(table) == 1  # xavier is absent from the summary, so it has no row


def test_to_markdown_renders_rows():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert to_markdown(frame) == "| a | b |\n|---|---|\n| 1 | x |\n| 2 | y |\n"


def test_paired_table_uses_percentage_points():
    paired = pd.DataFrame([{
        "init": "xavier", "baseline": "he", "metric": "final_test_accuracy", "mean_diff": 0.0015,
        "ci_low": -0.0009, "ci_high": 0.0039, "n_pairs": 5, "p_value": 0.156, "p_holm": 0.312, "significant": False,
    }])
    row = paired_table(paired).iloc[0]
    assert row["comparison"] == "Xavier − He"
    assert row["difference [95% CI]"] == "0.15 [-0.09, 0.39] pp"
    assert row["significant"] == "no"
