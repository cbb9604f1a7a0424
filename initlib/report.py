"""Display tables for the summary: mean [t-interval] cells, Markdown rendering, CSV + Markdown files.

The statistics come from initlib.stats; this module only formats them. Accuracies are
shown in percent with two decimals, losses with four, steps as whole numbers.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from initlib.paths import resolve
from initlib.plots import label_of
from initlib.results import atomic_write_text, write_csv

# metric column -> (display header, scale, decimals)
DISPLAY = {
    "final_test_accuracy": ("final test accuracy %", 100.0, 2),
    "best_test_accuracy": ("best test accuracy %", 100.0, 2),
    "final_train_loss": ("final training loss", 1.0, 4),
    "steps_to_90": ("steps to 90%", 1.0, 0),
    "steps_to_97": ("steps to 97%", 1.0, 0),
    "epochs_to_90": ("epochs to 90%", 1.0, 1),
    "epochs_to_97": ("epochs to 97%", 1.0, 1),
}


def format_interval(mean: float, low: float, high: float, scale: float = 1.0, decimals: int = 2) -> str:
    """Return "mean [low, high]" scaled and rounded; "-" when the mean is NaN, no interval for one value."""
    if math.isnan(mean):
        return "-"
    text = f"{mean * scale:.{decimals}f}"
    if not (math.isnan(low) or math.isnan(high)):
        text += f" [{low * scale:.{decimals}f}, {high * scale:.{decimals}f}]"
    return text


def interval_table(summary: pd.DataFrame, metrics: list[str], order: list[str], group: str = "init") -> pd.DataFrame:
    """Pivot a tidy stats.summarize table into one display row per group, one column per metric.

    Columns "seeds" (runs) and "diverged" come first; metrics averaged over fewer runs than
    the group has (a threshold some runs never reached) show "(n of N)".
    """
    rows = []
    for key in order:
        part = summary[summary[group] == key].set_index("metric")
        if part.empty:
            continue
        first = part.iloc[0]
        row = {group: label_of(key), "seeds": int(first["n_runs"]), "diverged": int(first["n_diverged"])}
        for metric in metrics:
            header, scale, decimals = DISPLAY.get(metric, (metric, 1.0, 4))
            stat = part.loc[metric]
            cell = format_interval(stat["mean"], stat["ci_low"], stat["ci_high"], scale, decimals)
            if 0 < stat["n"] < stat["n_runs"]:
                cell += f" ({int(stat['n'])} of {int(stat['n_runs'])})"
            row[header] = cell
        rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(frame: pd.DataFrame) -> str:
    """Render a DataFrame as a GitHub Markdown table (text cells as they are)."""
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    lines = [header, rule]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(str(value) for value in row) + " |")
    return "\n".join(lines) + "\n"


def write_tables(tidy: pd.DataFrame, display: pd.DataFrame, folder: str | Path, stem: str) -> list[Path]:
    """Write `tidy` as <stem>.csv and `display` as <stem>.md in `folder`; return both paths."""
    folder = resolve(folder)
    return [write_csv(tidy, folder / f"{stem}.csv"), atomic_write_text(folder / f"{stem}.md", to_markdown(display))]


def paired_table(paired: pd.DataFrame) -> pd.DataFrame:
    """Format a stats.paired_differences table: one row per init and metric, differences with t-intervals.

    Accuracy differences are in percentage points; step differences in optimizer steps.
    """
    rows = []
    for row in paired.itertuples(index=False):
        is_accuracy = "accuracy" in row.metric
        scale, decimals, unit = (100.0, 2, "pp") if is_accuracy else (1.0, 0, "steps")
        rows.append({
            "comparison": f"{label_of(row.init)} − {label_of(row.baseline)}",
            "metric": row.metric,
            "difference [95% CI]": format_interval(row.mean_diff, row.ci_low, row.ci_high, scale, decimals) + f" {unit}",
            "seeds": int(row.n_pairs),
            "p": f"{row.p_value:.3g}",
            "p (Holm)": f"{row.p_holm:.3g}",
            "significant": "yes" if row.significant else "no",
        })
    return pd.DataFrame(rows)
