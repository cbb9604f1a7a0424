"""Robustness of the pipeline: interrupted and failing `make reproduce`, divergence in tables and plots,
and property-based checks of parameter validation and the init registry."""

import json
import math
import os
import signal
import subprocess
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from initlib import stats  # noqa: E402
from initlib.experiment import run_initializer  # noqa: E402
from initlib.params import InvalidParameterError, RunConfig, validate_params  # noqa: E402
from initlib.paths import REPO_ROOT  # noqa: E402
from initlib.plots import plot_curves  # noqa: E402
from initlib.report import interval_table  # noqa: E402
from initlib.schemes import SCHEMES, UnknownNameError, initialize  # noqa: E402


def make_command(tmp_path, *targets, **variables):
    """Return a `make` command that runs the pipeline at toy size with every output under tmp_path."""
    settings_ = {
        "EPOCHS": "1", "SEEDS": "[0]", "TRAIN_SUBSET": "640", "TEST_SUBSET": "200",
        "RESULTS": str(tmp_path / "results"), "RUNS": str(tmp_path / "runs"), "STAMP": str(tmp_path / "stamps"),
        "FIGURES": str(tmp_path / "figures"), "REFRESH_NOTEBOOKS": "no", **variables,
    }
    return ["make", "--no-print-directory", *targets, *[f"{key}={value}" for key, value in settings_.items()]]


def test_killed_reproduce_resumes_without_redoing(tmp_path):
    stamps = tmp_path / "stamps"
    first_stamp = stamps / "run-random.done"
    process = subprocess.Popen(make_command(tmp_path, "reproduce"), cwd=REPO_ROOT, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not first_stamp.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert first_stamp.exists(), "the first initializer run did not finish"
    os.killpg(process.pid, signal.SIGKILL)  # make, papermill and the kernel, mid-run of the second initializer
    process.wait()

    # the killed run never wrote its manifest, so nothing reads it as complete
    assert not (tmp_path / "results" / "xavier" / "manifest.json").exists()
    finished_manifest = tmp_path / "results" / "random" / "manifest.json"
    finished_at = finished_manifest.stat().st_mtime_ns

    completed = subprocess.run(make_command(tmp_path, "reproduce"), cwd=REPO_ROOT, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert finished_manifest.stat().st_mtime_ns == finished_at  # the finished run was not redone
    for init in ("random", "xavier", "he", "orthogonal"):
        assert (tmp_path / "results" / init / "manifest.json").exists(), init
    assert (tmp_path / "results" / "summary" / "claims.csv").exists()
    assert (tmp_path / "figures" / "test_accuracy.png").exists()


def test_failing_run_stops_make_and_keeps_notebook(tmp_path):
    completed = subprocess.run(make_command(tmp_path, "reproduce", INITS="he kaiming"), cwd=REPO_ROOT,
                               capture_output=True, text=True)
    assert completed.returncode != 0
    notebook = json.loads((tmp_path / "runs" / "kaiming.ipynb").read_text())
    assert notebook["metadata"]["papermill"]["exception"] is True
    assert not (tmp_path / "stamps" / "run-kaiming.done").exists()
    assert not (tmp_path / "stamps" / "summary.done").exists()


def test_diverged_models_shown_in_tables_and_plots(tmp_path, mnist_small):
    # SGD at lr 1e4 makes every model's loss non-finite within a few steps
    config = validate_params(init="he", seeds=[0, 1], epochs=2, lr=1e4, optimizer="sgd",
                             train_subset=640, test_subset=200, results_dir=str(tmp_path))
    output = run_initializer(config, progress=False)
    trained = output.metrics[output.metrics["epoch"] >= 1]
    assert trained["diverged"].all()
    assert trained["diverged_step"].notna().all()
    assert trained["test_accuracy"].isna().all()

    per_model = stats.per_model_summary(output.metrics)
    summary = stats.summarize(per_model, metrics=["final_test_accuracy"])
    display = interval_table(summary, ["final_test_accuracy"], ["he"])
    assert display.loc[0, "diverged"] == 2
    assert display.loc[0, "final test accuracy %"] == "-"

    ax = plot_curves(output.metrics, "test_accuracy", "test accuracy")
    assert "2 diverged" in ax.get_legend().get_texts()[0].get_text()
    plt.close(ax.figure)


# --- property-based checks ------------------------------------------------------------------

ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.integers(-5, 300), max_size=4),
    st.lists(st.one_of(st.integers(-5, 300), st.text(max_size=4), st.floats()), max_size=4),
    st.sampled_from(["10", "1e-3", "[256, 128]", "[]", "[0, 1]", "true", "-1", "0", "nan", "{}", '{"std": 0.1}']),
)
FIELDS = [name for name in RunConfig.__dataclass_fields__ if name not in ("init", "seeds", "epochs")]


@settings(max_examples=300, deadline=None)
@given(changes=st.dictionaries(st.sampled_from([*FIELDS, "init", "seeds", "epochs", "bogus"]), ANY_VALUE, max_size=4))
def test_validation_returns_config_or_documented_error(changes):
    raw = {"init": "he", "seeds": [0], "epochs": 1, **changes}
    try:
        config = validate_params(**raw)
    except InvalidParameterError:
        return
    assert config.epochs >= 1
    assert config.batch_size >= 1
    assert config.lr > 0
    assert math.isfinite(config.lr)
    assert len(config.seeds) >= 1
    assert all(width >= 1 for width in config.hidden)


PER_WEIGHT_SCHEMES = sorted(name for name, scheme in SCHEMES.items() if not scheme.model_level)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(PER_WEIGHT_SCHEMES), fan_out=st.integers(1, 64), fan_in=st.integers(1, 64),
       extra=st.sampled_from(["none", "vector", "matrix"]), seed=st.integers(0, 2**31 - 1))
def test_registry_initializes_or_names_parameter(name, fan_out, fan_in, extra, seed):
    model = torch.nn.Sequential(torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU(), torch.nn.Linear(fan_out, 3))
    if extra == "vector":
        model.register_parameter("scale", torch.nn.Parameter(torch.ones(fan_out)))
    elif extra == "matrix":
        model.register_parameter("mixing", torch.nn.Parameter(torch.ones(fan_out, fan_out)))
    try:
        touched = initialize(model, name, torch.Generator().manual_seed(seed))
    except (ValueError, UnknownNameError) as error:
        # the only documented refusal here: a parameter that is neither a weight nor a bias
        assert extra == "vector"
        assert "'scale'" in str(error)
        return
    assert touched == [param_name for param_name, _ in model.named_parameters()]
    for param in model.parameters():
        assert torch.isfinite(param).all()
