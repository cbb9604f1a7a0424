"""Shared fixtures: real MNIST subsets, loaded once per test session.

The tests need the four verified IDX files in data/MNIST/raw; `make test` fetches them first.
"""

import pytest
import torch

from initlib.data import load_mnist


@pytest.fixture(scope="session")
def mnist_small():
    """The first 6,400 training and 1,000 test images of MNIST: 100 batches of 64 per epoch."""
    return load_mnist(train_subset=6400, test_subset=1000)


@pytest.fixture
def one_torch_thread():
    """Run a test on one torch thread, then restore the thread count.

    Measured with torch 2.14.1 on a busy 2-core machine: with 2 OpenMP threads, orthogonal_ on a
    (128, 784) weight took 0.2 s instead of 3 ms, and a signal_propagation call on a 2048-image
    probe 0.5-1.8 s instead of 0.1 s.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
