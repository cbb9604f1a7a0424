"""Optimizer registry: Adam (the reproduced 2026 study's optimizer) and SGD with momentum, built alike for every trainer."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from initlib.schemes import UnknownNameError

OPTIMIZERS = ("adam", "sgd")
SGD_MOMENTUM = 0.9


def make_optimizer(name: str, params: Iterable[torch.Tensor], lr: float, fused: bool = False) -> torch.optim.Optimizer:
    """Return Adam (betas 0.9/0.999, eps 1e-8) or SGD (momentum 0.9) over `params` at learning rate `lr`.

    Both updates act element by element, so stacking M models' parameters along a leading
    dimension and stepping them together is the same math as M separate optimizers.
    fused=True selects the fused kernel (one pass over all tensors); the plain trainer
    keeps the default implementation as the reference.
    """
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, fused=fused or None)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=SGD_MOMENTUM, fused=fused or None)
    raise UnknownNameError(f"unknown optimizer {name!r}; valid names: {', '.join(OPTIMIZERS)}")
