"""Tests for initlib.stats: intervals, Holm, paired tests, per-run summaries and claim verdicts.

Reference values come from scipy.stats called directly in the test, or are computed by
hand in the comments next to them. The tables are built in memory and contain a few runs,
so the whole file runs in about a second.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from initlib import stats
from initlib.stats import Comparison

SEEDS = range(5)
# Seed-to-seed jitter, small next to the effects the verdict tests build in, and
# different for every init so that paired differences have non-zero variance.
JITTER = {
    "he": [0.0010, -0.0010, 0.0005, -0.0005, 0.0000],
    "xavier": [-0.0005, 0.0010, -0.0010, 0.0000, 0.0005],
    "random": [0.0000, 0.0005, -0.0005, 0.0010, -0.0010],
    "orthogonal": [0.0005, 0.0000, 0.0010, -0.0010, -0.0005],
}


# ---------------------------------------------------------------------------------------
# mean_ci
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("confidence", [0.90, 0.95, 0.99])
def test_mean_ci_matches_scipy_interval(confidence):
    values = np.random.default_rng(7).normal(0.97, 0.01, size=8)
    expected_low, expected_high = scipy_stats.t.interval(
        confidence, df=len(values) - 1, loc=values.mean(), scale=scipy_stats.sem(values)
    )

    ci = stats.mean_ci(values, confidence)

    assert ci.mean == pytest.approx(values.mean())
    assert ci.low == pytest.approx(expected_low)
    assert ci.high == pytest.approx(expected_high)
    assert ci.n == 8


def test_mean_ci_hand_computed_four_values():
    # mean 2.5, s = sqrt(5/3) = 1.2910, t_{0.975,3} = 3.1824, half-width 3.1824 * 1.2910 / 2 = 2.0543
    ci = stats.mean_ci([1, 2, 3, 4])

    assert ci.mean == 2.5
    assert ci.low == pytest.approx(2.5 - 2.0543, abs=1e-4)
    assert ci.high == pytest.approx(2.5 + 2.0543, abs=1e-4)
    assert ci.n == 4


def test_mean_ci_single_value_no_interval():
    ci = stats.mean_ci([0.97])

    assert ci.mean == 0.97
    assert math.isnan(ci.low)
    assert math.isnan(ci.high)
    assert ci.n == 1


def test_mean_ci_no_finite_values():
    ci = stats.mean_ci([np.nan, np.inf])

    assert math.isnan(ci.mean)
    assert math.isnan(ci.low)
    assert math.isnan(ci.high)
    assert ci.n == 0


def test_mean_ci_drops_nan_and_inf():
    with_gaps = stats.mean_ci([1, np.nan, 2, np.inf, 3, -np.inf, 4])
    clean = stats.mean_ci([1, 2, 3, 4])

    assert with_gaps == clean


def test_mean_ci_nullable_series_with_na():
    values = pd.Series([1.0, pd.NA, 2.0, 3.0, 4.0], dtype="Float64")

    assert stats.mean_ci(values) == stats.mean_ci([1, 2, 3, 4])


def test_mean_ci_zero_variance_collapses():
    ci = stats.mean_ci([0.5, 0.5, 0.5])

    assert ci.low == 0.5
    assert ci.high == 0.5


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95, float("nan")])
def test_mean_ci_rejects_invalid_confidence(confidence):
    with pytest.raises(ValueError, match="confidence must be in"):
        stats.mean_ci([1, 2, 3], confidence)


# ---------------------------------------------------------------------------------------
# holm
# ---------------------------------------------------------------------------------------


def test_holm_hand_computed_four():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> raised to 0.06
    adjusted = holm_list([0.01, 0.04, 0.03, 0.005])

    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_nan_kept_not_counted():
    adjusted = stats.holm([0.01, np.nan, 0.04, 0.03, 0.005])

    assert math.isnan(adjusted[1])
    assert adjusted[[0, 2, 3, 4]] == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one():
    # sorted: 0.5*3 = 1.5, 0.8*2 = 1.6, 0.9*1 = 0.9 -> running max 1.5, 1.6, 1.6 -> capped at 1
    adjusted = holm_list([0.5, 0.9, 0.8])

    assert adjusted == [1.0, 1.0, 1.0]


def test_holm_three_with_running_max():
    # sorted: 0.001*3 = 0.003, 0.02*2 = 0.04, 0.04*1 = 0.04
    adjusted = holm_list([0.02, 0.001, 0.04])

    assert adjusted == pytest.approx([0.04, 0.003, 0.04])


def test_holm_single_value_unchanged():
    assert holm_list([0.03]) == [0.03]


def test_holm_empty_input():
    assert stats.holm([]).size == 0


def test_holm_all_nan():
    assert np.isnan(stats.holm([np.nan, np.nan])).all()


@pytest.mark.parametrize("bad", [-0.1, 1.5, np.inf])
def test_holm_rejects_out_of_range(bad):
    with pytest.raises(ValueError, match="p-values must be in"):
        stats.holm([0.01, bad])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=12))
def test_holm_bounds_and_order(p_values):
    p = np.array(p_values)
    adjusted = stats.holm(p)
    order = np.argsort(p, kind="stable")

    assert (adjusted >= p).all()
    assert (adjusted <= 1.0).all()
    assert (np.diff(adjusted[order]) >= 0).all()
    assert (adjusted <= np.minimum(len(p) * p, 1.0) + 1e-12).all()


def holm_list(p_values):
    return stats.holm(p_values).tolist()


# ---------------------------------------------------------------------------------------
# paired_differences and compare
# ---------------------------------------------------------------------------------------


def per_model_table(values_by_init: dict[str, list[float]], metric: str = "final_test_accuracy") -> pd.DataFrame:
    """Build a per-run table with one row per init and seed from per-seed values."""
    rows = [
        {"init": init, "seed": seed, metric: value}
        for init, values in values_by_init.items()
        for seed, value in enumerate(values)
    ]
    return pd.DataFrame(rows)


def test_paired_differences_matches_ttest_rel():
    table = per_model_table({
        "he": [0.980, 0.978, 0.981, 0.979, 0.982],
        "xavier": [0.975, 0.976, 0.974, 0.977, 0.973],
        "random": [0.950, 0.962, 0.955, 0.949, 0.958],
    })
    he = table[table.init == "he"].final_test_accuracy.to_numpy()

    result = stats.paired_differences(table, "final_test_accuracy").set_index("init")

    for init in ["xavier", "random"]:
        other = table[table.init == init].final_test_accuracy.to_numpy()
        expected = scipy_stats.ttest_rel(other, he)
        row = result.loc[init]
        assert row.t_statistic == pytest.approx(expected.statistic)
        assert row.p_value == pytest.approx(expected.pvalue)
        assert row.mean_diff == pytest.approx((other - he).mean())


def test_paired_differences_ci_of_differences():
    table = per_model_table({"he": [0.98, 0.97, 0.99, 0.96], "xavier": [0.95, 0.96, 0.95, 0.94]})
    expected = stats.mean_ci(np.array([0.95, 0.96, 0.95, 0.94]) - np.array([0.98, 0.97, 0.99, 0.96]))

    row = stats.paired_differences(table, "final_test_accuracy").iloc[0]

    assert row.ci_low == pytest.approx(expected.low)
    assert row.ci_high == pytest.approx(expected.high)
    assert row.baseline == "he"
    assert row.metric == "final_test_accuracy"


def test_paired_differences_drops_unpaired_seeds():
    table = per_model_table({
        "he": [0.980, 0.978, 0.981, 0.979, 0.982],
        "xavier": [0.975, 0.976, 0.974, 0.977],  # seed 4 missing
        "random": [0.950, np.nan, 0.955, 0.949, 0.958],  # seed 1 diverged
    })
    he = np.array([0.980, 0.978, 0.981, 0.979, 0.982])
    random = np.array([0.950, 0.955, 0.949, 0.958])

    result = stats.paired_differences(table, "final_test_accuracy").set_index("init")

    assert result.loc["xavier", "n_pairs"] == 4
    assert result.loc["random", "n_pairs"] == 4
    assert result.loc["random", "p_value"] == pytest.approx(scipy_stats.ttest_rel(random, he[[0, 2, 3, 4]]).pvalue)


def test_paired_differences_holm_and_significance():
    table = per_model_table({
        "he": [0.980, 0.978, 0.981, 0.979, 0.982],
        "xavier": [0.979, 0.979, 0.980, 0.978, 0.982],
        "random": [0.950, 0.962, 0.955, 0.949, 0.958],
    })

    result = stats.paired_differences(table, "final_test_accuracy").set_index("init")

    assert result.p_holm.tolist() == pytest.approx(stats.holm(result.p_value).tolist())
    assert not result.loc["xavier", "significant"]
    assert result.loc["random", "significant"]


def test_paired_differences_constant_nonzero_difference():
    # The same +0.02 gain on every seed has zero variance, where ttest_rel alone returns inf with a warning.
    table = per_model_table({"he": [0.9512, 0.9612, 0.9712], "xavier": [0.9712, 0.9812, 0.9912]})

    row = stats.paired_differences(table, "final_test_accuracy").iloc[0]

    assert row.p_value == 0.0
    assert row.t_statistic == math.inf
    assert row.significant


def test_paired_differences_identical_values():
    table = per_model_table({"he": [0.95, 0.96, 0.97], "xavier": [0.95, 0.96, 0.97]})

    row = stats.paired_differences(table, "final_test_accuracy").iloc[0]

    assert row.p_value == 1.0
    assert row.mean_diff == 0.0
    assert not row.significant


def test_paired_differences_one_pair_no_test():
    table = per_model_table({"he": [0.95, 0.96, 0.97], "xavier": [0.99, np.nan, np.nan]})

    row = stats.paired_differences(table, "final_test_accuracy").iloc[0]

    assert row.n_pairs == 1
    assert math.isnan(row.p_value)
    assert math.isnan(row.p_holm)
    assert math.isnan(row.ci_low)
    assert not row.significant


def test_paired_differences_unknown_baseline():
    table = per_model_table({"he": [0.95, 0.96], "xavier": [0.95, 0.96]})

    with pytest.raises(ValueError, match=r"baseline 'lecun' not found.*\['he', 'xavier'\]"):
        stats.paired_differences(table, "final_test_accuracy", baseline="lecun")


def test_paired_differences_unknown_metric():
    table = per_model_table({"he": [0.95, 0.96], "xavier": [0.95, 0.96]})

    with pytest.raises(ValueError, match=r"missing column\(s\) \['accuracy'\]; available columns: \['init', 'seed'"):
        stats.paired_differences(table, "accuracy")


def test_paired_differences_duplicate_seed():
    table = per_model_table({"he": [0.95, 0.96], "xavier": [0.95, 0.96]})
    table = pd.concat([table, table.iloc[[0]]])

    with pytest.raises(ValueError, match="filter it to one configuration"):
        stats.paired_differences(table, "final_test_accuracy")


def test_compare_clear_win():
    table = per_model_table({"he": [0.98, 0.981, 0.979, 0.982, 0.98], "xavier": [0.97, 0.969, 0.971, 0.97, 0.972]})

    result = stats.compare(table, "final_test_accuracy", "he", "xavier")

    assert result.direction == "a_better"
    assert result.mean_diff == pytest.approx(0.01)
    assert result.ci_low > 0
    assert result.p_holm == result.p_value


def test_compare_lower_is_better_flips():
    table = per_model_table({"he": [1000, 1100, 900, 1050, 950], "xavier": [2000, 2100, 1900, 2000, 2050]},
                            metric="steps_to_97")

    result = stats.compare(table, "steps_to_97", "he", "xavier", higher_is_better=False)

    assert result.direction == "a_better"
    assert result.mean_diff < 0


def test_compare_overlap_no_difference():
    table = per_model_table({"he": [0.98, 0.975, 0.981, 0.979, 0.982], "xavier": [0.979, 0.98, 0.978, 0.981, 0.98]})

    result = stats.compare(table, "final_test_accuracy", "he", "xavier")

    assert result.direction == "no_difference"
    assert result.ci_low < 0 < result.ci_high


def test_compare_family_applies_holm():
    table = per_model_table({
        "he": [0.980, 0.978, 0.981, 0.979, 0.982],
        "xavier": [0.975, 0.976, 0.974, 0.977, 0.973],
        "random": [0.950, 0.962, 0.955, 0.949, 0.958],
    })
    requests = [stats.ComparisonRequest("final_test_accuracy", "he", other) for other in ["xavier", "random"]]

    comparisons = stats.compare_family(table, requests)
    raw = [comparison.p_value for comparison in comparisons]

    assert [c.p_holm for c in comparisons] == pytest.approx(stats.holm(raw).tolist())


# ---------------------------------------------------------------------------------------
# per_model_summary
# ---------------------------------------------------------------------------------------


def metrics_run(init, seed, accuracies, steps_per_epoch=100, diverged_at_epoch=None, diverged_step=None, **extra):
    """Build the metrics rows of one run, evaluated at epochs 0..len(accuracies) - 1."""
    rows = []
    for epoch, accuracy in enumerate(accuracies):
        diverged = diverged_at_epoch is not None and epoch >= diverged_at_epoch
        step = diverged_step if diverged else steps_per_epoch * epoch
        rows.append({
            "init": init,
            "seed": seed,
            "epoch": epoch,
            "step": step,
            "train_loss": math.nan if diverged else 2.3 / (epoch + 1),
            "test_loss": math.nan if diverged else 2.3 / (epoch + 1),
            "test_accuracy": math.nan if diverged else accuracy,
            "diverged": diverged,
            "diverged_step": diverged_step if diverged else None,
            **extra,
        })
    return rows


@pytest.fixture
def summary():
    metrics = pd.DataFrame(
        metrics_run("he", 0, [0.10, 0.92, 0.975, 0.98])
        + metrics_run("xavier", 0, [0.10, 0.85, 0.93, 0.91])
        + metrics_run("orthogonal", 0, [0.95, 0.96, 0.965, 0.97])
        + metrics_run("random", 0, [0.10, 0.50, 0.60, 0.70], diverged_at_epoch=2, diverged_step=150)
    )
    return stats.per_model_summary(metrics).set_index("init")


def test_summary_threshold_first_reached(summary):
    he = summary.loc["he"]

    assert he.steps_to_90 == 100
    assert he.epochs_to_90 == 1
    assert he.steps_to_97 == 200
    assert he.epochs_to_97 == 2
    assert he.reached_97


def test_summary_threshold_reached_at_epoch_zero(summary):
    assert summary.loc["orthogonal", "steps_to_90"] == 0
    assert summary.loc["orthogonal", "epochs_to_90"] == 0


def test_summary_threshold_reached_at_last_epoch(summary):
    assert summary.loc["orthogonal", "steps_to_97"] == 300


def test_summary_threshold_never_reached(summary):
    xavier = summary.loc["xavier"]

    assert math.isnan(xavier.steps_to_97)
    assert math.isnan(xavier.epochs_to_97)
    assert not xavier.reached_97
    assert xavier.reached_90


def test_summary_final_and_best_accuracy(summary):
    xavier = summary.loc["xavier"]

    assert xavier.final_test_accuracy == 0.91
    assert xavier.best_test_accuracy == 0.93
    assert xavier.final_train_loss == pytest.approx(2.3 / 4)
    assert xavier.final_epoch == 3
    assert xavier.final_step == 300


def test_summary_best_skips_epoch_zero():
    # Training made this run worse than at init, so epoch 0 has the maximum.
    metrics = pd.DataFrame(metrics_run("random", 0, [0.30, 0.20, 0.25]))

    summary = stats.per_model_summary(metrics)

    assert summary.loc[0, "best_test_accuracy"] == 0.25


def test_summary_diverged_run(summary):
    random = summary.loc["random"]

    assert random.diverged
    assert random.diverged_step == 150
    assert math.isnan(random.final_test_accuracy)
    assert math.isnan(random.final_train_loss)
    assert random.best_test_accuracy == 0.50
    assert not random.reached_90


def test_summary_healthy_run_not_diverged(summary):
    assert not summary.loc["he", "diverged"]
    assert math.isnan(summary.loc["he", "diverged_step"])


def test_summary_carries_group_cols():
    metrics = pd.DataFrame(
        metrics_run("he", 0, [0.1, 0.95], lr=1e-3) + metrics_run("he", 0, [0.1, 0.85], lr=1e-2)
    )

    summary = stats.per_model_summary(metrics, group_cols=["init", "lr"])

    assert list(summary.columns[:3]) == ["init", "lr", "seed"]
    assert summary.set_index("lr").loc[1e-3, "reached_90"]
    assert not summary.set_index("lr").loc[1e-2, "reached_90"]


def test_summary_duplicate_runs_rejected():
    metrics = pd.DataFrame(
        metrics_run("he", 0, [0.1, 0.95], lr=1e-3) + metrics_run("he", 0, [0.1, 0.85], lr=1e-2)
    )

    with pytest.raises(ValueError, match="Add the column that distinguishes those runs"):
        stats.per_model_summary(metrics)


def test_summary_missing_column_listed():
    metrics = pd.DataFrame(metrics_run("he", 0, [0.1, 0.95])).drop(columns="diverged_step")

    with pytest.raises(ValueError, match=r"missing column\(s\) \['diverged_step'\]; available columns"):
        stats.per_model_summary(metrics)


def test_summary_percent_accuracy_rejected():
    metrics = pd.DataFrame(metrics_run("he", 0, [10.0, 95.0]))

    with pytest.raises(ValueError, match="divide percentages by 100"):
        stats.per_model_summary(metrics)


def test_summary_fractional_threshold_name():
    metrics = pd.DataFrame(metrics_run("he", 0, [0.1, 0.98]))

    summary = stats.per_model_summary(metrics, thresholds=[0.975])

    assert summary.loc[0, "steps_to_97_5"] == 100


@pytest.mark.parametrize("threshold", [0.0, 1.2, 97])
def test_summary_invalid_threshold(threshold):
    metrics = pd.DataFrame(metrics_run("he", 0, [0.1, 0.98]))

    with pytest.raises(ValueError, match="not in \\(0, 1\\]"):
        stats.per_model_summary(metrics, thresholds=[threshold])


# ---------------------------------------------------------------------------------------
# summarize
# ---------------------------------------------------------------------------------------


def test_summarize_matches_mean_ci():
    table = per_model_table({"he": [0.98, 0.97, 0.99], "xavier": [0.95, np.nan, 0.96]})
    table["diverged"] = table.final_test_accuracy.isna()

    result = stats.summarize(table, metrics=["final_test_accuracy"]).set_index("init")
    expected = stats.mean_ci([0.98, 0.97, 0.99])

    assert result.loc["he", "mean"] == pytest.approx(expected.mean)
    assert result.loc["he", "ci_low"] == pytest.approx(expected.low)
    assert result.loc["he", "ci_high"] == pytest.approx(expected.high)
    assert result.loc["xavier", "n"] == 2
    assert result.loc["xavier", "n_runs"] == 3
    assert result.loc["xavier", "n_diverged"] == 1


def test_summarize_default_metrics(summary):
    result = stats.summarize(summary.reset_index())

    assert len(result) == 4 * 7
    assert set(result.metric) == {
        "final_test_accuracy", "best_test_accuracy", "final_train_loss",
        "steps_to_90", "epochs_to_90", "steps_to_97", "epochs_to_97",
    }


def test_summarize_unknown_metric():
    table = per_model_table({"he": [0.98, 0.97]})
    table["diverged"] = False

    with pytest.raises(ValueError, match=r"missing column\(s\) \['accuracy'\]; available columns"):
        stats.summarize(table, metrics=["accuracy"])


# ---------------------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------------------


def comparison(direction: str) -> Comparison:
    """Build a Comparison whose only meaningful field is its direction."""
    return Comparison("final_test_accuracy", "he", "xavier", True, 0.0, 0.0, 0.0, 5, 0.0, 0.5, 0.5, direction)


@pytest.mark.parametrize(("directions", "verdict"), [
    (["a_better", "a_better"], "holds"),
    (["a_better", "b_better"], "does not hold"),
    (["no_difference", "b_better"], "does not hold"),
    (["a_better", "no_difference"], "inconclusive"),
    ([], "inconclusive"),
])
def test_verdict_all_better_cases(directions, verdict):
    assert stats.verdict_all_better([comparison(d) for d in directions]) == verdict


@pytest.mark.parametrize(("n_diverged", "direction", "verdict"), [
    (0, "a_better", "holds"),
    (1, "a_better", "does not hold"),
    (0, "b_better", "does not hold"),
    (0, "no_difference", "inconclusive"),
])
def test_verdict_stable_and_slower_cases(n_diverged, direction, verdict):
    assert stats.verdict_stable_and_slower(n_diverged, comparison(direction)) == verdict


def claims_per_model(accuracy, steps, final_step=5000, diverged=None):
    """Build a per-run table for claims_table from a base value per init plus JITTER.

    accuracy and steps map init -> base value. A steps value of None means the runs
    never reached 97%. diverged maps init -> the seeds that diverged.
    """
    diverged = diverged or {}
    rows = []
    for init in accuracy:
        for seed in SEEDS:
            jitter = JITTER[init][seed]
            run_diverged = seed in diverged.get(init, ())
            reached = steps[init] is not None and not run_diverged
            rows.append({
                "init": init,
                "seed": seed,
                "final_step": final_step,
                "final_test_accuracy": math.nan if run_diverged else accuracy[init] + jitter,
                "diverged": run_diverged,
                "steps_to_97": steps[init] + 20_000 * jitter if reached else math.nan,
                "reached_97": reached,
            })
    return pd.DataFrame(rows)


PAPER_ACCURACY = {"he": 0.980, "orthogonal": 0.975, "xavier": 0.970, "random": 0.950}
PAPER_STEPS = {"he": 1000, "orthogonal": 1500, "xavier": 2000, "random": None}


def verdicts(per_model: pd.DataFrame) -> dict[str, str]:
    table = stats.claims_table(per_model)
    return dict(zip(table.claim, table.verdict))


HE_ACCURATE = "He initialization gives the highest test accuracy"
HE_FASTEST = "He initialization converges fastest"
RANDOM_WORST = "Random converges slowest and reaches the lowest accuracy"
XAVIER_BETWEEN = "Xavier is more stable and accurate than Random but below He"
ORTHOGONAL_STABLE = "Orthogonal trains stably but somewhat slower than He"


@pytest.mark.parametrize("claim", [HE_ACCURATE, HE_FASTEST, RANDOM_WORST, XAVIER_BETWEEN, ORTHOGONAL_STABLE])
def test_claims_paper_data_all_hold(claim):
    assert verdicts(claims_per_model(PAPER_ACCURACY, PAPER_STEPS))[claim] == "holds"


def test_claims_table_columns_and_order():
    table = stats.claims_table(claims_per_model(PAPER_ACCURACY, PAPER_STEPS))

    assert list(table.columns) == ["claim", "measured_as", "value", "verdict"]
    assert table.claim.tolist() == [HE_ACCURATE, HE_FASTEST, RANDOM_WORST, XAVIER_BETWEEN, ORTHOGONAL_STABLE]


def test_claims_value_text_in_pp():
    table = stats.claims_table(claims_per_model(PAPER_ACCURACY, PAPER_STEPS)).set_index("claim")

    # He - Xavier: 0.980 - 0.970 = +1.00 pp, with jitter differences averaging zero.
    assert "He \u2212 Xavier = +1.00 pp [" in table.loc[HE_ACCURATE, "value"]
    assert "He \u2212 Xavier = \u22121,000 steps [" in table.loc[HE_FASTEST, "value"]


def test_claim_he_accuracy_clear_loss():
    accuracy = {**PAPER_ACCURACY, "xavier": 0.990}

    assert verdicts(claims_per_model(accuracy, PAPER_STEPS))[HE_ACCURATE] == "does not hold"


def test_claim_he_accuracy_overlap():
    accuracy = {**PAPER_ACCURACY, "orthogonal": 0.980}

    assert verdicts(claims_per_model(accuracy, PAPER_STEPS))[HE_ACCURATE] == "inconclusive"


def test_claim_he_fastest_clear_loss():
    steps = {**PAPER_STEPS, "xavier": 600}

    assert verdicts(claims_per_model(PAPER_ACCURACY, steps))[HE_FASTEST] == "does not hold"


def test_claim_he_fastest_overlap():
    steps = {**PAPER_STEPS, "orthogonal": 1000}

    assert verdicts(claims_per_model(PAPER_ACCURACY, steps))[HE_FASTEST] == "inconclusive"


def test_claim_he_fastest_he_never_reaches():
    # He censored at 5001 steps on every seed, the others reach 97%: He is slowest.
    steps = {**PAPER_STEPS, "he": None}

    assert verdicts(claims_per_model(PAPER_ACCURACY, steps))[HE_FASTEST] == "does not hold"


def test_claim_random_worst_clear_loss():
    accuracy = {**PAPER_ACCURACY, "random": 0.972}

    assert verdicts(claims_per_model(accuracy, PAPER_STEPS))[RANDOM_WORST] == "does not hold"


def test_claim_xavier_between_reversed():
    accuracy = {**PAPER_ACCURACY, "xavier": 0.940}

    assert verdicts(claims_per_model(accuracy, PAPER_STEPS))[XAVIER_BETWEEN] == "does not hold"


def test_claim_orthogonal_diverged_run():
    per_model = claims_per_model(PAPER_ACCURACY, PAPER_STEPS, diverged={"orthogonal": [2]})

    assert verdicts(per_model)[ORTHOGONAL_STABLE] == "does not hold"


def test_claim_orthogonal_faster_than_he():
    steps = {**PAPER_STEPS, "orthogonal": 700}

    assert verdicts(claims_per_model(PAPER_ACCURACY, steps))[ORTHOGONAL_STABLE] == "does not hold"


def test_claim_orthogonal_overlap():
    steps = {**PAPER_STEPS, "orthogonal": 1000}

    assert verdicts(claims_per_model(PAPER_ACCURACY, steps))[ORTHOGONAL_STABLE] == "inconclusive"


def test_claims_missing_orthogonal():
    accuracy = {init: value for init, value in PAPER_ACCURACY.items() if init != "orthogonal"}
    table = stats.claims_table(claims_per_model(accuracy, PAPER_STEPS)).set_index("claim")

    assert table.loc[ORTHOGONAL_STABLE, "value"] == "not measured"
    assert table.loc[ORTHOGONAL_STABLE, "verdict"] == "inconclusive"
    assert "'orthogonal' absent" in table.loc[ORTHOGONAL_STABLE, "measured_as"]
    assert table.loc[HE_ACCURATE, "verdict"] == "holds"


def test_claims_only_he_present():
    table = stats.claims_table(claims_per_model({"he": 0.98}, PAPER_STEPS)).set_index("claim")

    assert (table.value == "not measured").all()
    assert (table.verdict == "inconclusive").all()


def test_claims_table_missing_steps_column():
    per_model = claims_per_model(PAPER_ACCURACY, PAPER_STEPS).drop(columns="steps_to_97")

    with pytest.raises(ValueError, match=r"thresholds=\(\.\.\., 0\.97\)"):
        stats.claims_table(per_model)


# ---------------------------------------------------------------------------------------
# censor_steps
# ---------------------------------------------------------------------------------------


def test_censor_steps_three_cases():
    per_model = pd.DataFrame({
        "steps_to_97": [1200.0, math.nan, 800.0],
        "reached_97": [True, False, True],
        "final_step": [5000, 4000, 300],
        "diverged": [False, False, True],
    })

    censored = stats.censor_steps(per_model).tolist()

    assert censored[0] == 1200  # reached: its own step
    assert censored[1] == 4001  # never reached: its last step + 1
    assert censored[2] == 5001  # diverged after reaching: the longest run's last step + 1


def test_per_model_with_curve_takes_thresholds_from_curve():
    # per-epoch metrics first reach 90% at epoch 1 (step 100), the finer curve at step 40
    metrics = pd.DataFrame({
        "init": "he", "seed": 0, "epoch": [0, 1, 2], "step": [0, 100, 200], "train_loss": [2.3, 0.5, 0.3],
        "test_accuracy": [0.1, 0.92, 0.95], "diverged": False, "diverged_step": pd.NA,
    })
    curve = pd.DataFrame({
        "init": "he", "seed": 0, "epoch": [0.0, 0.2, 0.4, 1.0, 2.0], "step": [0, 20, 40, 100, 200],
        "train_loss": math.nan, "test_accuracy": [0.1, 0.85, 0.91, 0.92, 0.95], "diverged": False, "diverged_step": pd.NA,
    })
    row = stats.per_model_with_curve(metrics, curve).iloc[0]
    assert row["steps_to_90"] == 40
    assert row["epochs_to_90"] == pytest.approx(0.4)
    assert row["final_test_accuracy"] == 0.95
    assert row["final_train_loss"] == 0.3
    assert not row["reached_97"]
