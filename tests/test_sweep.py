"""The depth sweep on a tiny real MNIST subset: tables, stacked groups, resume, divergence, argument checks, notebook."""

import json
import math
import shutil

import matplotlib.pyplot as plt
import papermill
import pandas as pd
import pytest
import torch

from initlib import sweep
from initlib.data import load_mnist
from initlib.models import build_mlp
from initlib.params import InvalidParameterError
from initlib.paths import NOTEBOOKS_DIR
from initlib.schemes import initialize
from initlib.stacked import train_stacked
from initlib.sweep import METRICS_COLUMNS, accuracy_summary, plot_accuracy_vs_depth, run_sweep

# 2 depths x 2 optimizers x 2 inits x 2 seeds = 16 models, 10 SGD or Adam steps each
TINY = dict(depths=[2, 3], activations=["relu"], optimizers=["sgd", "adam"], inits=["he", "xavier"], seeds=[0, 1],
            epochs=1, train_subset=640, test_subset=200, progress=False)
MODEL_KEYS = ["depth", "activation", "optimizer", "init", "seed"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The TINY sweep, run once: (results folder, metrics, signal)."""
    folder = tmp_path_factory.mktemp("sweep")
    metrics, signal = run_sweep(**TINY, results_dir=str(folder))
    return folder, metrics, signal


def test_metrics_columns(tiny):
    _, metrics, _ = tiny
    assert list(metrics.columns) == METRICS_COLUMNS


def test_metrics_one_row_per_model_and_epoch(tiny):
    _, metrics, _ = tiny
    assert len(metrics) == 2 * 2 * 2 * 2 * 2  # depths x optimizers x inits x seeds x epochs 0 and 1
    assert not metrics.duplicated([*MODEL_KEYS, "epoch"]).any()


def test_signal_one_row_per_model_and_layer(tiny):
    _, _, signal = tiny
    # (depth + 1) Linear layers per model, 8 models per depth
    assert len(signal) == (3 + 4) * 8
    assert not signal.duplicated([*MODEL_KEYS, "layer"]).any()


def test_files_written(tiny):
    folder, _, _ = tiny
    for name in ("metrics.csv", "signal.csv", "summary.csv", "summary.md", "manifest.json"):
        assert (folder / name).stat().st_size > 0, name
    assert sorted(p.name for p in (folder / "groups").glob("*.json")) == [
        "2-relu-adam.json", "2-relu-sgd.json", "3-relu-adam.json", "3-relu-sgd.json"]


def test_manifest_records_config_and_groups(tiny):
    folder, _, _ = tiny
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["config"]["depths"] == [2, 3]
    assert manifest["config"]["lr"] == {"sgd": 0.01, "adam": 0.001}
    assert {g["status"] for g in manifest["groups"].values()} == {"trained"}
    assert manifest["git_commit"]


def test_csv_equals_returned_table(tiny):
    folder, metrics, _ = tiny
    stored = pd.read_csv(folder / "metrics.csv")
    pd.testing.assert_series_equal(stored["test_loss"], metrics["test_loss"])


def test_group_matches_separate_training(tiny):
    # each init's seeds trained on their own give the numbers the stacked group gave them
    _, metrics, _ = tiny
    data = load_mnist(train_subset=640, test_subset=200)
    for init in ("he", "xavier"):
        models = []
        for seed in (0, 1):
            model = build_mlp([128, 128], "relu")
            initialize(model, init, torch.Generator().manual_seed(seed))
            models.append(model)
        alone, _ = train_stacked(models, data, epochs=1, lr=0.01, optimizer="sgd", order_seeds=0)
        for row in alone.metrics:
            seed = (0, 1)[row["model"]]
            swept = metrics[(metrics["depth"] == 2) & (metrics["optimizer"] == "sgd") & (metrics["init"] == init)
                            & (metrics["seed"] == seed) & (metrics["epoch"] == row["epoch"])].iloc[0]
            where = f"{init} seed {seed} epoch {row['epoch']}"
            assert swept["train_loss"] == pytest.approx(row["train_loss"], abs=1e-4), where
            assert swept["test_accuracy"] == pytest.approx(row["test_accuracy"], abs=1e-3), where


def test_resume_skips_finished_groups(tiny, monkeypatch):
    folder, metrics, signal = tiny

    def fail_if_called(*args, **kwargs):
        raise AssertionError("a finished group was trained again")

    monkeypatch.setattr(sweep, "train_stacked", fail_if_called)
    resumed_metrics, resumed_signal = run_sweep(**TINY, results_dir=str(folder))
    pd.testing.assert_frame_equal(resumed_metrics, metrics)
    pd.testing.assert_frame_equal(resumed_signal, signal)


def test_resume_retrains_changed_settings(tiny, monkeypatch):
    folder, _, _ = tiny

    def fail_if_called(*args, **kwargs):
        raise RuntimeError("retraining")

    monkeypatch.setattr(sweep, "train_stacked", fail_if_called)
    with pytest.raises(RuntimeError, match="retraining"):
        run_sweep(**{**TINY, "epochs": 2}, results_dir=str(folder))


def test_resume_trains_only_unfinished_group(tiny, tmp_path, monkeypatch):
    folder, metrics, _ = tiny
    copy = tmp_path / "sweep"
    shutil.copytree(folder, copy)
    (copy / "groups" / "3-relu-adam.json").unlink()  # as if the run stopped while training this group
    calls = []

    def counting(models, *args, **kwargs):
        calls.append(len(models))
        return train_stacked(models, *args, **kwargs)

    monkeypatch.setattr(sweep, "train_stacked", counting)
    resumed, _ = run_sweep(**TINY, results_dir=str(copy))
    assert calls == [4]
    pd.testing.assert_frame_equal(resumed, metrics)


@pytest.fixture(scope="module")
def diverging(tmp_path_factory):
    """A sweep whose SGD learning rate of 1e4 blows up every model; Adam's default keeps its models finite."""
    folder = tmp_path_factory.mktemp("diverging")
    metrics, _ = run_sweep([2], ["relu"], ["sgd", "adam"], ["he"], [0, 1], 1, train_subset=640, test_subset=200,
                           lr={"sgd": 1e4, "adam": 1e-3}, results_dir=str(folder), progress=False)
    return metrics


def test_diverged_rows_kept(diverging):
    trained = diverging[(diverging["optimizer"] == "sgd") & (diverging["epoch"] == 1)]
    assert len(trained) == 2
    assert trained["diverged"].all()
    assert trained["test_accuracy"].isna().all()
    assert trained["diverged_step"].notna().all()


def test_diverged_counted_in_summary(diverging):
    summary = accuracy_summary(diverging).set_index("optimizer")
    assert summary.loc["sgd", "diverged"] == 2
    assert math.isnan(summary.loc["sgd", "mean"])
    assert summary.loc["adam", "diverged"] == 0


def test_diverged_shown_in_figure(diverging):
    fig = plot_accuracy_vs_depth(diverging)
    titles = [ax.get_title() for ax in fig.axes]
    plt.close(fig)
    assert "relu, sgd (lr 10000)\ndiverged runs: He 2 of 2" in titles
    assert "relu, adam (lr 0.001)" in titles


@pytest.mark.parametrize("change, message", [
    ({"inits": ["he", "kaiming"]}, r"one of random, xavier, he, .*; got 'kaiming'"),
    ({"activations": ["gelu"]}, r"one of relu, tanh; got 'gelu'"),
    ({"optimizers": ["rmsprop"]}, r"one of adam, sgd; got 'rmsprop'"),
    ({"depths": [2, 0]}, r"'depths\[1\]' must be >= 1, got 0"),
    ({"seeds": []}, r"'seeds' must not be empty"),
    ({"depths": [2, 2]}, r"'depths' lists 2 more than once"),
    ({"lr": {"sgd": 0.01}}, r"no learning rate for optimizer\(s\) adam"),
    ({"lr": {"sgd": 0.01, "adam": -1.0}}, r"lr\['adam'\]\" must be a finite number > 0, got -1.0"),
])
def test_invalid_argument_named(tmp_path, change, message):
    with pytest.raises(InvalidParameterError, match=message):
        run_sweep(**{**TINY, **change}, results_dir=str(tmp_path))


def test_notebook_runs_on_defaults(tmp_path):
    results, figures = tmp_path / "results", tmp_path / "figures"
    papermill.execute_notebook(
        str(NOTEBOOKS_DIR / "sweep.ipynb"), str(tmp_path / "sweep.ipynb"), kernel_name="initlib", progress_bar=False,
        parameters={"results_dir": str(results), "figures_dir": str(figures)},
    )
    assert (results / "manifest.json").is_file()
    for name in ("sweep_accuracy.png", "sweep_accuracy.svg", "sweep_gradient_ratio.png", "sweep_gradient_ratio.svg"):
        assert (figures / name).stat().st_size > 0, name
