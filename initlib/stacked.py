"""The stacked trainer: M MLPs of one architecture trained together in one vectorized pass.

Layer l's weights of all models form one tensor of shape (M, fan_out, fan_in). When the
models share a batch (the default), the first layer of all M models is one matrix multiply
(B, 784) @ (784, M * h1); deeper layers are batched matrix multiplies over the model
dimension. Each model's loss is its own batch mean, and the stack minimizes their sum, so
the gradient of model m's parameters is exactly the gradient of its own loss. Adam and SGD
update element by element, so one optimizer over the stacked tensors performs M independent
runs. initlib.train holds the per-model reference that tests compare this against.

A model whose loss or gradient becomes non-finite is marked diverged at that step and
frozen (its parameters and optimizer state are zeroed, its gradients masked), so the other
models of the stack continue unaffected.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from initlib.data import MNISTTensors
from initlib.models import linear_layers
from initlib.optim import make_optimizer
from initlib.train import EpochLog, TrainResult, batch_order, batch_slices, evaluate, metrics_row


class StackedMLP(nn.Module):
    """M copies of one MLP architecture with separate weights, evaluated in one pass."""

    def __init__(self, models: Sequence[nn.Sequential]):
        super().__init__()
        if not models:
            raise ValueError("StackedMLP needs at least one model")
        layers = [linear_layers(model) for model in models]
        shapes = [[tuple(layer.weight.shape) for layer in model_layers] for model_layers in layers]
        if any(s != shapes[0] for s in shapes):
            raise ValueError(f"all stacked models need the same layer shapes; got {shapes}")
        activations = {type(module) for model in models for module in model if not isinstance(module, nn.Linear)}
        if len(activations) > 1:
            raise ValueError(f"all stacked models need the same activation; got {sorted(a.__name__ for a in activations)}")

        self.num_models = len(models)
        self.activation = activations.pop()() if activations else nn.Identity()
        # weights[l]: (M, fan_out, fan_in); biases[l]: (M, fan_out)
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.stack([m[l].weight.detach() for m in layers]).clone()) for l in range(len(layers[0]))]
        )
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.stack([m[l].bias.detach() for m in layers]).clone()) for l in range(len(layers[0]))]
        )

    def forward(self, x: torch.Tensor, preactivations: list | None = None) -> torch.Tensor:
        """Return logits (M, B, 10) for inputs x of shape (B, 784) shared by all models or (M, B, 784).

        If `preactivations` is a list, each hidden layer's pre-activation (M, B, width) is appended.
        """
        weight, bias = self.weights[0], self.biases[0]
        num_models, fan_out, fan_in = weight.shape
        if x.dim() == 2:
            # shared input: one (B, 784) @ (784, M * fan_out) product for the whole stack
            h = torch.addmm(bias.reshape(-1), x, weight.reshape(num_models * fan_out, fan_in).t())
            h = h.view(len(x), num_models, fan_out).transpose(0, 1)
        else:
            h = torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))
        for weight, bias in zip(self.weights[1:], self.biases[1:]):
            if preactivations is not None:
                preactivations.append(h)
            h = torch.baddbmm(bias.unsqueeze(1), self.activation(h), weight.transpose(1, 2))
        return h

    def unstack(self, template: nn.Sequential) -> list[nn.Sequential]:
        """Return M standalone copies of `template` holding this stack's current weights."""
        models = []
        for m in range(self.num_models):
            model = _copy_module(template)
            for layer, weight, bias in zip(linear_layers(model), self.weights, self.biases):
                layer.weight.data.copy_(weight[m])
                layer.bias.data.copy_(bias[m])
            models.append(model)
        return models


def _copy_module(module: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(module)


def _per_model(tensor: torch.Tensor) -> torch.Tensor:
    """View a stacked tensor (M, ...) as (M, rest)."""
    return tensor.reshape(tensor.shape[0], -1)


def train_stacked(
    models: Sequence[nn.Sequential],
    data: MNISTTensors,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    optimizer: str = "adam",
    order_seeds: int | Sequence[int] = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
    log: bool = False,
    on_step: Callable[[int, StackedMLP], None] | None = None,
) -> tuple[TrainResult, StackedMLP]:
    """Train `models` together and record each model's metrics at init (epoch 0) and after each epoch.

    order_seeds: one int shares a batch order across the stack (a paired design, and the
    fast path); a sequence of M ints gives model m the order of seed order_seeds[m], the
    order the plain trainer would use with order_seed=order_seeds[m].
    on_step(step, stack) is called after every optimizer step (diagnostics hook).
    Returns the metrics and the trained stack.
    """
    device = torch.device(device)
    stack = StackedMLP(models).to(device)
    num_models = stack.num_models
    data = data.to(device)
    params = [*stack.weights, *stack.biases]
    opt = make_optimizer(optimizer, params, lr, fused=True)

    shared_order = isinstance(order_seeds, int)
    seeds = [order_seeds] if shared_order else list(order_seeds)
    if not shared_order and len(seeds) != num_models:
        raise ValueError(f"order_seeds has {len(seeds)} seeds for {num_models} models; give one int or one per model")
    orders = [batch_order(len(data.train_x), seed) for seed in seeds]
    slices = batch_slices(len(data.train_x), batch_size)
    train_y = data.train_y

    result, epoch_log = TrainResult(), EpochLog(log)
    active = torch.ones(num_models, dtype=torch.bool, device=device)
    diverged_step: list[int | None] = [None] * num_models
    step = 0

    def record(epoch: int, train_loss: torch.Tensor, seconds: float) -> None:
        test_loss, test_accuracy = evaluate(stack, data.test_x, data.test_y)
        rows = [
            metrics_row(m, epoch, step, train_loss[m].item(), test_loss[m].item(), test_accuracy[m].item(), diverged_step[m])
            for m in range(num_models)
        ]
        result.metrics.extend(rows)
        result.epoch_seconds.append(seconds)
        epoch_log.row(epoch, rows, seconds)

    # epoch 0: the networks as initialized, evaluated on the full training and test sets
    record(0, evaluate(stack, data.train_x, data.train_y)[0], 0.0)

    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        # (N,) shared permutation, or (M, N) one per model
        permutation = torch.stack([next(order) for order in orders]).to(device)
        if shared_order:
            permutation = permutation[0]
        loss_sum = torch.zeros(num_models, device=device)

        for batch in tqdm(slices, desc=f"epoch {epoch}", disable=not progress, leave=False):
            index = permutation[..., batch]
            logits = stack(data.train_x[index])  # (M, B, 10)
            labels = train_y[index].expand(logits.shape[:-1])  # (M, B)
            losses = F.cross_entropy(logits.movedim(-1, 1), labels, reduction="none").mean(1)  # (M,)

            opt.zero_grad(set_to_none=True)
            losses.sum().backward()
            step += 1

            # a model is finite when its loss and the sum of each of its gradients are finite
            grad_sums = torch.stack([_per_model(p.grad).sum(1) for p in params]).sum(0)
            finite = torch.isfinite(losses) & torch.isfinite(grad_sums)
            newly_diverged = active & ~finite
            if newly_diverged.any():
                for m in newly_diverged.nonzero().flatten().tolist():
                    diverged_step[m] = step
                active &= ~newly_diverged
                _freeze(opt, params, ~active)
            if not active.all():
                # frozen models get no update: zero gradient with zeroed Adam/SGD state is a no-op step
                for p in params:
                    p.grad.masked_fill_(~active.view(-1, *[1] * (p.dim() - 1)), 0.0)
            opt.step()

            loss_sum += torch.where(active, losses.detach(), 0.0) * labels.shape[-1]
            if on_step is not None:
                on_step(step, stack)

        record(epoch, loss_sum / len(data.train_x), time.perf_counter() - start)
    return result, stack


@torch.no_grad()
def _freeze(opt: torch.optim.Optimizer, params: list[torch.Tensor], frozen: torch.Tensor) -> None:
    """Zero the parameters and optimizer state of the frozen models (frozen: (M,) bool)."""
    for p in params:
        mask = frozen.view(-1, *[1] * (p.dim() - 1))
        p.masked_fill_(mask, 0.0)
        for value in opt.state.get(p, {}).values():
            if torch.is_tensor(value) and value.shape == p.shape:
                value.masked_fill_(mask, 0.0)
