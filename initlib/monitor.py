"""Per-layer statistics of a stacked training run, sampled every few steps on a fixed probe batch.

At each sampled step, for every model and Linear layer: the L2 norm of the weight gradient
(of the training batch of that step, before the update), the weight norm, the
update-to-weight ratio ||W_after - W_before|| / ||W_before||, and, on the probe batch, the
activation mean and std and the fraction of dead ReLU units (zero for every probe example)
or saturated tanh units (|a| > 0.99). Step 0 has the activation statistics of the
untrained networks, and its gradient columns are NaN.

The monitor only reads the stack, so training with and without it gives identical numbers.
"""

from __future__ import annotations

import pandas as pd
import torch

from initlib.diagnostics import TANH_SATURATION

DEFAULT_INTERVAL = 100  # steps between samples; the overhead measured is in the README


class LayerMonitor:
    """Collects per-layer statistics of a StackedMLP; pass it to train_stacked(monitor=...)."""

    def __init__(self, probe_x: torch.Tensor, interval: int = DEFAULT_INTERVAL):
        if interval < 1:
            raise ValueError(f"monitor interval must be >= 1 step, got {interval}")
        self.probe_x = probe_x
        self.interval = interval
        self.rows: list[dict] = []
        self._before: torch.Tensor | None = None
        self._grad_norms: list[torch.Tensor] = []

    def is_due(self, step: int, steps_per_epoch: int) -> bool:
        """Return whether `step` is sampled: every `interval` steps and at the end of each epoch."""
        return step % self.interval == 0 or step % steps_per_epoch == 0

    @torch.no_grad()
    def before_update(self, stack) -> None:
        """Record weight-gradient norms and a copy of the weights, just before the optimizer step."""
        self._grad_norms = [g.flatten(1).norm(dim=1) for g in stack.weight_grads]  # per layer: (M,)
        self._before = stack.flat.detach().clone()

    @torch.no_grad()
    def after_update(self, step: int, epoch: float, stack, diverged: list[int | None]) -> None:
        """Append one row per model and layer for this step (after the optimizer step)."""
        weights_before = stack.layer_views(self._before)[0] if self._before is not None else None
        cache: list = []
        stack.forward_features(self.probe_x.to(stack.flat.device), cache)
        num_layers = len(stack.weights)
        for layer in range(num_layers):
            weight = stack.weights[layer]
            weight_norm = weight.flatten(1).norm(dim=1)
            if weights_before is not None:
                before = weights_before[layer]
                update_ratio = (weight - before).flatten(1).norm(dim=1) / before.flatten(1).norm(dim=1)
                grad_norm = self._grad_norms[layer]
            else:
                update_ratio = grad_norm = torch.full_like(weight_norm, float("nan"))
            activation = cache[layer][1] if layer < num_layers - 1 else None  # (M, width, P); none after the output
            stats = _activation_stats(activation, stack.activation, weight_norm)
            for m in range(stack.num_models):
                frozen = diverged[m] is not None
                nan = float("nan")
                self.rows.append({
                    "model": m, "step": step, "epoch": epoch, "layer": layer + 1,
                    "weight_grad_norm": nan if frozen else grad_norm[m].item(),
                    "weight_norm": nan if frozen else weight_norm[m].item(),
                    "update_ratio": nan if frozen else update_ratio[m].item(),
                    **{key: nan if frozen else values[m].item() for key, values in stats.items()},
                })
        self._before = None


def _activation_stats(activation: torch.Tensor | None, function, like: torch.Tensor) -> dict[str, torch.Tensor]:
    """Return per-model activation mean, std, dead and saturated fractions (M,) of a hidden layer."""
    nan = torch.full_like(like, float("nan"))
    if activation is None:
        return {"act_mean": nan, "act_std": nan, "dead_fraction": nan, "saturated_fraction": nan}
    flat = activation.flatten(1)
    stats = {"act_mean": flat.mean(1), "act_std": flat.std(1), "dead_fraction": nan, "saturated_fraction": nan}
    if function is torch.relu:
        # a unit is dead when it outputs zero for every probe example
        stats["dead_fraction"] = (activation <= 0).all(dim=2).float().mean(1)
    elif function is torch.tanh:
        stats["saturated_fraction"] = (flat.abs() > TANH_SATURATION).float().mean(1)
    return stats


def gradient_ratios(layers: pd.DataFrame, group_cols: tuple[str, ...] = ("init",)) -> pd.DataFrame:
    """Return the ratio of the first layer's weight-gradient norm to the last layer's per run and step.

    `layers` is a tidy monitor table (columns group_cols..., seed, step, epoch, layer,
    weight_grad_norm). A ratio far below 1 means the gradient shrinks toward the input:
    vanishing; far above 1, exploding. Step 0 has no gradient and is left out.
    """
    keys = [*group_cols, "seed", "step", "epoch"]
    trained = layers[layers["step"] > 0]
    first = trained[trained["layer"] == 1].set_index(keys)["weight_grad_norm"]
    last = trained[trained["layer"] == trained["layer"].max()].set_index(keys)["weight_grad_norm"]
    return (first / last).rename("gradient_ratio").reset_index()
