"""The initialization registry: scheme name -> how a weight matrix is drawn.

A scheme draws one weight tensor of shape (fan_out, fan_in), as nn.Linear stores it, from
a torch.Generator, so every draw is reproducible and independent of the global RNG. Each
entry documents its formula and states the variance it gives one weight, which the
signal-propagation diagnostics compare against measurements. Biases start at zero under
every scheme here.

Adding a scheme is one function and one decorator line:

    @register("my_scheme", formula="N(0, 1/fan_in)", variance=lambda fan_in, fan_out: 1 / fan_in)
    def my_scheme(weight, generator):
        nn.init.normal_(weight, 0.0, weight.shape[1] ** -0.5, generator=generator)

`initialize(model, name, generator)` applies a scheme to every parameter of a model and
returns the names of the parameters it set.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


class UnknownNameError(ValueError):
    """A name (scheme, activation, optimizer) is not in its registry."""


@dataclass(frozen=True)
class Scheme:
    """One registry entry: the weight draw, its formula and the per-weight variance it gives."""

    name: str
    init_weight: Callable[..., None]
    formula: str
    # Variance of one weight as a function of (fan_in, fan_out, **options).
    variance: Callable[..., float]
    label: str

    def options(self) -> dict[str, object]:
        """Return the keyword options the scheme accepts, with their defaults."""
        signature = inspect.signature(self.init_weight)
        return {
            name: parameter.default
            for name, parameter in signature.parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        }


SCHEMES: dict[str, Scheme] = {}


def register(name: str, *, formula: str, variance: Callable[..., float], label: str | None = None):
    """Add the decorated weight-drawing function to SCHEMES under `name`."""

    def decorator(init_weight: Callable[..., None]) -> Callable[..., None]:
        if name in SCHEMES:
            raise ValueError(f"initialization scheme {name!r} is already registered")
        SCHEMES[name] = Scheme(name, init_weight, formula, variance, label or name)
        return init_weight

    return decorator


def get_scheme(name: str) -> Scheme:
    """Return the registered scheme `name`, or raise UnknownNameError listing the valid names."""
    if name not in SCHEMES:
        raise UnknownNameError(
            f"unknown initialization scheme {name!r}; valid names: {', '.join(SCHEMES)}"
        )
    return SCHEMES[name]


# --- The paper's four schemes -------------------------------------------------------------


@register("random", formula="W ~ N(0, std^2), std = 1 by default", variance=lambda fan_in, fan_out, std=1.0: std**2, label="Random")
def random_normal(weight: torch.Tensor, generator: torch.Generator, *, std: float = 1.0) -> None:
    # torch.nn.init.normal_'s default std is 1: "Random" in the paper, independent of fan.
    nn.init.normal_(weight, 0.0, std, generator=generator)


@register(
    "xavier",
    formula="W ~ U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)), gain = 1",
    variance=lambda fan_in, fan_out, gain=1.0: gain**2 * 2.0 / (fan_in + fan_out),
    label="Xavier",
)
def xavier_uniform(weight: torch.Tensor, generator: torch.Generator, *, gain: float = 1.0) -> None:
    nn.init.xavier_uniform_(weight, gain=gain, generator=generator)


@register(
    "he",
    formula="W ~ N(0, std^2), std = sqrt(2 / fan_in) (kaiming_normal_, mode fan_in, relu)",
    variance=lambda fan_in, fan_out: 2.0 / fan_in,
    label="He",
)
def he_normal(weight: torch.Tensor, generator: torch.Generator) -> None:
    nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="relu", generator=generator)


@register(
    "orthogonal",
    formula="W = gain * Q, Q with orthonormal rows or columns (QR of a Gaussian matrix), gain = 1",
    variance=lambda fan_in, fan_out, gain=1.0: gain**2 / max(fan_in, fan_out),
    label="Orthogonal",
)
def orthogonal(weight: torch.Tensor, generator: torch.Generator, *, gain: float = 1.0) -> None:
    # Each unit-norm row (or column) of length max(fan_in, fan_out) gives per-entry
    # variance gain^2 / max(fan_in, fan_out).
    nn.init.orthogonal_(weight, gain=gain, generator=generator)


# --- Applying a scheme to a model ---------------------------------------------------------


def initialize(
    model: nn.Module,
    name: str,
    generator: torch.Generator,
    **options: object,
) -> list[str]:
    """Draw every weight of `model` with scheme `name` and zero every bias.

    Parameters with two or more dimensions are weights; one-dimensional parameters whose
    name ends in "bias" are biases. Any other parameter raises ValueError naming it, so no
    parameter keeps a stray initialization. Returns the names of the parameters set.
    """
    scheme = get_scheme(name)
    accepted = scheme.options()
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        valid = ", ".join(accepted) or "none"
        raise ValueError(f"scheme {name!r} got unknown option(s) {', '.join(unknown)}; valid options: {valid}")

    touched = []
    with torch.no_grad():
        for param_name, param in model.named_parameters():
            if param.dim() >= 2:
                scheme.init_weight(param, generator, **options)
            elif param.dim() == 1 and param_name.rsplit(".", 1)[-1] == "bias":
                param.zero_()
            else:
                raise ValueError(
                    f"parameter {param_name!r} of shape {tuple(param.shape)} is neither a weight "
                    "(2 or more dimensions) nor a bias; initialize it explicitly or rename it"
                )
            touched.append(param_name)
    return touched


def predicted_weight_variance(name: str, fan_in: int, fan_out: int, **options: object) -> float:
    """Return the variance of one weight that scheme `name` gives with these options."""
    value = get_scheme(name).variance(fan_in, fan_out, **options)
    if not math.isfinite(value):
        raise ValueError(f"scheme {name!r} gives a non-finite variance for fan_in={fan_in}, fan_out={fan_out}")
    return value
