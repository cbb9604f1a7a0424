"""The depth sweep: how test accuracy and gradient flow change with depth, per activation, optimizer and init.

For each (depth, activation, optimizer) group, `run_sweep` builds one MLP of `depth` hidden
layers of `width` units per (init, seed). It measures each model's signal propagation at
init on a fixed probe batch, the first PROBE_SIZE training images. Then it trains the whole
group in one `train_stacked` call. Every model of the sweep trains on the same batch order, so
inits and depths are compared on paired data. A model whose loss or gradient becomes
non-finite stays in every table, marked diverged, with NaN losses and accuracy.

Files under `results_dir`:
  groups/<depth>-<activation>-<optimizer>.csv         one group's metrics
  groups/<depth>-<activation>-<optimizer>.signal.csv  its signal-propagation tables at init
  groups/<depth>-<activation>-<optimizer>.json        its settings and wall seconds; written
                                                      last, so it marks the group complete
  metrics.csv, signal.csv        all groups, in sweep order
  summary.csv, summary.md        final test accuracy [95% t-interval] and diverged count
  manifest.json                  config, versions, git commit, wall time; written last
A rerun loads every complete group whose settings match the request instead of training it
again, so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.lines import Line2D

from initlib.data import MNIST_SHA256, MNISTTensors, ensure_mnist, load_mnist
from initlib.diagnostics import gradient_ratio, signal_propagation
from initlib.experiment import PROBE_SIZE
from initlib.models import ACTIVATIONS, build_mlp
from initlib.optim import OPTIMIZERS
from initlib.params import InvalidParameterError, to_choice, to_int, to_int_list, to_positive_float
from initlib.paths import resolve
from initlib.plots import label_of
from initlib.report import format_interval, write_tables
from initlib.results import MANIFEST_FILE, make_manifest, save_run, write_csv, write_json
from initlib.schemes import SCHEMES, get_scheme, initialize
from initlib.stacked import train_stacked
from initlib.stats import mean_ci
from initlib.train import resolve_device

DEFAULT_LR = {"sgd": 0.01, "adam": 1e-3}  # SGD has momentum 0.9 (initlib.optim)
BATCH_SIZE = 64
CHANCE_ACCURACY = 0.1  # ten balanced classes
GROUPS_DIR = "groups"
CONFIG_COLUMNS = ["depth", "activation", "optimizer", "lr", "init", "seed"]
METRICS_COLUMNS = [*CONFIG_COLUMNS, "epoch", "step", "train_loss", "test_loss", "test_accuracy", "diverged", "diverged_step"]
SUMMARY_KEYS = ["activation", "optimizer", "depth", "init"]


@dataclass(frozen=True)
class SweepConfig:
    """The validated settings of one sweep, which `run_sweep` builds from its arguments."""

    depths: tuple[int, ...]
    activations: tuple[str, ...]
    optimizers: tuple[str, ...]
    inits: tuple[str, ...]
    seeds: tuple[int, ...]
    epochs: int
    width: int = 128
    train_subset: int = 20000
    test_subset: int = 10000
    lr: dict = field(default_factory=lambda: dict(DEFAULT_LR))
    order_seed: int = 0
    batch_size: int = BATCH_SIZE

    def groups(self) -> list[tuple[int, str, str]]:
        """Return the (depth, activation, optimizer) groups in the order the sweep trains them."""
        return [(d, a, o) for d in self.depths for a in self.activations for o in self.optimizers]

    def to_dict(self) -> dict:
        """Return the settings as JSON-ready plain values."""
        values = asdict(self)
        for key in ("depths", "activations", "optimizers", "inits", "seeds"):
            values[key] = list(values[key])
        return values


def _parse_json(name: str, text: str) -> object:
    """Parse JSON `text`, as papermill's -p passes a list or dict, e.g. '["relu", "tanh"]'."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidParameterError(f"parameter {name!r} is not valid JSON ({error}): {text!r}") from None


def _to_name_list(name: str, value: object, choices: Sequence[str]) -> tuple[str, ...]:
    """Return `value` (a list of names, one name, or JSON text of a list) as a tuple of valid names."""
    if isinstance(value, str):
        value = _parse_json(name, value) if value.strip().startswith("[") else [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise InvalidParameterError(f"parameter {name!r} must be a non-empty list of names from {', '.join(choices)}; got {value!r}")
    names = tuple(to_choice(f"{name}[{i}]", item, choices) for i, item in enumerate(value))
    _check_unique(name, names)
    return names


def _check_unique(name: str, values: Sequence) -> None:
    """Raise InvalidParameterError naming the values that `values` repeats."""
    repeated = sorted({v for v in values if list(values).count(v) > 1}, key=str)
    if repeated:
        raise InvalidParameterError(f"parameter {name!r} lists {', '.join(map(repr, repeated))} more than once; list each value once")


def validate_sweep(
    depths: object, activations: object, optimizers: object, inits: object, seeds: object, epochs: object,
    width: object = 128, train_subset: object = 20000, test_subset: object = 10000,
    lr: Mapping[str, object] | None = None, order_seed: object = 0,
) -> SweepConfig:
    """Return a SweepConfig, or raise InvalidParameterError naming the bad value and what is valid."""
    depth_values = to_int_list("depths", depths, minimum=1)
    _check_unique("depths", depth_values)
    seed_values = to_int_list("seeds", seeds, minimum=0)
    _check_unique("seeds", seed_values)
    optimizer_values = _to_name_list("optimizers", optimizers, OPTIMIZERS)

    lr = dict(DEFAULT_LR) if lr is None else lr
    if isinstance(lr, str):
        lr = _parse_json("lr", lr)
    if not isinstance(lr, Mapping):
        raise InvalidParameterError(f"parameter 'lr' must be a dict such as {DEFAULT_LR}, got {lr!r}")
    unknown = sorted(set(lr) - set(OPTIMIZERS))
    if unknown:
        raise InvalidParameterError(f"parameter 'lr' has key(s) {', '.join(map(repr, unknown))}; valid optimizers: {', '.join(OPTIMIZERS)}")
    missing = [o for o in optimizer_values if o not in lr]
    if missing:
        raise InvalidParameterError(f"parameter 'lr' has no learning rate for optimizer(s) {', '.join(missing)}; got {dict(lr)!r}")

    return SweepConfig(
        depths=depth_values,
        activations=_to_name_list("activations", activations, list(ACTIVATIONS)),
        optimizers=optimizer_values,
        inits=_to_name_list("inits", inits, list(SCHEMES)),
        seeds=seed_values,
        epochs=to_int("epochs", epochs, minimum=1),
        width=to_int("width", width, minimum=1),
        train_subset=to_int("train_subset", train_subset, minimum=0),
        test_subset=to_int("test_subset", test_subset, minimum=0),
        # only the rates of the requested optimizers, so the manifest lists the rates in use
        lr={o: to_positive_float(f"lr[{o!r}]", lr[o]) for o in optimizer_values},
        order_seed=to_int("order_seed", order_seed, minimum=0),
    )


# --- One group ---------------------------------------------------------------------------


def group_key(depth: int, activation: str, optimizer: str) -> str:
    """Return the file stem of a group, e.g. "30-relu-sgd"."""
    return f"{depth}-{activation}-{optimizer}"


def group_settings(config: SweepConfig, depth: int, activation: str, optimizer: str) -> dict:
    """Return what a stored group must match to be reused: every setting that changes its numbers."""
    return {
        "depth": depth, "activation": activation, "optimizer": optimizer, "lr": config.lr[optimizer],
        "inits": list(config.inits), "seeds": list(config.seeds), "epochs": config.epochs, "width": config.width,
        "train_subset": config.train_subset, "test_subset": config.test_subset,
        "order_seed": config.order_seed, "batch_size": config.batch_size, "probe_size": PROBE_SIZE,
    }


def _group_paths(folder: Path, key: str) -> dict[str, Path]:
    return {"metrics": folder / f"{key}.csv", "signal": folder / f"{key}.signal.csv", "json": folder / f"{key}.json"}


def _read_csv(path: Path) -> pd.DataFrame:
    # pandas 3.1 (pinned) parses each float back to the exact value written, so a resumed table
    # equals a fresh one. tests/test_sweep.py checks this.
    frame = pd.read_csv(path)
    if "diverged_step" in frame:
        frame["diverged_step"] = frame["diverged_step"].astype("Int64")
    return frame


def load_group(folder: Path, key: str, settings: dict) -> tuple[pd.DataFrame, pd.DataFrame, dict] | None:
    """Return (metrics, signal, record) of a complete stored group with these settings, else None.

    A group is complete when its JSON record exists (it is written after both tables). A
    record whose settings differ is reported and the group is trained again.
    """
    paths = _group_paths(folder, key)
    if not paths["json"].is_file():
        return None
    record = json.loads(paths["json"].read_text(encoding="utf-8"))
    # a JSON round trip turns tuples into lists, as the stored record has them
    expected = json.loads(json.dumps(settings))
    if record.get("settings") != expected:
        stored = record.get("settings", {})
        changed = ", ".join(f"{k} {stored.get(k)!r} -> {v!r}" for k, v in expected.items() if stored.get(k) != v)
        print(f"group {key}: stored results have other settings ({changed}); training it again")
        return None
    if not (paths["metrics"].is_file() and paths["signal"].is_file()):
        return None
    return _read_csv(paths["metrics"]), _read_csv(paths["signal"]), record


def save_group(folder: Path, key: str, metrics: pd.DataFrame, signal: pd.DataFrame, record: dict) -> None:
    """Write a group's two tables, then its JSON record, each atomically."""
    paths = _group_paths(folder, key)
    # a stale record would mark the group complete while its tables are being replaced
    paths["json"].unlink(missing_ok=True)
    write_csv(metrics, paths["metrics"])
    write_csv(signal, paths["signal"])
    write_json(record, paths["json"])


def build_group(config: SweepConfig, depth: int, activation: str, probe_x: torch.Tensor) -> tuple[list[torch.nn.Sequential], list[tuple[str, int]]]:
    """Build and initialize one model per (init, seed), inits outer; return the models and their (init, seed)."""
    models, labels = [], []
    for init in config.inits:
        # lsuv would otherwise load the same first PROBE_SIZE training images itself for every model
        options = {"probe": probe_x} if init == "lsuv" else {}
        for seed in config.seeds:
            model = build_mlp([config.width] * depth, activation)
            initialize(model, init, torch.Generator().manual_seed(seed), **options)
            models.append(model)
            labels.append((init, seed))
    return models, labels


def _with_config(rows: list[dict], labels: list[tuple[str, int]], columns: dict) -> pd.DataFrame:
    """Return the per-model records as a table with the group's config columns and (init, seed) in front."""
    frame = pd.DataFrame(rows)
    model = frame.pop("model")
    frame.insert(0, "seed", [labels[m][1] for m in model])
    frame.insert(0, "init", [labels[m][0] for m in model])
    for position, (name, value) in enumerate(columns.items()):
        frame.insert(position, name, value)
    return frame


def train_group(
    config: SweepConfig, depth: int, activation: str, optimizer: str, data: MNISTTensors,
    probe_x: torch.Tensor, probe_y: torch.Tensor, device: torch.device, progress: bool,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Measure every model of one group at init on the probe batch, train them stacked, and return (metrics, signal)."""
    models, labels = build_group(config, depth, activation, probe_x)

    signal_rows = []
    for m, (model, (init, _)) in enumerate(zip(models, labels)):
        # a data-dependent scheme (lsuv) has no predicted variance, so it is measured only
        scheme = None if get_scheme(init).model_level else init
        table = signal_propagation(model, probe_x, probe_y, scheme=scheme)
        # "activation" there names each layer's nonlinearity, while the group's activation is a config column
        signal_rows += [{"model": m, **row} for row in table.drop(columns="activation").to_dict("records")]
    signal = _with_config(signal_rows, labels, {"depth": depth, "activation": activation, "optimizer": optimizer})

    lr = config.lr[optimizer]
    result, _ = train_stacked(
        models, data, epochs=config.epochs, batch_size=config.batch_size, lr=lr, optimizer=optimizer,
        order_seeds=config.order_seed, device=device, progress=progress,
    )
    metrics = _with_config(result.metrics, labels, {"depth": depth, "activation": activation, "optimizer": optimizer, "lr": lr})
    metrics["diverged_step"] = metrics["diverged_step"].astype("Int64")
    return metrics[METRICS_COLUMNS], signal


# --- The sweep ---------------------------------------------------------------------------


def _load_data(config: SweepConfig) -> tuple[MNISTTensors, torch.Tensor, torch.Tensor]:
    """Return the training and test subsets, and the probe batch (the first PROBE_SIZE training images)."""
    ensure_mnist()
    data = load_mnist(train_subset=config.train_subset, test_subset=config.test_subset)
    if len(data.train_x) >= PROBE_SIZE:
        return data, data.train_x[:PROBE_SIZE], data.train_y[:PROBE_SIZE]
    # a training subset smaller than the probe must not shrink the probe
    probe = load_mnist(train_subset=PROBE_SIZE, test_subset=1)
    return data, probe.train_x, probe.train_y


def run_sweep(
    depths: Sequence[int],
    activations: Sequence[str],
    optimizers: Sequence[str],
    inits: Sequence[str],
    seeds: Sequence[int],
    epochs: int,
    width: int = 128,
    train_subset: int = 20000,
    test_subset: int = 10000,
    lr: Mapping[str, float] | None = None,
    order_seed: int = 0,
    results_dir: str | Path = "data/results/sweep",
    progress: bool = True,
    device: str = "auto",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train every (depth, activation, optimizer, init, seed) network and return (metrics, signal).

    lr maps each optimizer to its learning rate (default DEFAULT_LR: SGD 0.01, Adam 1e-3).
    train_subset / test_subset keep the first n images; 0 keeps all. results_dir is read
    from the repository root when relative. progress shows a bar per epoch; one line per
    group is printed either way. device "auto" picks CUDA when present, else the CPU.

    metrics has one row per model and epoch (epoch 0 = untrained) with the columns of
    METRICS_COLUMNS. signal has one row per model and Linear layer at init, with the
    columns of initlib.diagnostics.signal_propagation. Its rows repeat per optimizer with the
    same values, because the weights at init do not depend on the optimizer. Both tables
    keep diverged models.
    """
    config = validate_sweep(depths, activations, optimizers, inits, seeds, epochs, width, train_subset, test_subset, lr, order_seed)
    if not isinstance(device, str) or not (device in ("auto", "cpu") or device.startswith("cuda")):
        raise InvalidParameterError(f"parameter 'device' must be 'auto', 'cpu' or 'cuda[:index]', got {device!r}")
    started, clock = datetime.now(timezone.utc), time.perf_counter()
    torch_device = resolve_device(device)
    results = resolve(results_dir)
    folder = results / GROUPS_DIR
    data = None

    metrics_parts, signal_parts, records = [], [], {}
    groups = config.groups()
    for index, (depth, activation, optimizer) in enumerate(groups, start=1):
        key = group_key(depth, activation, optimizer)
        settings = group_settings(config, depth, activation, optimizer)
        stored = load_group(folder, key, settings)
        prefix = f"[{index}/{len(groups)}] {key}:"
        if stored is not None:
            metrics, signal, record = stored
            print(f"{prefix} loaded from {GROUPS_DIR}/{key}.csv (trained in {record['seconds']:.1f} s)", flush=True)
            records[key] = {"status": "loaded", "seconds": record["seconds"]}
        else:
            if data is None:
                data, probe_x, probe_y = _load_data(config)
            group_clock = time.perf_counter()
            metrics, signal = train_group(config, depth, activation, optimizer, data, probe_x, probe_y, torch_device, progress)
            seconds = round(time.perf_counter() - group_clock, 2)
            diverged = int(metrics.groupby(["init", "seed"])["diverged"].any().sum())
            record = {"settings": settings, "seconds": seconds, "device": str(torch_device), "diverged_models": diverged}
            save_group(folder, key, metrics, signal, record)
            print(f"{prefix} {len(config.inits) * len(config.seeds)} models trained in {seconds:.1f} s, {diverged} diverged", flush=True)
            records[key] = {"status": "trained", "seconds": seconds}
        metrics_parts.append(metrics)
        signal_parts.append(signal)

    metrics = pd.concat(metrics_parts, ignore_index=True)
    signal = pd.concat(signal_parts, ignore_index=True)
    summary = accuracy_summary(metrics)

    # an older manifest would mark the folder complete while its tables are being replaced
    (results / MANIFEST_FILE).unlink(missing_ok=True)
    write_tables(summary, summary_display(summary), results, "summary")
    manifest = make_manifest(config.to_dict(), dict(MNIST_SHA256), torch_device, started, time.perf_counter() - clock)
    manifest["groups"] = records
    manifest["group_seconds_total"] = round(sum(r["seconds"] for r in records.values()), 2)
    manifest["probe_examples"] = PROBE_SIZE
    save_run(results, {"metrics": metrics, "signal": signal}, manifest)
    return metrics, signal


# --- Tables ------------------------------------------------------------------------------


def _appearance_rank(values: pd.Series) -> pd.Series:
    """Return each value's rank in order of first appearance, to sort a table in sweep order."""
    order = {value: rank for rank, value in enumerate(dict.fromkeys(values))}
    return values.map(order)


def final_epoch(metrics: pd.DataFrame) -> pd.DataFrame:
    """Return the rows of the last epoch (every model of a sweep trains the same number of epochs)."""
    return metrics[metrics["epoch"] == metrics["epoch"].max()]


def accuracy_summary(metrics: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Return per (activation, optimizer, depth, init) the final test accuracy's mean and t-interval over seeds.

    Diverged seeds have no accuracy, so the mean and interval cover the others (`n` of
    `seeds`), and `diverged` counts them. Rows are sorted by activation, optimizer and init
    in sweep order and by depth ascending.
    """
    final = final_epoch(metrics)
    rows = []
    for (activation, optimizer, depth, init), part in final.groupby(SUMMARY_KEYS, sort=False):
        ci = mean_ci(part["test_accuracy"], confidence)
        rows.append({
            "activation": activation, "optimizer": optimizer, "lr": float(part["lr"].iloc[0]), "depth": int(depth),
            "init": init, "epoch": int(part["epoch"].iloc[0]), "seeds": len(part), "diverged": int(part["diverged"].sum()),
            "mean": ci.mean, "ci_low": ci.low, "ci_high": ci.high, "n": ci.n,
        })
    summary = pd.DataFrame(rows)
    ranks = [_appearance_rank(summary[key]) if key != "depth" else summary[key] for key in SUMMARY_KEYS]
    order = np.lexsort([rank.to_numpy() for rank in reversed(ranks)])
    return summary.iloc[order].reset_index(drop=True)


def summary_display(summary: pd.DataFrame) -> pd.DataFrame:
    """Format an accuracy_summary table: accuracy in percent with its 95% interval, diverged as "k of n"."""
    return pd.DataFrame({
        "activation": summary["activation"],
        "optimizer": summary["optimizer"],
        "depth": summary["depth"],
        "init": summary["init"].map(label_of),
        "test accuracy % [95% CI]": [
            format_interval(row.mean, row.ci_low, row.ci_high, scale=100.0, decimals=2) for row in summary.itertuples()
        ],
        "diverged": [f"{row.diverged} of {row.seeds}" for row in summary.itertuples()],
    })


def depth_table(summary: pd.DataFrame, activation: str, optimizer: str) -> pd.DataFrame:
    """Return mean final test accuracy in percent, one row per init and one column per depth.

    A cell with diverged seeds counts them, e.g. "11.35 (1 div.)", and "-" means every seed diverged.
    """
    part = summary[(summary["activation"] == activation) & (summary["optimizer"] == optimizer)]
    if part.empty:
        raise ValueError(f"no rows for activation {activation!r} with optimizer {optimizer!r}; "
                         f"the summary has {sorted(set(zip(summary['activation'], summary['optimizer'])))}")
    cells = {}
    for row in part.itertuples():
        text = "-" if math.isnan(row.mean) else f"{100 * row.mean:.2f}"
        if row.diverged:
            text += f" ({row.diverged} div.)"
        cells.setdefault(label_of(row.init), {})[row.depth] = text
    table = pd.DataFrame.from_dict(cells, orient="index")
    table.index.name = "init"
    table.columns.name = "depth"
    return table[sorted(table.columns)]


def gradient_ratios(signal: pd.DataFrame) -> pd.DataFrame:
    """Return per model the weight-gradient norms of the first and last layers at init and their ratio.

    Columns: depth, activation, optimizer, init, seed, first_grad_norm, last_grad_norm,
    gradient_ratio (first over last, initlib.diagnostics.gradient_ratio). The ratio is inf or
    NaN where the last layer's gradient is zero, e.g. when the forward signal underflows.
    """
    keys = ["depth", "activation", "optimizer", "init", "seed"]
    rows = []
    for key, part in signal.groupby(keys, sort=False):
        ordered = part.sort_values("layer")["weight_grad_norm"]
        rows.append({**dict(zip(keys, key)), "first_grad_norm": float(ordered.iloc[0]),
                     "last_grad_norm": float(ordered.iloc[-1]), "gradient_ratio": gradient_ratio(part)})
    return pd.DataFrame(rows, columns=[*keys, "first_grad_norm", "last_grad_norm", "gradient_ratio"])


# --- Figures -----------------------------------------------------------------------------


def _palette(inits: Sequence[str]) -> dict[str, tuple]:
    return dict(zip(inits, sns.color_palette("colorblind", len(inits))))


def _init_legend(fig: plt.Figure, inits: Sequence[str], colors: dict, extra: list[tuple[Line2D, str]]) -> None:
    """Draw one legend for the whole figure below the panels: a line per init, then the `extra` entries."""
    handles = [Line2D([], [], color=colors[init], marker="o", markersize=3) for init in inits]
    labels = [label_of(init) for init in inits]
    for handle, label in extra:
        handles.append(handle)
        labels.append(label)
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(labels), 4), frameon=False)


def _title_with_counts(ax: plt.Axes, title: str, note: str, counts: dict[str, str]) -> None:
    """Set the panel title, with a second line "note: He 1 of 18, ..." when any count is given.

    The counts go in the title rather than inside the panel, where they could cover data.
    """
    if counts:
        title += f"\n{note}: " + ", ".join(f"{label_of(init)} {count}" for init, count in counts.items())
    ax.set_title(title, fontsize="medium")


def plot_accuracy_vs_depth(metrics: pd.DataFrame, confidence: float = 0.95) -> plt.Figure:
    """Draw final test accuracy against depth, one line per init with a t-interval band over seeds.

    Columns of panels are activations and rows optimizers. A depth where any seed diverged
    gets an "x" at the mean of the other seeds (at 0 when all diverged), and the panel title
    counts the diverged runs per init. The dashed line is chance, 0.1.
    """
    summary = accuracy_summary(metrics, confidence)
    activations, optimizers = list(dict.fromkeys(summary["activation"])), list(dict.fromkeys(summary["optimizer"]))
    inits = list(dict.fromkeys(summary["init"]))
    colors = _palette(inits)
    fig, axes = plt.subplots(len(optimizers), len(activations), figsize=(5.6 * len(activations), 4.0 * len(optimizers)),
                             sharex=True, sharey=True, squeeze=False)
    for row, optimizer in enumerate(optimizers):
        for column, activation in enumerate(activations):
            ax = axes[row][column]
            part = summary[(summary["activation"] == activation) & (summary["optimizer"] == optimizer)]
            diverged_counts = {}
            for init in inits:
                series = part[part["init"] == init].sort_values("depth")
                ax.plot(series["depth"], series["mean"], marker="o", markersize=3, color=colors[init])
                ax.fill_between(series["depth"], series["ci_low"], series["ci_high"], color=colors[init], alpha=0.2, linewidth=0)
                hit = series[series["diverged"] > 0]
                ax.scatter(hit["depth"], hit["mean"].fillna(0.0), marker="x", s=70, color=colors[init], zorder=3, clip_on=False)
                if not hit.empty:
                    diverged_counts[init] = f"{int(series['diverged'].sum())} of {int(series['seeds'].sum())}"
            ax.axhline(CHANCE_ACCURACY, color="grey", linestyle="--", linewidth=1)
            lr = float(part["lr"].iloc[0]) if not part.empty else math.nan
            _title_with_counts(ax, f"{activation}, {optimizer} (lr {lr:g})", "diverged runs", diverged_counts)
            ax.set_ylim(0.0, 1.0)
            ax.set_xticks(sorted(summary["depth"].unique()))
            ax.grid(alpha=0.3)
            if row == len(optimizers) - 1:
                ax.set_xlabel("hidden layers (width fixed)")
            if column == 0:
                ax.set_ylabel(f"test accuracy after epoch {int(summary['epoch'].max())}")
    extra = [(Line2D([], [], color="grey", linestyle="--", linewidth=1), f"chance ({CHANCE_ACCURACY})")]
    if summary["diverged"].any():
        extra.append((Line2D([], [], color="black", marker="x", linestyle="none"), "some seed diverged (at 0: all)"))
    _init_legend(fig, inits, colors, extra)
    seeds = int(summary["seeds"].max())
    fig.suptitle(f"Final test accuracy vs depth: mean over {seeds} seed(s), {round(confidence * 100)}% t-interval band")
    fig.tight_layout()
    return fig


def _plot_log_values(ax: plt.Axes, frame: pd.DataFrame, value: str, inits: Sequence[str], colors: dict) -> dict[str, str]:
    """Draw `value` against depth on a log axis: dots per seed, a line through their geometric mean, per init.

    A value that is zero, inf or NaN has no place on a log axis, so it is marked "x" at the
    bottom edge instead. Returns the count of such values per init ("k of n"), for inits that have any.
    """
    depth_range = frame["depth"].max() - frame["depth"].min()
    undefined_counts = {}
    for position, init in enumerate(inits):
        series = frame[frame["init"] == init]
        values = series[value].to_numpy(dtype=float)
        drawable = np.isfinite(values) & (values > 0)
        drawn = series[drawable]
        ax.scatter(drawn["depth"], drawn[value], s=10, color=colors[init], alpha=0.5)
        means = drawn.groupby("depth")[value].apply(lambda v: float(np.exp(np.log(v).mean())))
        ax.plot(means.index, means.to_numpy(), marker="o", markersize=3, color=colors[init])
        undefined = int((~drawable).sum())
        if undefined:
            undefined_counts[init] = f"{undefined} of {len(series)}"
            # x is in data units, shifted a little per init so that marks at one depth do not hide each other.
            # y is in axes units, so the marks sit at the bottom edge whatever the log range.
            shift = (position - (len(inits) - 1) / 2) * 0.01 * depth_range
            ax.scatter(series.loc[~drawable, "depth"] + shift, np.full(undefined, 0.03), marker="x", s=50,
                       color=colors[init], transform=ax.get_xaxis_transform(), clip_on=False)
    ax.set_yscale("log")
    ax.set_xticks(sorted(frame["depth"].unique()))
    ax.grid(alpha=0.3)
    return undefined_counts


def plot_gradient_ratio(signal: pd.DataFrame) -> plt.Figure:
    """Draw the weight-gradient norms at init against depth on log axes, per init, one column per activation.

    Top row: the first layer's norm over the last layer's (initlib.diagnostics.gradient_ratio).
    Bottom row: the first layer's norm itself. The ratio can stay near 1 while both norms
    vanish together, so the bottom row shows whether the first layer gets any gradient.
    Dots are seeds, the line their geometric mean. The weights at init do not depend on the
    optimizer, so the first optimizer's models are used. A zero, inf or NaN value is marked
    "x" at the bottom edge and counted in the panel title.
    """
    norms = gradient_ratios(signal)
    norms = norms[norms["optimizer"] == norms["optimizer"].iloc[0]]
    activations, inits = list(dict.fromkeys(norms["activation"])), list(dict.fromkeys(norms["init"]))
    colors = _palette(inits)
    rows = [("gradient_ratio", "‖∇W₁‖ / ‖∇W_last‖ at init", "undefined ratios"),
            ("first_grad_norm", "first layer ‖∇W₁‖ at init", "zero or non-finite norms")]
    fig, axes = plt.subplots(len(rows), len(activations), figsize=(5.6 * len(activations), 3.8 * len(rows)),
                             sharex=True, squeeze=False)
    any_undefined = False
    for row, (value, ylabel, note) in enumerate(rows):
        for column, activation in enumerate(activations):
            ax = axes[row][column]
            counts = _plot_log_values(ax, norms[norms["activation"] == activation], value, inits, colors)
            any_undefined = any_undefined or bool(counts)
            _title_with_counts(ax, activation, note, counts)
            if row == 0:
                ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
            else:
                ax.set_xlabel("hidden layers (width fixed)")
            if column == 0:
                ax.set_ylabel(ylabel)
    extra = []
    if any_undefined:
        extra.append((Line2D([], [], color="black", marker="x", linestyle="none"), "0, inf or NaN (signal under- or overflow)"))
    _init_legend(fig, inits, colors, extra)
    fig.suptitle("Weight-gradient norms at init on the probe batch (dots: seeds, line: geometric mean)")
    fig.tight_layout()
    return fig
