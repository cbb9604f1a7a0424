"""Results files: tidy CSV tables and a JSON manifest per run, written atomically, and read back.

A run folder `<results_dir>/<run>/` contains
  metrics.csv    one row per model x epoch (deterministic: byte-identical for the same config on CPU)
  curve.csv      test loss and accuracy per model at every evaluation step (deterministic too)
  signal.csv     per model and layer at init: measured and predicted variances (initlib.diagnostics)
  layers.csv     per model, layer and sampled step: gradient and activation statistics (initlib.monitor)
  timing.csv     wall seconds per epoch (varies from run to run, so kept apart)
  manifest.json  config, seeds, versions, data sha256, git commit, hardware; written last
A run counts as complete only when its manifest exists, and every file is written to a
temporary name and renamed, so an interrupted run is never read as a finished one.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch

from initlib.paths import REPO_ROOT, resolve

METRICS_FILE = "metrics.csv"
CURVE_FILE = "curve.csv"
TIMING_FILE = "timing.csv"
MANIFEST_FILE = "manifest.json"


class IncompleteRunError(RuntimeError):
    """A run folder lacks its manifest, or its notebook failed."""


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as CSV (no index, '\\n' line endings) atomically."""
    return atomic_write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def write_json(data: dict, path: str | Path) -> Path:
    """Write a dict as indented JSON atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def git_commit() -> str:
    """Return the repository's HEAD commit, suffixed "-dirty" when tracked files have changes; "unknown" outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def environment_info(device: torch.device) -> dict:
    """Return versions and hardware that a reader needs to judge or rerun a number."""
    import numpy
    import torchvision

    import initlib

    info = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "pandas": pd.__version__,
        "initlib": initlib.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def make_manifest(config: dict, data_sha256: dict, device: torch.device, started: datetime, seconds: float) -> dict:
    """Return the run manifest: the config, data checksums, environment, git commit and timing."""
    return {
        "config": config,
        "data_sha256": data_sha256,
        "environment": environment_info(device),
        "git_commit": git_commit(),
        "started_utc": started.astimezone(timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": round(seconds, 2),
    }


def save_run(run_dir: str | Path, tables: dict[str, pd.DataFrame], manifest: dict) -> Path:
    """Write a run's tables as <name>.csv, then its manifest (the completion marker). Returns the run folder."""
    run_dir = resolve(run_dir)
    # an older manifest would mark the folder complete while its tables are being replaced
    (run_dir / MANIFEST_FILE).unlink(missing_ok=True)
    for name, table in tables.items():
        write_csv(table, run_dir / f"{name}.csv")
    write_json(manifest, run_dir / MANIFEST_FILE)
    return run_dir


def load_run(run_dir: str | Path) -> tuple[pd.DataFrame, dict]:
    """Return (metrics, manifest) of a complete run; raise IncompleteRunError if it has no manifest."""
    run_dir = resolve(run_dir)
    manifest_path = run_dir / MANIFEST_FILE
    if not manifest_path.is_file():
        raise IncompleteRunError(
            f"run {run_dir} is incomplete: {MANIFEST_FILE} is missing (the run was interrupted or failed); "
            "rerun it, for example with `make reproduce`"
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    metrics = pd.read_csv(run_dir / METRICS_FILE)
    return metrics, manifest


def load_runs(results_dir: str | Path, names: list[str]) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Return the concatenated metrics and the manifests of the named runs under `results_dir`."""
    frames, manifests = [], {}
    for name in names:
        metrics, manifest = load_run(resolve(results_dir) / name)
        frames.append(metrics)
        manifests[name] = manifest
    return pd.concat(frames, ignore_index=True), manifests


def load_table(results_dir: str | Path, names: list[str], table: str) -> pd.DataFrame:
    """Return the concatenated <table>.csv of the named complete runs, with a "run" column."""
    frames = []
    for name in names:
        run_dir = resolve(results_dir) / name
        load_run(run_dir)  # raises for an incomplete run
        frame = pd.read_csv(run_dir / f"{table}.csv")
        if "run" not in frame:
            frame.insert(0, "run", name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def check_run_notebook(path: str | Path) -> None:
    """Raise IncompleteRunError if papermill marked the executed notebook at `path` as failed."""
    path = resolve(path)
    if not path.is_file():
        return
    notebook = json.loads(path.read_text(encoding="utf-8"))
    papermill = notebook.get("metadata", {}).get("papermill", {})
    if papermill.get("exception"):
        raise IncompleteRunError(f"run notebook {path} failed (papermill recorded an exception); open it to see the error, fix it and rerun")
