"""The stacked trainer: M MLPs of one architecture trained together in one vectorized pass.

All parameters of all M models live in one flat float32 buffer, laid out layer by layer:
layer l's weights form a (M, fan_out, fan_in) block and its biases a (M, fan_out) block.
The gradient and the optimizer state use the same layout, so one fused Adam (or SGD) call
updates every model. Both optimizers update element by element, so this is M independent runs.

Forward and backward passes are written out by hand (no autograd) so that every product
writes straight into the flat gradient buffer. When the models share a batch (the default),
the first layer of all M models is one matrix multiply (M * h1, 784) @ (784, B) forward
and one (M * h1, B) @ (B, 784) for its weight gradient. Deeper layers are batched matrix
multiplies over the model dimension. Model m's loss is its own batch mean. initlib.train
contains the autograd reference that tests compare this path against.

A model whose loss or gradient becomes non-finite is marked diverged at that step and
frozen (its parameters and optimizer state are zeroed, its gradients masked), so the other
models of the stack continue unaffected.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn
from tqdm import tqdm

from initlib.data import MNISTTensors
from initlib.models import linear_layers
from initlib.monitor import LayerMonitor
from initlib.optim import make_optimizer
from initlib.train import EpochLog, TrainResult, batch_order, batch_slices, evaluate, metrics_row

# activation module -> (function, derivative from the pre-activation h and the activation a)
ACTIVATION_FUNCTIONS: dict[type[nn.Module], tuple[Callable, Callable]] = {
    nn.ReLU: (torch.relu, lambda h, a: h > 0),
    nn.Tanh: (torch.tanh, lambda h, a: 1 - a * a),
}


class StackedMLP:
    """M copies of one MLP architecture with separate weights in one flat buffer."""

    def __init__(self, models: Sequence[nn.Sequential], device: str | torch.device = "cpu"):
        if not models:
            raise ValueError("StackedMLP needs at least one model")
        layers = [linear_layers(model) for model in models]
        shapes = [[tuple(layer.weight.shape) for layer in model_layers] for model_layers in layers]
        if any(s != shapes[0] for s in shapes):
            raise ValueError(f"all stacked models need the same layer shapes; got {shapes}")
        activations = {type(module) for model in models for module in model if not isinstance(module, nn.Linear)}
        if len(activations) > 1:
            raise ValueError(f"all stacked models need the same activation; got {sorted(a.__name__ for a in activations)}")
        activation = activations.pop() if activations else nn.Identity
        if activation not in ACTIVATION_FUNCTIONS and len(shapes[0]) > 1:
            raise ValueError(f"the stacked trainer supports {[a.__name__ for a in ACTIVATION_FUNCTIONS]}; got {activation.__name__}")

        self.num_models = len(models)
        self.shapes = shapes[0]  # (fan_out, fan_in) per layer
        self.activation, self.activation_grad = ACTIVATION_FUNCTIONS.get(activation, (None, None))
        sizes = [self.num_models * (fan_out * fan_in + fan_out) for fan_out, fan_in in self.shapes]
        self.flat = nn.Parameter(torch.zeros(sum(sizes), device=device), requires_grad=False)
        self.flat.grad = torch.zeros_like(self.flat)
        self.weights, self.biases = self.layer_views(self.flat.data)
        self.weight_grads, self.bias_grads = self.layer_views(self.flat.grad)
        with torch.no_grad():
            for l, weight in enumerate(self.weights):
                weight.copy_(torch.stack([model_layers[l].weight for model_layers in layers]))
                self.biases[l].copy_(torch.stack([model_layers[l].bias for model_layers in layers]))

    def layer_views(self, flat: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Split a flat buffer of this layout into per-layer views: weights (M, out, in), biases (M, out)."""
        weights, biases, offset = [], [], 0
        for fan_out, fan_in in self.shapes:
            size = self.num_models * fan_out * fan_in
            weights.append(flat[offset:offset + size].view(self.num_models, fan_out, fan_in))
            offset += size
            biases.append(flat[offset:offset + self.num_models * fan_out].view(self.num_models, fan_out))
            offset += self.num_models * fan_out
        return weights, biases

    # Activations are kept feature-major, (M, width, B): every product below then reads and
    # writes whole contiguous matrices, and the first layer's weight gradient of all models
    # is one (M * h1, B) @ (B, 784) product with no transposing copy.

    def _first_layer(self, x: torch.Tensor) -> torch.Tensor:
        """Return the first layer's pre-activation (M, h1, B) for x of shape (B, 784) or (M, B, 784)."""
        weight, bias = self.weights[0], self.biases[0]
        num_models, fan_out, fan_in = weight.shape
        if x.dim() == 2:
            # shared input: one (M * h1, 784) @ (784, B) product for the whole stack
            h = torch.addmm(bias.reshape(-1, 1), weight.reshape(num_models * fan_out, fan_in), x.t())
            return h.view(num_models, fan_out, len(x))
        return torch.baddbmm(bias.unsqueeze(2), weight, x.transpose(1, 2))

    def forward_features(self, x: torch.Tensor, cache: list | None = None) -> torch.Tensor:
        """Return feature-major logits (M, 10, B) for inputs (B, 784) shared by all models, or (M, B, 784).

        If `cache` is a list, (pre-activation, activation) of each hidden layer, each of shape
        (M, width, B), are appended to it for the backward pass and the diagnostics.
        """
        h = self._first_layer(x)
        for weight, bias in zip(self.weights[1:], self.biases[1:]):
            a = self.activation(h)
            if cache is not None:
                cache.append((h, a))
            h = torch.baddbmm(bias.unsqueeze(2), weight, a)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits (M, B, 10) for inputs (B, 784) shared by all models, or (M, B, 784)."""
        return self.forward_features(x).transpose(1, 2)

    __call__ = forward

    def loss_and_grad(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Return each model's mean cross-entropy (M,) on (x, y) and write its gradient into self.flat.grad.

        x: (B, 784) or (M, B, 784); y: (B,) or (M, B) class indices.
        """
        cache: list = []
        logits = self.forward_features(x, cache)  # (M, 10, B)
        num_models, _, batch = logits.shape
        labels = y.expand(num_models, batch).unsqueeze(1)  # (M, 1, B)
        log_probs = logits.log_softmax(1)
        losses = -log_probs.gather(1, labels).squeeze(1).mean(1)

        # d(mean cross-entropy)/d(logits) = (softmax - one_hot) / B
        delta = log_probs.exp_()
        delta.scatter_add_(1, labels, torch.full_like(delta[:, :1], -1.0))
        delta.div_(batch)

        for l in range(len(self.shapes) - 1, 0, -1):
            h, a = cache[l - 1]
            torch.bmm(delta, a.transpose(1, 2), out=self.weight_grads[l])  # (M, out, B) @ (M, B, in)
            torch.sum(delta, 2, out=self.bias_grads[l])
            delta = torch.bmm(self.weights[l].transpose(1, 2), delta)  # gradient w.r.t. the activation a
            delta.mul_(self.activation_grad(h, a))  # ... and w.r.t. the pre-activation h

        _, fan_out, fan_in = self.weights[0].shape
        if x.dim() == 2:
            torch.mm(delta.view(num_models * fan_out, batch), x, out=self.weight_grads[0].view(num_models * fan_out, fan_in))
        else:
            torch.bmm(delta, x, out=self.weight_grads[0])
        torch.sum(delta, 2, out=self.bias_grads[0])
        return losses

    def unstack(self, template: nn.Sequential) -> list[nn.Sequential]:
        """Return M standalone copies of `template` holding this stack's current weights."""
        models = []
        for m in range(self.num_models):
            model = copy.deepcopy(template).to(self.flat.device)
            with torch.no_grad():
                for layer, weight, bias in zip(linear_layers(model), self.weights, self.biases):
                    layer.weight.copy_(weight[m])
                    layer.bias.copy_(bias[m])
            models.append(model)
        return models

    def per_model_sums(self, flat: torch.Tensor) -> torch.Tensor:
        """Return the sum of each model's entries of a flat buffer of this layout, shape (M,)."""
        weights, biases = self.layer_views(flat)
        return torch.stack([t.reshape(self.num_models, -1).sum(1) for t in (*weights, *biases)]).sum(0)

    @torch.no_grad()
    def zero_models(self, flat: torch.Tensor, models: torch.Tensor) -> None:
        """Zero the entries of the given models (M,) bool in a flat buffer of this layout."""
        weights, biases = self.layer_views(flat)
        for tensor in (*weights, *biases):
            tensor.masked_fill_(models.view(-1, *[1] * (tensor.dim() - 1)), 0.0)


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
    eval_interval: int = 0,
    monitor: LayerMonitor | None = None,
) -> tuple[TrainResult, StackedMLP]:
    """Train `models` together and record each model's metrics at init (epoch 0) and after each epoch.

    order_seeds: one int shares a batch order across the stack (a paired design, and the
    fast path); a sequence of M ints gives model m the order of seed order_seeds[m], the
    order the plain trainer would use with order_seed=order_seeds[m].
    eval_interval > 0 also evaluates the test set every eval_interval steps, for a finer
    test curve (TrainResult.curve) than the per-epoch metrics; its time is not counted in
    the epoch seconds. The curve always contains the per-epoch evaluations too.
    monitor, if given, samples per-layer statistics at step 0, every monitor.interval steps
    and at each epoch end (see initlib.monitor); it does not change the training.
    Returns the metrics and the trained stack.
    """
    device = torch.device(device)
    stack = StackedMLP(models, device)
    num_models = stack.num_models
    data = data.to(device)
    opt = make_optimizer(optimizer, [stack.flat], lr, fused=True)

    shared_order = isinstance(order_seeds, int)
    seeds = [order_seeds] if shared_order else list(order_seeds)
    if not shared_order and len(seeds) != num_models:
        raise ValueError(f"order_seeds has {len(seeds)} seeds for {num_models} models; give one int or one per model")
    orders = [batch_order(len(data.train_x), seed) for seed in seeds]
    slices = batch_slices(len(data.train_x), batch_size)

    result, epoch_log = TrainResult(), EpochLog(log)
    active = torch.ones(num_models, dtype=torch.bool, device=device)
    diverged_step: list[int | None] = [None] * num_models
    any_frozen = False
    step = 0

    def evaluate_curve() -> tuple[torch.Tensor, torch.Tensor]:
        test_loss, test_accuracy = evaluate(stack, data.test_x, data.test_y)
        for m in range(num_models):
            diverged = diverged_step[m] is not None
            # the columns of a metrics row, so curve tables feed the same statistics code;
            # the training loss is only known per epoch
            result.curve.append({
                "model": m, "step": step, "epoch": step / len(slices), "train_loss": float("nan"),
                "test_loss": float("nan") if diverged else test_loss[m].item(),
                "test_accuracy": float("nan") if diverged else test_accuracy[m].item(),
                "diverged": diverged, "diverged_step": diverged_step[m],
            })
        return test_loss, test_accuracy

    def record(epoch: int, train_loss: torch.Tensor, seconds: float) -> None:
        test_loss, test_accuracy = evaluate_curve()
        rows = [
            metrics_row(m, epoch, step, train_loss[m].item(), test_loss[m].item(), test_accuracy[m].item(), diverged_step[m])
            for m in range(num_models)
        ]
        result.metrics.extend(rows)
        result.epoch_seconds.append(seconds)
        epoch_log.row(epoch, rows, seconds)

    # epoch 0: the networks as initialized, evaluated on the full training and test sets
    record(0, evaluate(stack, data.train_x, data.train_y)[0], 0.0)
    if monitor is not None:
        monitor.after_update(0, 0.0, stack, diverged_step)

    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        # (N,) shared permutation, or (M, N) one per model
        permutation = torch.stack([next(order) for order in orders]).to(device)
        if shared_order:
            permutation = permutation[0]
        loss_sum = torch.zeros(num_models, device=device)
        eval_seconds = 0.0

        for batch in tqdm(slices, desc=f"epoch {epoch}", disable=not progress, leave=False):
            index = permutation[..., batch]
            losses = stack.loss_and_grad(data.train_x[index], data.train_y[index])
            step += 1

            # One reduction over the whole gradient finds a non-finite value in any model, so
            # the per-model check (and its host sync) runs only when something is wrong.
            if not bool(torch.isfinite(losses.sum() + stack.flat.grad.sum())):
                finite = torch.isfinite(losses) & torch.isfinite(stack.per_model_sums(stack.flat.grad))
                newly_diverged = active & ~finite
                for m in newly_diverged.nonzero().flatten().tolist():
                    diverged_step[m] = step
                active &= ~newly_diverged
                # frozen models get no update: a zero gradient with zeroed optimizer state is a no-op step
                stack.zero_models(stack.flat.data, ~active)
                for state in opt.state[stack.flat].values():
                    if torch.is_tensor(state) and state.shape == stack.flat.shape:
                        stack.zero_models(state, ~active)
                any_frozen = True
            if any_frozen:
                stack.zero_models(stack.flat.grad, ~active)
            sampled = monitor is not None and monitor.is_due(step, len(slices))
            if sampled:
                monitor.before_update(stack)
            opt.step()
            if sampled:
                monitor.after_update(step, step / len(slices), stack, diverged_step)

            loss_sum += torch.where(active, losses, 0.0) * index.shape[-1]
            if eval_interval and step % eval_interval == 0 and step % len(slices) != 0:
                eval_start = time.perf_counter()
                evaluate_curve()
                eval_seconds += time.perf_counter() - eval_start

        record(epoch, loss_sum / len(data.train_x), time.perf_counter() - start - eval_seconds)
    return result, stack
