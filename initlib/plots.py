"""Figures shared by the notebooks: per-epoch curves with confidence bands, saved as PNG and SVG.

Bands are Student t-intervals over seeds (initlib.stats.mean_ci). A model that diverged
drops out of the mean from that epoch on, and the legend counts it, so it is never hidden.
Saved files carry no timestamps, so rerunning a notebook on the same results rewrites
byte-identical figures.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from initlib.paths import resolve
from initlib.schemes import SCHEMES
from initlib.stats import mean_ci

# A fixed hash salt makes matplotlib's SVG element ids the same on every run.
plt.rcParams["svg.hashsalt"] = "initlib"


def label_of(init: str) -> str:
    """Return a scheme's display label ("He" for "he"), or the name itself for unregistered ones."""
    return SCHEMES[init].label if init in SCHEMES else init


def curve_frame(metrics: pd.DataFrame, value: str, group: str = "init", confidence: float = 0.95) -> pd.DataFrame:
    """Return per (group, epoch) the mean of `value` over seeds, its t-interval and the diverged count."""
    rows = []
    for (key, epoch), part in metrics.groupby([group, "epoch"], sort=True):
        ci = mean_ci(part[value].to_numpy(), confidence)
        rows.append({group: key, "epoch": epoch, "mean": ci.mean, "low": ci.low, "high": ci.high,
                     "n": ci.n, "diverged": int(part["diverged"].sum())})
    return pd.DataFrame(rows)


def plot_curves(metrics: pd.DataFrame, value: str, ylabel: str, group: str = "init", order: list[str] | None = None,
                ax: plt.Axes | None = None, confidence: float = 0.95, start_epoch: int = 0) -> plt.Axes:
    """Draw `value` per epoch, one line per `group` with a t-interval band over seeds."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2))
    frame = curve_frame(metrics[metrics["epoch"] >= start_epoch], value, group, confidence)
    order = order or sorted(frame[group].unique())
    palette = dict(zip(order, sns.color_palette("colorblind", len(order))))
    for key in order:
        part = frame[frame[group] == key]
        if part.empty:
            continue
        seeds = int(metrics.loc[metrics[group] == key, "seed"].nunique())
        diverged = int(part["diverged"].max())
        label = f"{label_of(key)} (n={seeds}" + (f", {diverged} diverged)" if diverged else ")")
        ax.plot(part["epoch"], part["mean"], marker="o", markersize=3, color=palette[key], label=label)
        ax.fill_between(part["epoch"], part["low"], part["high"], color=palette[key], alpha=0.2, linewidth=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    return ax


def save_figure(fig: plt.Figure, stem: str, folder: str | Path = "figures") -> list[Path]:
    """Save `fig` as <folder>/<stem>.png and .svg without timestamps; return the paths."""
    folder = resolve(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, metadata in ((".png", {"Software": None}), (".svg", {"Date": None, "Creator": None})):
        path = folder / f"{stem}{suffix}"
        tmp = folder / f".{stem}{suffix}.tmp-{id(fig)}{suffix}"
        fig.savefig(tmp, dpi=150, bbox_inches="tight", metadata=metadata)
        tmp.replace(path)
        paths.append(path)
    return paths



def plot_paired_differences(differences: pd.DataFrame, ax: plt.Axes, scale: float = 1.0, xlabel: str = "") -> plt.Axes:
    """Draw each init's paired mean difference to the baseline with its t-interval (a forest plot).

    `differences` is a stats.paired_differences table for one metric; `scale` converts units
    (100 for accuracy fractions to percentage points).
    """
    rows = differences.reset_index(drop=True)
    positions = range(len(rows))
    errors = [(rows["mean_diff"] - rows["ci_low"]) * scale, (rows["ci_high"] - rows["mean_diff"]) * scale]
    ax.errorbar(rows["mean_diff"] * scale, positions, xerr=errors, fmt="o", color="black", capsize=4)
    ax.axvline(0.0, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(list(positions), [f"{label_of(init)} − {label_of(base)}" for init, base in zip(rows["init"], rows["baseline"])])
    ax.set_xlabel(xlabel)
    ax.invert_yaxis()
    return ax


def plot_layer_series(layers: pd.DataFrame, value: str, ylabel: str, order: list[str], log: bool = True) -> plt.Figure:
    """Draw `value` per layer over training (x: epoch), one panel per init, mean over seeds."""
    fig, axes = plt.subplots(1, len(order), figsize=(3.4 * len(order), 3.4), sharey=True, squeeze=False)
    mean = layers.groupby(["init", "layer", "epoch"], as_index=False)[value].mean()
    palette = sns.color_palette("viridis", mean["layer"].nunique())
    for ax, init in zip(axes[0], order):
        part = mean[mean["init"] == init]
        for color, (layer, series) in zip(palette, part.groupby("layer")):
            ax.plot(series["epoch"], series[value], color=color, label=f"layer {layer}")
        ax.set_title(label_of(init))
        ax.set_xlabel("epoch")
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(frameon=False, fontsize="small")
    return fig
