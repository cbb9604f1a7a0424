"""Shared fixtures: real MNIST subsets, loaded once per test session.

The tests need the four verified IDX files in data/MNIST/raw; `make test` fetches them first.
"""

import pytest

from initlib.data import load_mnist


@pytest.fixture(scope="session")
def mnist_small():
    """The first 6,400 training and 1,000 test images of MNIST: 100 batches of 64 per epoch."""
    return load_mnist(train_subset=6400, test_subset=1000)
