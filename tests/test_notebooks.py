"""The notebooks run end to end under papermill, and nbval catches a changed number."""

import json
import subprocess
import sys

import papermill
import pytest

from initlib.paths import NOTEBOOKS_DIR
from initlib.results import load_run

TINY = {"seeds": [0, 1], "epochs": 2, "train_subset": 640, "test_subset": 300}


def execute(name, output, **parameters):
    return papermill.execute_notebook(
        str(NOTEBOOKS_DIR / name), str(output), parameters=parameters, kernel_name="initlib", progress_bar=False,
    )


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Four tiny initializer runs executed by papermill, as `make reproduce` does at full size."""
    folder = tmp_path_factory.mktemp("runs")
    for init in ("random", "xavier", "he", "orthogonal"):
        execute("initializer.ipynb", folder / f"{init}.ipynb", init=init, results_dir=str(folder / "results"), **TINY)
    return folder


def test_initializer_writes_run_folder(tiny_runs):
    metrics, manifest = load_run(tiny_runs / "results" / "he")
    assert len(metrics) == 2 * 3
    assert manifest["config"]["seeds"] == [0, 1]
    assert manifest["config"]["train_subset"] == 640


def test_summary_writes_tables_and_figures(tiny_runs):
    figures = tiny_runs / "figures"
    execute("summary.ipynb", tiny_runs / "summary.ipynb", results_dir=str(tiny_runs / "results"),
            run_notebooks_dir=str(tiny_runs), figures_dir=str(figures))
    summary = tiny_runs / "results" / "summary"
    for name in ("accuracy.csv", "accuracy.md"):
        assert (summary / name).stat().st_size > 0, name
    for name in ("test_accuracy.png", "test_accuracy.svg", "train_loss.png", "train_loss.svg"):
        assert (figures / name).stat().st_size > 0, name
    table = (summary / "accuracy.md").read_text()
    assert "| He |" in table


def test_failing_cell_keeps_notebook(tmp_path):
    output = tmp_path / "bad.ipynb"
    with pytest.raises(papermill.PapermillExecutionError, match="InvalidParameterError"):
        execute("initializer.ipynb", output, init="kaiming", results_dir=str(tmp_path))
    notebook = json.loads(output.read_text())
    assert notebook["metadata"]["papermill"]["exception"] is True


def test_summary_rejects_failed_run_notebook(tiny_runs, tmp_path):
    failed = json.loads((tiny_runs / "he.ipynb").read_text())
    failed["metadata"]["papermill"]["exception"] = True
    (tmp_path / "he.ipynb").write_text(json.dumps(failed))
    for init in ("random", "xavier", "orthogonal"):
        (tmp_path / f"{init}.ipynb").write_text((tiny_runs / f"{init}.ipynb").read_text())
    with pytest.raises(papermill.PapermillExecutionError, match="he.ipynb failed"):
        execute("summary.ipynb", tmp_path / "summary.ipynb", results_dir=str(tiny_runs / "results"),
                run_notebooks_dir=str(tmp_path), figures_dir=str(tmp_path / "figures"))


def test_nbval_fails_on_changed_number(tmp_path):
    # a copy of the committed notebook whose default learning rate differs: its checked outputs must not match
    source = (NOTEBOOKS_DIR / "initializer.ipynb").read_text()
    changed = source.replace("lr = 0.001  # learning rate", "lr = 0.002  # learning rate")
    assert changed != source
    probe = tmp_path / "initializer.ipynb"
    probe.write_text(changed)
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider", str(probe)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert completed.returncode == 1, completed.stdout[-2000:]
    assert "Cell 4" in completed.stdout  # the metrics table
