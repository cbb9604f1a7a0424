"""Results files: atomic writes, completeness, determinism of a real run."""

import json

import pytest

from initlib.experiment import run_initializer
from initlib.params import validate_params
from initlib.results import IncompleteRunError, atomic_write_text, check_run_notebook, load_run, load_runs


def quick_config(results_dir, **changes):
    values = dict(init="xavier", seeds=[0, 1], epochs=2, train_subset=1280, test_subset=500, results_dir=str(results_dir))
    return validate_params(**{**values, **changes})


def test_same_config_gives_identical_tables(tmp_path, mnist_small):
    first = run_initializer(quick_config(tmp_path / "a"), progress=False)
    second = run_initializer(quick_config(tmp_path / "b"), progress=False)
    assert (first.run_dir / "metrics.csv").read_bytes() == (second.run_dir / "metrics.csv").read_bytes()


def test_run_folder_round_trips(tmp_path):
    output = run_initializer(quick_config(tmp_path), progress=False)
    metrics, manifest = load_run(output.run_dir)
    assert len(metrics) == 2 * 3  # 2 seeds x (epoch 0 + 2 epochs)
    assert list(metrics["seed"].unique()) == [0, 1]
    assert manifest["config"]["init"] == "xavier"
    assert manifest["train_examples"] == 1280
    assert set(manifest["data_sha256"]) == {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}
    assert manifest["environment"]["torch"].startswith("2.14.1")


def test_run_without_manifest_is_incomplete(tmp_path):
    output = run_initializer(quick_config(tmp_path), progress=False)
    (output.run_dir / "manifest.json").unlink()
    with pytest.raises(IncompleteRunError, match="manifest.json is missing"):
        load_runs(tmp_path, ["xavier"])


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    atomic_write_text(tmp_path / "table.csv", "a,b\n1,2\n")
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_failed_notebook_is_rejected(tmp_path):
    path = tmp_path / "he.ipynb"
    path.write_text(json.dumps({"metadata": {"papermill": {"exception": True}}, "cells": []}))
    with pytest.raises(IncompleteRunError, match="he.ipynb failed"):
        check_run_notebook(path)
