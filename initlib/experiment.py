"""One initializer run, end to end: data, models, stacked training, tidy tables and manifest.

`run_initializer(config)` is what notebooks/initializer.ipynb calls. Model m of the run is
initialized from torch.Generator seeded with config.seeds[m]; all models share one batch
order seeded with config.order_seed, so runs of different schemes see the same data in the
same order (a paired comparison).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch

from initlib.data import MNISTTensors, ensure_mnist, load_mnist
from initlib.diagnostics import signal_propagation
from initlib.models import build_mlp
from initlib.params import RunConfig
from initlib.paths import resolve
from initlib.results import make_manifest, save_run
from initlib.monitor import LayerMonitor
from initlib.schemes import get_scheme, initialize
from initlib.stacked import train_stacked
from initlib.train import resolve_device


PROBE_SIZE = 512  # training images in the fixed probe batch of the diagnostics


@dataclass
class RunOutput:
    """Outputs of one run: tidy metrics, the test curve, layer statistics, per-epoch timing, the manifest and the run folder."""

    metrics: pd.DataFrame
    curve: pd.DataFrame
    layers: pd.DataFrame | None
    signal: pd.DataFrame
    timing: pd.DataFrame
    manifest: dict
    run_dir: Path


def build_models(config: RunConfig) -> list[torch.nn.Sequential]:
    """Build one MLP per seed and initialize it with the configured scheme and that seed's generator."""
    models = []
    for seed in config.seeds:
        model = build_mlp(config.hidden, config.activation)
        initialize(model, config.init, torch.Generator().manual_seed(seed), **config.init_options)
        models.append(model)
    return models


def initial_signal(config: RunConfig, models: list[torch.nn.Sequential], probe_x: torch.Tensor, probe_y: torch.Tensor) -> pd.DataFrame:
    """Return the signal-propagation table of every model at init, with the theory's predictions."""
    # a data-dependent scheme (lsuv) has no predicted variance, so it is measured only
    scheme = None if get_scheme(config.init).model_level else config.init
    rows = []
    for m, model in enumerate(models):
        table = signal_propagation(model, probe_x, probe_y, scheme=scheme, scheme_options=config.init_options or None)
        # the activation is a config column of every table already
        rows += [{"model": m, **row} for row in table.drop(columns="activation").to_dict("records")]
    return tidy_metrics(config, rows, sort=("seed", "layer"))


def load_data(config: RunConfig) -> MNISTTensors:
    """Provision MNIST if needed and load the configured subsets."""
    ensure_mnist()
    return load_mnist(train_subset=config.train_subset, test_subset=config.test_subset, normalize=config.normalize)


def tidy_metrics(config: RunConfig, rows: list[dict], sort: tuple[str, ...] = ("seed", "epoch")) -> pd.DataFrame:
    """Return the trainer's records as a tidy table with the run's config columns in front."""
    frame = pd.DataFrame(rows)
    frame.insert(0, "seed", [config.seeds[m] for m in frame.pop("model")])
    columns = {
        "run": config.name,
        "init": config.init,
        "optimizer": config.optimizer,
        "lr": config.lr,
        "batch_size": config.batch_size,
        "activation": config.activation,
        "hidden": "-".join(map(str, config.hidden)),
        "depth": len(config.hidden),
        "order_seed": config.order_seed,
    }
    for position, (name, value) in enumerate(columns.items()):
        frame.insert(position, name, value)
    if "diverged_step" in frame:
        frame["diverged_step"] = frame["diverged_step"].astype("Int64")
    return frame.sort_values(list(sort), kind="stable").reset_index(drop=True)


def run_initializer(config: RunConfig, data: MNISTTensors | None = None, progress: bool = True, save: bool = True) -> RunOutput:
    """Train every seed of `config` stacked, then write the run folder unless save=False."""
    started = datetime.now(timezone.utc)
    clock = time.perf_counter()
    device = resolve_device(config.device)
    data = load_data(config) if data is None else data

    models = build_models(config)
    # the probe batch: the first PROBE_SIZE training images, the same for every run
    probe_x, probe_y = data.train_x[:PROBE_SIZE], data.train_y[:PROBE_SIZE]
    signal = initial_signal(config, models, probe_x, probe_y)
    monitor = LayerMonitor(probe_x, config.monitor_interval) if config.monitor_interval else None
    result, _ = train_stacked(
        models, data,
        epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, optimizer=config.optimizer,
        order_seeds=config.order_seed, device=device, progress=progress, log=True,
        eval_interval=config.eval_interval, monitor=monitor,
    )

    metrics = tidy_metrics(config, result.metrics)
    curve = tidy_metrics(config, result.curve, sort=("seed", "step"))
    tables = {"metrics": metrics, "curve": curve, "signal": signal}
    if monitor is not None:
        tables["layers"] = tidy_metrics(config, monitor.rows, sort=("seed", "step", "layer"))
    timing = pd.DataFrame({"run": config.name, "epoch": range(len(result.epoch_seconds)), "seconds": result.epoch_seconds, "models": len(config.seeds)})
    manifest = make_manifest(config.to_dict(), data.sha256, device, started, time.perf_counter() - clock)
    manifest["train_examples"], manifest["test_examples"] = len(data.train_x), len(data.test_x)
    manifest["probe_examples"] = len(probe_x)
    run_dir = resolve(config.results_dir) / config.name
    if save:
        save_run(run_dir, {**tables, "timing": timing}, manifest)
    return RunOutput(metrics, curve, tables.get("layers"), signal, timing, manifest, run_dir)
