"""The stacked trainer against the plain per-model reference, on a real MNIST subset."""

import copy
import math

import pytest
import torch

from initlib.models import build_mlp
from initlib.schemes import initialize
from initlib.stacked import StackedMLP, train_stacked
from initlib.train import train_model

SEEDS = (0, 1, 2)
EPOCHS = 3  # 3 epochs x 100 batches = 300 optimizer steps


def make_models(scheme="he", seeds=SEEDS, hidden=(128, 64), activation="relu"):
    models = []
    for seed in seeds:
        model = build_mlp(hidden, activation)
        initialize(model, scheme, torch.Generator().manual_seed(seed))
        models.append(model)
    return models


def assert_same_parameters(plain_models, stacked_models):
    for m, (plain, stacked) in enumerate(zip(plain_models, stacked_models)):
        for (name, a), b in zip(plain.named_parameters(), stacked.parameters()):
            # 300 Adam steps from float32 sums taken in another order: differences stay near 1e-6
            assert torch.allclose(a, b, rtol=1e-4, atol=2e-5), f"model {m} {name}: max diff {(a - b).abs().max():.2e}"


def assert_same_metrics(plain_rows, stacked_rows):
    for plain, stacked in zip(plain_rows, stacked_rows):
        where = f"epoch {plain['epoch']}"
        assert plain["step"] == stacked["step"], where
        assert plain["train_loss"] == pytest.approx(stacked["train_loss"], abs=1e-4), where
        assert plain["test_loss"] == pytest.approx(stacked["test_loss"], abs=1e-4), where
        # argmax can flip on a near-tie between two logits: allow one test image of 1,000
        assert plain["test_accuracy"] == pytest.approx(stacked["test_accuracy"], abs=1e-3), where


@pytest.mark.parametrize("optimizer, lr", [("adam", 1e-3), ("sgd", 0.01)])
def test_stacked_matches_plain_shared_order(mnist_small, optimizer, lr):
    models = make_models()
    plain_models = [copy.deepcopy(m) for m in models]
    plain = [train_model(m, mnist_small, epochs=EPOCHS, optimizer=optimizer, lr=lr, order_seed=7) for m in plain_models]
    stacked, stack = train_stacked(models, mnist_small, epochs=EPOCHS, optimizer=optimizer, lr=lr, order_seeds=7)

    assert_same_parameters(plain_models, stack.unstack(models[0]))
    for m in range(len(SEEDS)):
        assert_same_metrics(plain[m].metrics, [r for r in stacked.metrics if r["model"] == m])


def test_stacked_matches_plain_independent_orders(mnist_small):
    models = make_models(hidden=(64, 32, 32), activation="tanh")
    plain_models = [copy.deepcopy(m) for m in models]
    plain = [train_model(m, mnist_small, epochs=2, order_seed=10 + m_index) for m_index, m in enumerate(plain_models)]
    stacked, stack = train_stacked(models, mnist_small, epochs=2, order_seeds=[10, 11, 12])

    assert_same_parameters(plain_models, stack.unstack(models[0]))
    for m in range(len(SEEDS)):
        assert_same_metrics(plain[m].metrics, [r for r in stacked.metrics if r["model"] == m])


def test_stacked_forward_equals_models():
    models = make_models(scheme="orthogonal")
    x = torch.rand(5, 784)
    logits = StackedMLP(models)(x)
    for m, model in enumerate(models):
        assert torch.allclose(logits[m], model(x), atol=1e-5)


def test_diverged_model_does_not_affect_others(mnist_small):
    healthy = make_models(seeds=(0, 1))
    broken = make_models(seeds=(9,))[0]
    with torch.no_grad():
        broken[0].weight[0, 0] = float("nan")  # non-finite from the first step on

    alone, _ = train_stacked(copy.deepcopy(healthy), mnist_small, epochs=2, order_seeds=3)
    mixed, _ = train_stacked([healthy[0], broken, healthy[1]], mnist_small, epochs=2, order_seeds=3)

    broken_rows = [r for r in mixed.metrics if r["model"] == 1]
    # epoch 0 evaluates the untrained network, so it is not diverged yet
    assert [r["diverged"] for r in broken_rows] == [False, True, True]
    assert all(r["diverged_step"] == 1 for r in broken_rows[1:])
    assert all(math.isnan(r["test_accuracy"]) for r in broken_rows[1:])
    for alone_index, mixed_index in ((0, 0), (1, 2)):
        alone_rows = [r for r in alone.metrics if r["model"] == alone_index]
        mixed_rows = [r for r in mixed.metrics if r["model"] == mixed_index]
        assert_same_metrics(alone_rows, mixed_rows)
        assert not any(r["diverged"] for r in mixed_rows)


def test_plain_trainer_stops_on_divergence(mnist_small):
    model = make_models(seeds=(0,))[0]
    result = train_model(model, mnist_small, epochs=2, lr=1e12, optimizer="sgd")
    rows = result.metrics
    assert rows[-1]["diverged"]
    assert rows[-1]["diverged_step"] >= 1
    assert math.isnan(rows[-1]["test_accuracy"])


def test_monitor_leaves_training_unchanged(mnist_small):
    from initlib.monitor import LayerMonitor

    plain, _ = train_stacked(make_models(), mnist_small, epochs=2, order_seeds=4)
    monitor = LayerMonitor(mnist_small.train_x[:256], interval=7)
    monitored, _ = train_stacked(make_models(), mnist_small, epochs=2, order_seeds=4, monitor=monitor)
    assert plain.metrics == monitored.metrics
    # steps 0, 7, 14, ..., 196 and the epoch ends 100 and 200, for 3 models x 3 layers
    sampled_steps = sorted({row["step"] for row in monitor.rows})
    assert sampled_steps == sorted({0, 100, 200, *range(7, 201, 7)})
    assert len(monitor.rows) == len(sampled_steps) * 3 * 3


def test_monitor_statistics_match_direct_computation(mnist_small):
    from initlib.monitor import LayerMonitor

    probe = mnist_small.train_x[:256]
    monitor = LayerMonitor(probe, interval=1000)
    models = make_models(seeds=(0,))
    reference = copy.deepcopy(models[0])
    train_stacked(models, mnist_small, epochs=1, order_seeds=0, monitor=monitor)
    first = [row for row in monitor.rows if row["step"] == 0]
    hidden = torch.relu(reference[0](probe))  # (256, 128) first hidden activation at init
    assert first[0]["act_mean"] == pytest.approx(hidden.mean().item(), rel=1e-5)
    assert first[0]["act_std"] == pytest.approx(hidden.std().item(), rel=1e-5)
    assert first[0]["dead_fraction"] == pytest.approx((hidden <= 0).all(0).float().mean().item())
    assert first[0]["weight_norm"] == pytest.approx(reference[0].weight.norm().item(), rel=1e-5)
    epoch_end = [row for row in monitor.rows if row["step"] == 100]
    assert all(0 < row["update_ratio"] < 0.1 for row in epoch_end)
    assert all(row["weight_grad_norm"] > 0 for row in epoch_end)
