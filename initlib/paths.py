"""Folder layout of the repository, anchored at its root so notebooks work from any cwd."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
RESULTS_DIR = DATA_DIR / "results"
FIGURES_DIR = REPO_ROOT / "figures"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def resolve(path: str | Path) -> Path:
    """Return `path` as an absolute path, reading a relative one from the repository root."""
    path = Path(path)
    return path if path.is_absolute() else REPO_ROOT / path
