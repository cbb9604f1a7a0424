"""Statistics over training metrics: per-run summaries, confidence intervals, paired tests, verdicts.

Every function here is pure: it reads pandas tables and returns new ones. The pipeline is

    metrics (one row per run and evaluation)
      -> per_model_summary   one row per run: final and best accuracy, steps to a threshold
      -> summarize           mean and t-interval per init and metric
      -> paired_differences  each init minus a baseline init, paired t-test by seed, Holm
      -> claims_table        verdicts on the five claims about He, Xavier, Random, Orthogonal

Runs are paired by seed because inits trained with the same seed share the data order, so
a paired t-test removes the seed-to-seed noise that is common to both inits. Confidence
intervals are Student t-intervals, which assume roughly normal per-seed values. With the
5 to 10 seeds these experiments use, that assumption cannot be checked, so read the
intervals as approximate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "CI",
    "Comparison",
    "ComparisonRequest",
    "censor_steps",
    "claims_table",
    "compare",
    "compare_family",
    "holm",
    "mean_ci",
    "paired_differences",
    "per_model_summary",
    "per_model_with_curve",
    "summarize",
    "threshold_label",
    "verdict_all_better",
    "verdict_stable_and_slower",
]

# Columns that per_model_summary reads from a metrics table, besides group_cols.
METRICS_COLUMNS = ("seed", "epoch", "step", "train_loss", "test_accuracy", "diverged", "diverged_step")

HE, XAVIER, RANDOM, ORTHOGONAL = "he", "xavier", "random", "orthogonal"
DISPLAY_NAMES = {HE: "He", XAVIER: "Xavier", RANDOM: "Random", ORTHOGONAL: "Orthogonal"}

ACCURACY = "final_test_accuracy"
CLAIM_THRESHOLD = 0.97  # the accuracy that "converges" refers to in the claims

HOLDS, DOES_NOT_HOLD, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
A_BETTER, B_BETTER, NO_DIFFERENCE = "a_better", "b_better", "no_difference"

# Paired differences that agree to within this many float64 ulps of the inputs count as
# equal. The reason is that a - b rounds differently for different a and b, so equal
# accuracy gains such as 0.9712 - 0.9512 and 0.9812 - 0.9612 differ in the last bits.
_ROUNDING_ULPS = 8


# ---------------------------------------------------------------------------------------
# Confidence intervals and multiple-comparison correction
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CI:
    """A mean with its two-sided confidence interval over n finite values."""

    mean: float
    low: float
    high: float
    n: int


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}. Pass e.g. 0.95 for a 95% interval.")


def _as_float_array(values: Iterable[float]) -> np.ndarray:
    # Nullable pandas dtypes (Float64, Int64) hold pd.NA, which np.asarray cannot cast to float.
    if isinstance(values, (pd.Series, pd.Index)):
        return values.to_numpy(dtype=float, na_value=np.nan)
    return np.asarray(values, dtype=float).ravel()


def mean_ci(values: Iterable[float], confidence: float = 0.95) -> CI:
    """Compute the mean and Student t confidence interval of the finite values.

    The interval is mean ± t_{(1+confidence)/2, n-1} · s / sqrt(n), where s is the sample
    standard deviation (ddof=1) and n counts the finite values only: NaN and ±inf are
    dropped. One value gives its mean with low = high = NaN, because one seed gives no
    spread. No finite values give NaN everywhere and n = 0.
    """
    _check_confidence(confidence)
    array = _as_float_array(values)
    finite = array[np.isfinite(array)]
    n = int(finite.size)
    if n == 0:
        return CI(math.nan, math.nan, math.nan, 0)

    mean = float(finite.mean())
    if n == 1:
        return CI(mean, math.nan, math.nan, 1)

    standard_error = float(finite.std(ddof=1)) / math.sqrt(n)
    half_width = float(stats.t.ppf((1.0 + confidence) / 2.0, n - 1)) * standard_error
    return CI(mean, mean - half_width, mean + half_width, n)


def holm(p_values: Iterable[float]) -> np.ndarray:
    """Adjust p-values for multiple comparisons with the Holm-Bonferroni step-down method.

    With the m finite p-values sorted ascending, p_(1) <= ... <= p_(m), the adjusted value
    of p_(i) is min(1, max_{j <= i} (m - j + 1) · p_(j)). The running maximum keeps the
    adjusted values in the order of the raw ones. NaN entries stay NaN and do not count in
    m. Raises ValueError for a finite p-value outside [0, 1] or an infinite one.
    """
    p = _as_float_array(p_values)
    finite = ~np.isnan(p)
    invalid = finite & ~((p >= 0.0) & (p <= 1.0))
    if invalid.any():
        raise ValueError(f"p-values must be in [0, 1] or NaN, got {p[invalid].tolist()}. Check the test that produced them.")

    adjusted = np.full_like(p, np.nan)
    index = np.flatnonzero(finite)
    m = index.size
    if m == 0:
        return adjusted

    order = index[np.argsort(p[index], kind="stable")]
    multipliers = np.arange(m, 0, -1, dtype=float)
    stepped = np.maximum.accumulate(multipliers * p[order])
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


# ---------------------------------------------------------------------------------------
# Per-run summary
# ---------------------------------------------------------------------------------------


def threshold_label(threshold: float) -> str:
    """Return the column suffix for an accuracy threshold: 0.9 -> "90", 0.975 -> "97_5"."""
    percent = round(100.0 * threshold, 6)
    if percent.is_integer():
        return str(int(percent))
    return format(percent, "g").replace(".", "_")


def _require_columns(table: pd.DataFrame, columns: Iterable[str], table_name: str, fix: str = "") -> None:
    missing = [column for column in columns if column not in table.columns]
    if missing:
        message = f"{table_name} is missing column(s) {missing}; available columns: {list(table.columns)}."
        raise ValueError(f"{message} {fix}".strip())


def _check_thresholds(thresholds: Sequence[float]) -> list[str]:
    labels = []
    for threshold in thresholds:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"accuracy threshold {threshold!r} is not in (0, 1]. Give thresholds as fractions, e.g. 0.97.")
        labels.append(threshold_label(threshold))
    if len(set(labels)) != len(labels):
        raise ValueError(f"thresholds {list(thresholds)} give duplicate column names {labels}. Drop the duplicates.")
    return labels


def _summarize_run(run: pd.DataFrame, thresholds: Sequence[float], labels: Sequence[str]) -> dict:
    """Summarize one run whose rows are sorted by epoch."""
    # epochs are fractional in a test curve evaluated between epoch ends
    epochs = run["epoch"].to_numpy(dtype=float)
    steps = run["step"].to_numpy(dtype=int)
    accuracy = _as_float_array(run["test_accuracy"])
    train_loss = _as_float_array(run["train_loss"])
    trained_accuracy = accuracy[(epochs >= 1) & np.isfinite(accuracy)]
    diverged_steps = pd.to_numeric(run["diverged_step"], errors="coerce").dropna()

    row = {
        "final_epoch": float(epochs[-1]),
        "final_step": int(steps[-1]),
        "final_test_accuracy": float(accuracy[-1]),
        "best_test_accuracy": float(trained_accuracy.max()) if trained_accuracy.size else math.nan,
        "final_train_loss": float(train_loss[-1]),
        "diverged": bool(run["diverged"].fillna(False).astype(bool).any()),
        "diverged_step": float(diverged_steps.iloc[0]) if len(diverged_steps) else math.nan,
    }

    for threshold, label in zip(thresholds, labels):
        # NaN (a diverged evaluation) compares False, so it never counts as reaching.
        hits = np.flatnonzero(accuracy >= threshold)
        reached = hits.size > 0
        row[f"steps_to_{label}"] = float(steps[hits[0]]) if reached else math.nan
        row[f"epochs_to_{label}"] = float(epochs[hits[0]]) if reached else math.nan
        row[f"reached_{label}"] = reached
    return row


def per_model_summary(
    metrics: pd.DataFrame,
    group_cols: Sequence[str] = ("init",),
    thresholds: Sequence[float] = (0.90, 0.97),
) -> pd.DataFrame:
    """Reduce a metrics table to one row per run, a run being one (group_cols..., seed).

    Columns, after group_cols and seed:

    - final_epoch, final_step: the last evaluation row of the run.
    - final_test_accuracy, final_train_loss: values at the last epoch, NaN if the run diverged.
    - best_test_accuracy: the maximum test accuracy over epochs >= 1, skipping NaN.
    - diverged: whether any row of the run is marked diverged.
    - diverged_step: the first recorded divergence step, NaN if none.
    - steps_to_T, epochs_to_T, reached_T for each threshold T (0.97 -> "97"): the step and
      epoch of the first evaluation with test_accuracy >= T. Epoch 0 counts, so a run that
      starts at or above T gets 0. A run that never reaches T gets NaN and reached_T False.

    Step and epoch columns are float so that NaN can mark "not reached". Columns of metrics
    that are not in group_cols are dropped. Raises ValueError when a column is missing,
    when test_accuracy is not a fraction in [0, 1], or when two rows share
    (group_cols..., seed, epoch), which means that a column distinguishing the runs (such
    as lr) is missing from group_cols.
    """
    group_cols = list(group_cols)
    if "seed" in group_cols:
        raise ValueError(f"group_cols {group_cols} contains 'seed'. Leave it out, because every run is keyed by seed already.")
    _require_columns(metrics, [*group_cols, *METRICS_COLUMNS], "metrics")
    labels = _check_thresholds(thresholds)

    largest_accuracy = pd.to_numeric(metrics["test_accuracy"], errors="coerce").max()
    if largest_accuracy > 1.0:
        raise ValueError(
            f"test_accuracy must be a fraction in [0, 1], but its maximum is {largest_accuracy}; "
            "divide percentages by 100."
        )

    keys = [*group_cols, "seed"]
    duplicated = metrics.duplicated([*keys, "epoch"], keep=False)
    if duplicated.any():
        example = metrics.loc[duplicated, [*keys, "epoch"]].iloc[0].to_dict()
        raise ValueError(
            f"metrics has {int(duplicated.sum())} rows that share {keys + ['epoch']} with another row, "
            f"e.g. {example}. Add the column that distinguishes those runs (such as lr) to group_cols, "
            "or filter metrics to one configuration."
        )

    rows = []
    ordered = metrics.sort_values([*keys, "epoch"], kind="stable")
    for key, run in ordered.groupby(keys, sort=True, dropna=False):
        rows.append({**dict(zip(keys, key)), **_summarize_run(run, thresholds, labels)})

    columns = [*keys, "final_epoch", "final_step", ACCURACY, "best_test_accuracy", "final_train_loss",
               "diverged", "diverged_step"]
    for label in labels:
        columns += [f"steps_to_{label}", f"epochs_to_{label}", f"reached_{label}"]
    return pd.DataFrame(rows, columns=columns)


def per_model_with_curve(
    metrics: pd.DataFrame,
    curve: pd.DataFrame,
    group_cols: Sequence[str] = ("init",),
    thresholds: Sequence[float] = (0.90, 0.97),
) -> pd.DataFrame:
    """Return per_model_summary of `metrics` with its threshold columns taken from the finer `curve`.

    The curve (test accuracy every few steps, same columns as metrics, fractional epochs)
    locates the first step that reaches each threshold more precisely than the per-epoch
    metrics. Final and best values still come from the per-epoch metrics.
    """
    per_model = per_model_summary(metrics, group_cols, thresholds)
    from_curve = per_model_summary(curve, group_cols, thresholds)
    labels = [threshold_label(t) for t in thresholds]
    threshold_columns = [f"{kind}_{label}" for label in labels for kind in ("steps_to", "epochs_to", "reached")]
    keys = [*group_cols, "seed"]
    merged = per_model.drop(columns=threshold_columns).merge(from_curve[[*keys, *threshold_columns]], on=keys, how="left")
    return merged[per_model.columns]


# ---------------------------------------------------------------------------------------
# Group summaries
# ---------------------------------------------------------------------------------------


def _default_summary_metrics(per_model: pd.DataFrame) -> list[str]:
    fixed = [ACCURACY, "best_test_accuracy", "final_train_loss"]
    thresholds = [c for c in per_model.columns if c.startswith(("steps_to_", "epochs_to_"))]
    return [c for c in fixed if c in per_model.columns] + thresholds


def summarize(
    per_model: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    group_cols: Sequence[str] = ("init",),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Compute the mean and t-interval of each metric per group, as a tidy table.

    Returns one row per (group_cols..., metric) with columns mean, ci_low, ci_high (see
    mean_ci), n (the runs with a finite value), n_runs (all runs in the group) and
    n_diverged (runs in the group that diverged). metrics=None summarizes
    final_test_accuracy, best_test_accuracy, final_train_loss and every steps_to_* and
    epochs_to_* column present.

    NOTE: steps_to_T and epochs_to_T average only the runs that reached T, so a group
    where few runs reached it looks faster than it is. Read n against n_runs there.
    """
    _check_confidence(confidence)
    group_cols = list(group_cols)
    metrics = _default_summary_metrics(per_model) if metrics is None else list(metrics)
    _require_columns(per_model, [*group_cols, "diverged"], "per_model")
    _require_columns(per_model, metrics, "per_model", "Pass metric names from the available columns.")

    rows = []
    for key, group in per_model.groupby(group_cols, sort=True, dropna=False):
        group_values = dict(zip(group_cols, key))
        n_diverged = int(group["diverged"].fillna(False).astype(bool).sum())
        for metric in metrics:
            ci = mean_ci(group[metric], confidence)
            rows.append({
                **group_values,
                "metric": metric,
                "mean": ci.mean,
                "ci_low": ci.low,
                "ci_high": ci.high,
                "n": ci.n,
                "n_runs": len(group),
                "n_diverged": n_diverged,
            })
    columns = [*group_cols, "metric", "mean", "ci_low", "ci_high", "n", "n_runs", "n_diverged"]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------------------------
# Paired comparisons
# ---------------------------------------------------------------------------------------


def _values_by_pair(per_model: pd.DataFrame, metric: str, name: str, group_col: str, pair_col: str) -> pd.Series:
    rows = per_model[per_model[group_col] == name]
    if rows.empty:
        available = sorted(map(str, per_model[group_col].dropna().unique()))
        raise ValueError(f"{group_col} {name!r} not found in per_model; available: {available}.")
    if rows[pair_col].duplicated().any():
        raise ValueError(
            f"per_model has several rows with {group_col}={name!r} and the same {pair_col}; "
            "filter it to one configuration (e.g. one lr) before pairing."
        )
    return pd.Series(_as_float_array(rows[metric]), index=rows[pair_col].to_numpy(), name=name)


def _paired_arrays(per_model: pd.DataFrame, metric: str, a: str, b: str,
                   group_col: str, pair_col: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the values of a and b on the pairs where both are present and finite."""
    _require_columns(per_model, [group_col, pair_col], "per_model")
    _require_columns(per_model, [metric], "per_model", "Pass a metric name from the available columns.")
    a_values = _values_by_pair(per_model, metric, a, group_col, pair_col)
    b_values = _values_by_pair(per_model, metric, b, group_col, pair_col)
    joined = pd.concat([a_values.rename("a"), b_values.rename("b")], axis=1, join="inner")
    joined = joined[np.isfinite(joined["a"]) & np.isfinite(joined["b"])]
    return joined["a"].to_numpy(), joined["b"].to_numpy()


def _paired_t_test(a_values: np.ndarray, b_values: np.ndarray) -> tuple[float, float]:
    """Return (t, two-sided p) of the paired t-test of a against b.

    Fewer than 2 pairs give (NaN, NaN). Differences that are all equal have zero variance,
    where scipy.stats.ttest_rel (1.17) returns NaN or a warning. This function decides those
    cases itself: all differences zero give (0.0, 1.0), and a constant non-zero difference
    gives (±inf, 0.0), because every seed moved by the same amount.
    """
    if a_values.size < 2:
        return math.nan, math.nan

    differences = a_values - b_values
    magnitude = max(float(np.max(np.abs(a_values))), float(np.max(np.abs(b_values))))
    rounding = _ROUNDING_ULPS * np.finfo(float).eps * magnitude
    if np.ptp(differences) <= rounding:
        mean_difference = float(differences.mean())
        if abs(mean_difference) <= rounding:
            return 0.0, 1.0
        return math.copysign(math.inf, mean_difference), 0.0

    result = stats.ttest_rel(a_values, b_values)
    return float(result.statistic), float(result.pvalue)


def paired_differences(
    per_model: pd.DataFrame,
    metric: str,
    baseline: str = HE,
    group_col: str = "init",
    pair_col: str = "seed",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Compare every group with a baseline group by a paired t-test over seeds.

    Returns one row per non-baseline group, in order of first appearance, with columns
    group_col, baseline, metric, mean_diff (group minus baseline), ci_low and ci_high (the
    t-interval of the mean difference), n_pairs, t_statistic and p_value (two-sided, from
    scipy.stats.ttest_rel), p_holm (Holm over the rows of this table) and significant
    (p_holm < 1 - confidence). Only seeds present with a finite value in both groups are
    paired. Fewer than 2 pairs give NaN statistics and significant False. Differences
    with zero variance give p = 0 when they are non-zero and p = 1 when they are zero.
    """
    _check_confidence(confidence)
    _require_columns(per_model, [group_col, pair_col], "per_model")
    _require_columns(per_model, [metric], "per_model", "Pass a metric name from the available columns.")
    groups = [name for name in pd.unique(per_model[group_col].dropna())]
    if baseline not in groups:
        raise ValueError(f"baseline {baseline!r} not found in column {group_col!r}; available: {sorted(map(str, groups))}.")

    rows = []
    for name in groups:
        if name == baseline:
            continue
        a_values, b_values = _paired_arrays(per_model, metric, name, baseline, group_col, pair_col)
        ci = mean_ci(a_values - b_values, confidence)
        t_statistic, p_value = _paired_t_test(a_values, b_values)
        rows.append({
            group_col: name,
            "baseline": baseline,
            "metric": metric,
            "mean_diff": ci.mean,
            "ci_low": ci.low,
            "ci_high": ci.high,
            "n_pairs": ci.n,
            "t_statistic": t_statistic,
            "p_value": p_value,
        })

    columns = [group_col, "baseline", "metric", "mean_diff", "ci_low", "ci_high", "n_pairs",
               "t_statistic", "p_value", "p_holm", "significant"]
    table = pd.DataFrame(rows, columns=columns)
    table["p_holm"] = holm(table["p_value"])
    # NaN < alpha is False, so comparisons without a test are never significant.
    table["significant"] = table["p_holm"] < 1.0 - confidence
    return table


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of group a with group b on one metric.

    mean_diff is the mean over seeds of a minus b, with its t-interval [ci_low, ci_high].
    p_holm is p_value after Holm correction over the family the comparison belongs to,
    and equals p_value for a single comparison. direction names the better group, or
    "no_difference" when the difference is not significant.
    """

    metric: str
    a: str
    b: str
    higher_is_better: bool
    mean_diff: float
    ci_low: float
    ci_high: float
    n_pairs: int
    t_statistic: float
    p_value: float
    p_holm: float
    direction: str


class ComparisonRequest(NamedTuple):
    """One comparison to run in compare_family: a against b on metric."""

    metric: str
    a: str
    b: str
    higher_is_better: bool = True


def _direction(mean_diff: float, significant: bool, higher_is_better: bool) -> str:
    if not significant:
        return NO_DIFFERENCE
    a_is_higher = mean_diff > 0
    return A_BETTER if a_is_higher == higher_is_better else B_BETTER


def _paired_comparison(per_model: pd.DataFrame, request: ComparisonRequest, group_col: str,
                       pair_col: str, confidence: float) -> tuple[CI, float, float]:
    a_values, b_values = _paired_arrays(per_model, request.metric, request.a, request.b, group_col, pair_col)
    ci = mean_ci(a_values - b_values, confidence)
    t_statistic, p_value = _paired_t_test(a_values, b_values)
    return ci, t_statistic, p_value


def compare(
    per_model: pd.DataFrame,
    metric: str,
    a: str,
    b: str,
    higher_is_better: bool = True,
    group_col: str = "init",
    pair_col: str = "seed",
    confidence: float = 0.95,
) -> Comparison:
    """Compare group a with group b on metric by a paired t-test over seeds.

    direction is "a_better" or "b_better" when the t-interval of the mean difference
    excludes 0, and "no_difference" otherwise, including with fewer than 2 pairs.
    """
    _check_confidence(confidence)
    request = ComparisonRequest(metric, a, b, higher_is_better)
    ci, t_statistic, p_value = _paired_comparison(per_model, request, group_col, pair_col, confidence)
    excludes_zero = ci.low > 0 or ci.high < 0  # False for a NaN interval
    return Comparison(
        metric, a, b, higher_is_better, ci.mean, ci.low, ci.high, ci.n, t_statistic,
        p_value, p_value, _direction(ci.mean, excludes_zero, higher_is_better),
    )


def compare_family(
    per_model: pd.DataFrame,
    requests: Sequence[ComparisonRequest],
    group_col: str = "init",
    pair_col: str = "seed",
    confidence: float = 0.95,
) -> list[Comparison]:
    """Run several paired comparisons and correct their p-values together with Holm.

    A comparison is significant when its Holm-adjusted p-value is below 1 - confidence,
    which keeps the family-wise error rate of the whole family at that level. The
    intervals in the result are the unadjusted t-intervals of each comparison.
    """
    _check_confidence(confidence)
    requests = [ComparisonRequest(*request) for request in requests]
    results = [_paired_comparison(per_model, request, group_col, pair_col, confidence) for request in requests]
    adjusted = holm([p_value for _, _, p_value in results])

    comparisons = []
    for request, (ci, t_statistic, p_value), p_holm in zip(requests, results, adjusted):
        significant = bool(p_holm < 1.0 - confidence)
        comparisons.append(Comparison(
            request.metric, request.a, request.b, request.higher_is_better, ci.mean, ci.low,
            ci.high, ci.n, t_statistic, p_value, float(p_holm),
            _direction(ci.mean, significant, request.higher_is_better),
        ))
    return comparisons


# ---------------------------------------------------------------------------------------
# Verdicts on the claims
# ---------------------------------------------------------------------------------------


def verdict_all_better(comparisons: Sequence[Comparison]) -> str:
    """Decide a claim that group a is better than group b in every one of the comparisons.

    Each comparison must put the group the claim favours as a. The claim holds when every
    comparison is "a_better", does not hold when any is "b_better", and is inconclusive
    otherwise, including when there are no comparisons.
    """
    directions = [comparison.direction for comparison in comparisons]
    if any(direction == B_BETTER for direction in directions):
        return DOES_NOT_HOLD
    if directions and all(direction == A_BETTER for direction in directions):
        return HOLDS
    return INCONCLUSIVE


def verdict_stable_and_slower(n_diverged: int, faster_vs_slower: Comparison) -> str:
    """Decide a claim that one init never diverges but needs more steps than a reference.

    faster_vs_slower puts the reference (expected faster) as a and the claimed slower init
    as b. Any divergence of the claimed init, or that init being significantly faster,
    means the claim does not hold. Both no divergence and a significant "a_better" mean it
    holds. Anything else is inconclusive.
    """
    if n_diverged > 0 or faster_vs_slower.direction == B_BETTER:
        return DOES_NOT_HOLD
    if faster_vs_slower.direction == A_BETTER:
        return HOLDS
    return INCONCLUSIVE


def censor_steps(per_model: pd.DataFrame, threshold: float = CLAIM_THRESHOLD) -> pd.Series:
    """Return steps_to_T with runs that never reached T replaced by a censored step count.

    A run that did not reach T counts as reaching it one step after its last step
    (final_step + 1), the earliest it could have reached T with more training. A diverged
    run counts as never reaching T, even if it reached T before diverging. It is censored at
    the largest final_step in per_model + 1 instead of its own, because its step counter
    stopped at divergence and would otherwise make it look fast. The largest final_step is
    the planned training length when all runs share one schedule.

    NOTE: censored values understate how many steps those runs would need, so a paired
    test on them understates differences against a run that does reach T.
    """
    label = threshold_label(threshold)
    steps_col, reached_col = f"steps_to_{label}", f"reached_{label}"
    _require_columns(
        per_model, [steps_col, reached_col, "final_step", "diverged"], "per_model",
        f"Build it with per_model_summary(..., thresholds=(..., {threshold})).",
    )
    diverged = per_model["diverged"].fillna(False).astype(bool).to_numpy()
    reached = per_model[reached_col].fillna(False).astype(bool).to_numpy() & ~diverged
    final_step = per_model["final_step"].to_numpy(dtype=float)
    longest = float(np.nanmax(final_step)) if final_step.size else math.nan

    censored = np.where(diverged, longest + 1.0, final_step + 1.0)
    values = np.where(reached, per_model[steps_col].to_numpy(dtype=float), censored)
    return pd.Series(values, index=per_model.index, name=f"{steps_col}_censored")


def _display(name: str) -> str:
    return DISPLAY_NAMES.get(name, name)


def _signed(value: float, spec: str) -> str:
    if not math.isfinite(value):
        return "n/a"
    return format(value, "+" + spec).replace("-", "\u2212")


def _format_comparison(comparison: Comparison) -> str:
    """Format a comparison as "He − Xavier = +0.12 pp [−0.05, +0.29] (p_Holm = 0.21, 5 seeds)"."""
    if comparison.metric.endswith("accuracy"):
        scale, unit, spec = 100.0, "pp", ".2f"  # accuracy differences in percentage points
    elif comparison.metric.startswith("steps_to_"):
        scale, unit, spec = 1.0, "steps", ",.0f"
    else:
        scale, unit, spec = 1.0, comparison.metric, ".4g"
    difference = _signed(scale * comparison.mean_diff, spec)
    low = _signed(scale * comparison.ci_low, spec)
    high = _signed(scale * comparison.ci_high, spec)
    p_text = "n/a" if math.isnan(comparison.p_holm) else format(comparison.p_holm, ".2g")
    return (f"{_display(comparison.a)} \u2212 {_display(comparison.b)} = {difference} {unit} "
            f"[{low}, {high}] (p_Holm = {p_text}, {comparison.n_pairs} seeds)")


def _claim_row(claim: str, measured_as: str, value: str, verdict: str) -> dict:
    return {"claim": claim, "measured_as": measured_as, "value": value, "verdict": verdict}


def _missing_inits(per_model: pd.DataFrame, required: Sequence[str], other_than: str | None = None) -> str | None:
    """Return why a claim cannot be measured on per_model, or None when it can."""
    present = set(per_model["init"].dropna())
    missing = [name for name in required if name not in present]
    if missing:
        return f"init {', '.join(repr(name) for name in missing)} absent from per_model"
    if other_than is not None and not present - {other_than}:
        return f"no init other than {other_than!r} in per_model"
    return None


def _inits_other_than(per_model: pd.DataFrame, name: str) -> list[str]:
    return [other for other in pd.unique(per_model["init"].dropna()) if other != name]


def _family_claim(per_model: pd.DataFrame, claim: str, measured_as: str,
                  requests: Sequence[ComparisonRequest], confidence: float) -> dict:
    """Build a claim row from requests that each put the init the claim favours as a."""
    comparisons = compare_family(per_model, requests, confidence=confidence)
    value = "; ".join(_format_comparison(comparison) for comparison in comparisons)
    return _claim_row(claim, measured_as, value, verdict_all_better(comparisons))


def _claim_he_most_accurate(per_model: pd.DataFrame, confidence: float) -> dict:
    claim = "He initialization gives the highest test accuracy"
    measured_as = f"{ACCURACY}: He minus each other init, paired t-test over seeds, Holm over those comparisons"
    reason = _missing_inits(per_model, [HE], other_than=HE)
    if reason:
        return _claim_row(claim, f"{measured_as}; {reason}", "not measured", INCONCLUSIVE)

    requests = [ComparisonRequest(ACCURACY, HE, other, True) for other in _inits_other_than(per_model, HE)]
    return _family_claim(per_model, claim, measured_as, requests, confidence)


def _claim_he_fastest(per_model: pd.DataFrame, steps_col: str, confidence: float) -> dict:
    claim = "He initialization converges fastest"
    measured_as = (f"{steps_col} (lower is better; a run that never reached 97% counts as its final_step + 1, "
                   "a diverged run as the longest run's final_step + 1): He minus each other init, "
                   "paired t-test over seeds, Holm over those comparisons")
    reason = _missing_inits(per_model, [HE], other_than=HE)
    if reason:
        return _claim_row(claim, f"{measured_as}; {reason}", "not measured", INCONCLUSIVE)

    requests = [ComparisonRequest(steps_col, HE, other, False) for other in _inits_other_than(per_model, HE)]
    return _family_claim(per_model, claim, measured_as, requests, confidence)


def _claim_random_worst(per_model: pd.DataFrame, steps_col: str, confidence: float) -> dict:
    claim = "Random converges slowest and reaches the lowest accuracy"
    measured_as = (f"{ACCURACY} and {steps_col} (censored as in the He speed claim): each other init minus "
                   "Random, paired t-test over seeds, Holm over both metrics and all inits")
    reason = _missing_inits(per_model, [RANDOM], other_than=RANDOM)
    if reason:
        return _claim_row(claim, f"{measured_as}; {reason}", "not measured", INCONCLUSIVE)

    # Each other init is a, so "holds" means that every other init beats Random on both metrics.
    others = _inits_other_than(per_model, RANDOM)
    requests = [ComparisonRequest(ACCURACY, other, RANDOM, True) for other in others]
    requests += [ComparisonRequest(steps_col, other, RANDOM, False) for other in others]
    return _family_claim(per_model, claim, measured_as, requests, confidence)


def _claim_xavier_between(per_model: pd.DataFrame, confidence: float) -> dict:
    claim = "Xavier is more stable and accurate than Random but below He"
    measured_as = (f"{ACCURACY}: Xavier minus Random and He minus Xavier, paired t-test over seeds, Holm over "
                   "the two; stability is not tested apart from accuracy")
    reason = _missing_inits(per_model, [XAVIER, RANDOM, HE])
    if reason:
        return _claim_row(claim, f"{measured_as}; {reason}", "not measured", INCONCLUSIVE)

    requests = [ComparisonRequest(ACCURACY, XAVIER, RANDOM, True), ComparisonRequest(ACCURACY, HE, XAVIER, True)]
    return _family_claim(per_model, claim, measured_as, requests, confidence)


def _claim_orthogonal_stable_slower(per_model: pd.DataFrame, steps_col: str, confidence: float) -> dict:
    claim = "Orthogonal trains stably but somewhat slower than He"
    measured_as = (f"diverged Orthogonal runs, and {steps_col} (censored as in the He speed claim): "
                   "He minus Orthogonal, paired t-test over seeds")
    reason = _missing_inits(per_model, [ORTHOGONAL, HE])
    if reason:
        return _claim_row(claim, f"{measured_as}; {reason}", "not measured", INCONCLUSIVE)

    orthogonal_runs = per_model[per_model["init"] == ORTHOGONAL]
    n_diverged = int(orthogonal_runs["diverged"].fillna(False).astype(bool).sum())
    (comparison,) = compare_family(per_model, [ComparisonRequest(steps_col, HE, ORTHOGONAL, False)],
                                   confidence=confidence)
    value = f"Orthogonal diverged in {n_diverged} of {len(orthogonal_runs)} runs; {_format_comparison(comparison)}"
    return _claim_row(claim, measured_as, value, verdict_stable_and_slower(n_diverged, comparison))


def claims_table(per_model: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Test the five claims about He, Xavier, Random and Orthogonal init on a per-run table.

    per_model comes from per_model_summary with group_cols=("init",) and 0.97 among the
    thresholds, for one training configuration. Inits are matched by the names "he",
    "xavier", "random" and "orthogonal". "Every other init" in claims 1 to 3 means every
    other init present, including names beyond those four. Returns columns claim,
    measured_as, value (differences with t-intervals, accuracy in percentage points) and
    verdict ("holds", "does not hold" or "inconclusive"). A claim that needs an absent
    init gets value "not measured" and verdict "inconclusive".

    Significance is decided on Holm-adjusted p-values below 1 - confidence, corrected
    within each claim. Convergence speed is steps_to_97 censored as in censor_steps.
    NOTE: a diverged run has NaN final accuracy, so it drops out of the accuracy
    comparisons with its seed. Only the Orthogonal claim looks at divergence directly.
    """
    _check_confidence(confidence)
    label = threshold_label(CLAIM_THRESHOLD)
    _require_columns(
        per_model, ["init", "seed", ACCURACY, f"steps_to_{label}", f"reached_{label}", "final_step", "diverged"],
        "per_model", f"Build it with per_model_summary(metrics, thresholds=(..., {CLAIM_THRESHOLD})).",
    )
    table = per_model.copy()
    censored = censor_steps(per_model, CLAIM_THRESHOLD)
    table[censored.name] = censored

    rows = [
        _claim_he_most_accurate(table, confidence),
        _claim_he_fastest(table, censored.name, confidence),
        _claim_random_worst(table, censored.name, confidence),
        _claim_xavier_between(table, confidence),
        _claim_orthogonal_stable_slower(table, censored.name, confidence),
    ]
    return pd.DataFrame(rows, columns=["claim", "measured_as", "value", "verdict"])
