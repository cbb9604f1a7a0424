"""The initialization registry: scheme name -> how a model's weights and biases are drawn.

Most schemes are per-weight: they draw one weight tensor of shape (fan_out, fan_in), as
nn.Linear stores it, from a torch.Generator, so every draw is reproducible and independent
of the global RNG. Each entry documents its formula and states the variance it gives one
weight, which the signal-propagation diagnostics compare against measurements. A
model-level scheme (`lsuv`) needs the whole model and a batch of data instead, so it
supplies `init_model` in place of `init_weight`, and its weight variance is unknown before
drawing (NaN).

Bias policy: every scheme names one in `Scheme.bias`, and `initialize` applies it.
"zeros" sets biases to 0 and is the policy of every scheme except `torch_default`.
"fan_in_uniform" draws each bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the same
generator, right after its layer's weight, which is what nn.Linear.reset_parameters does.

Adding a per-weight scheme is one function and one decorator line:

    @register("my_scheme", formula="N(0, 1/fan_in)", variance=lambda fan_in, fan_out: 1 / fan_in)
    def my_scheme(weight, generator):
        nn.init.normal_(weight, 0.0, weight.shape[1] ** -0.5, generator=generator)

`initialize(model, name, generator, **options)` applies a scheme to every parameter of a
model and returns the names of the parameters it set.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


class UnknownNameError(ValueError):
    """A name (scheme, activation, optimizer) is not in its registry."""


# Bias policies that `initialize` applies to one-dimensional "bias" parameters. The module
# docstring describes each.
BIAS_POLICIES = ("zeros", "fan_in_uniform")


@dataclass(frozen=True)
class Scheme:
    """One registry entry: the draw, its formula, the per-weight variance it gives and its bias policy.

    Exactly one of `init_weight` (per-weight: `fn(weight, generator, **options)`) and
    `init_model` (model-level: `fn(model, generator, **options)`, which must set every
    weight) is set.
    """

    name: str
    init_weight: Callable[..., None] | None
    formula: str
    # Variance of one weight as a function of (fan_in, fan_out, **options); NaN when it
    # depends on data and is unknown before drawing.
    variance: Callable[..., float]
    label: str
    bias: str = "zeros"
    init_model: Callable[..., None] | None = None

    def __post_init__(self) -> None:
        if (self.init_weight is None) == (self.init_model is None):
            raise ValueError(
                f"scheme {self.name!r} must set exactly one of init_weight and init_model; "
                f"got init_weight={self.init_weight!r}, init_model={self.init_model!r}"
            )
        if self.bias not in BIAS_POLICIES:
            raise ValueError(
                f"scheme {self.name!r} has bias policy {self.bias!r}; valid policies: {', '.join(BIAS_POLICIES)}"
            )

    @property
    def model_level(self) -> bool:
        """Whether the scheme draws the whole model (init_model) instead of one weight at a time."""
        return self.init_model is not None

    def options(self) -> dict[str, object]:
        """Return the keyword options the scheme accepts, with their defaults."""
        signature = inspect.signature(self.init_model if self.model_level else self.init_weight)
        return {
            name: parameter.default
            for name, parameter in signature.parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        }


SCHEMES: dict[str, Scheme] = {}


def register(
    name: str,
    *,
    formula: str,
    variance: Callable[..., float],
    label: str | None = None,
    bias: str = "zeros",
    model_level: bool = False,
):
    """Add the decorated function to SCHEMES under `name`.

    The function draws one weight, or with model_level=True it initializes a whole model
    whose biases `initialize` has already set by the `bias` policy.
    """

    def decorator(function: Callable[..., None]) -> Callable[..., None]:
        if name in SCHEMES:
            raise ValueError(f"initialization scheme {name!r} is already registered")
        init_weight, init_model = (None, function) if model_level else (function, None)
        SCHEMES[name] = Scheme(name, init_weight, formula, variance, label or name, bias, init_model)
        return function

    return decorator


def fan_in_and_fan_out(weight: torch.Tensor) -> tuple[int, int]:
    """Return (fan_in, fan_out) of a weight of shape (out, in, *kernel), counted as torch.nn.init does."""
    if weight.dim() < 2:
        raise ValueError(f"fan_in and fan_out need a weight with 2 or more dimensions, got shape {tuple(weight.shape)}")
    receptive_field = weight[0][0].numel()
    return weight.shape[1] * receptive_field, weight.shape[0] * receptive_field


def get_scheme(name: str) -> Scheme:
    """Return the registered scheme `name`, or raise UnknownNameError listing the valid names."""
    if name not in SCHEMES:
        raise UnknownNameError(
            f"unknown initialization scheme {name!r}; valid names: {', '.join(SCHEMES)}"
        )
    return SCHEMES[name]


# --- The four schemes of the reproduced 2026 MNIST study --------------------------------


@register("random", formula="W ~ N(0, std^2), std = 1 by default", variance=lambda fan_in, fan_out, std=1.0: std**2, label="Random")
def random_normal(weight: torch.Tensor, generator: torch.Generator, *, std: float = 1.0) -> None:
    # torch.nn.init.normal_'s default std is 1: "Random" in the reproduced study, independent of fan.
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


# --- Further per-weight schemes -----------------------------------------------------------


@register(
    "lecun",
    formula="W ~ N(0, std^2), std = 1 / sqrt(fan_in) (LeCun normal; kaiming_normal_ with nonlinearity linear)",
    variance=lambda fan_in, fan_out: 1.0 / fan_in,
    label="LeCun",
)
def lecun_normal(weight: torch.Tensor, generator: torch.Generator) -> None:
    # LeCun normal (LeCun et al. 1998, "Efficient BackProp"): unit pre-activation variance for
    # unit-variance inputs. That is He et al. 2015's fan_in rule without the ReLU factor 2.
    fan_in, _ = fan_in_and_fan_out(weight)
    nn.init.normal_(weight, 0.0, fan_in**-0.5, generator=generator)


@register(
    "xavier_normal",
    formula="W ~ N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)), gain = 1 (xavier_normal_)",
    variance=lambda fan_in, fan_out, gain=1.0: gain**2 * 2.0 / (fan_in + fan_out),
    label="Xavier (normal)",
)
def xavier_normal(weight: torch.Tensor, generator: torch.Generator, *, gain: float = 1.0) -> None:
    # Glorot & Bengio 2010: the variance 2 / (fan_in + fan_out) of "xavier", drawn from a normal.
    nn.init.xavier_normal_(weight, gain=gain, generator=generator)


@register(
    "he_uniform",
    formula="W ~ U(-a, a), a = sqrt(6 / fan_in) (kaiming_uniform_, mode fan_in, relu)",
    variance=lambda fan_in, fan_out: 2.0 / fan_in,
    label="He (uniform)",
)
def he_uniform(weight: torch.Tensor, generator: torch.Generator) -> None:
    # He et al. 2015's variance 2 / fan_in from a uniform: a = gain * sqrt(3 / fan_in), gain sqrt(2).
    nn.init.kaiming_uniform_(weight, mode="fan_in", nonlinearity="relu", generator=generator)


@register(
    "he_fan_out",
    formula="W ~ N(0, std^2), std = sqrt(2 / fan_out) (kaiming_normal_, mode fan_out, relu)",
    variance=lambda fan_in, fan_out: 2.0 / fan_out,
    label="He (fan_out)",
)
def he_fan_out(weight: torch.Tensor, generator: torch.Generator) -> None:
    # He et al. 2015: mode fan_out keeps the variance of the gradients constant through the
    # backward pass, where mode fan_in keeps that of the activations in the forward pass.
    nn.init.kaiming_normal_(weight, mode="fan_out", nonlinearity="relu", generator=generator)


@register(
    "orthogonal_relu",
    formula="W = gain * Q, Q with orthonormal rows or columns, gain = sqrt(2) (calculate_gain('relu'))",
    variance=lambda fan_in, fan_out: 2.0 / max(fan_in, fan_out),
    label="Orthogonal (ReLU gain)",
)
def orthogonal_relu(weight: torch.Tensor, generator: torch.Generator) -> None:
    # Saxe et al. 2014's orthogonal matrices, scaled by the ReLU gain of He et al. 2015 because
    # a ReLU halves the second moment of each layer's output.
    nn.init.orthogonal_(weight, gain=nn.init.calculate_gain("relu"), generator=generator)


# Truncation point of `trunc_normal`, in units of the untruncated std.
TRUNCATION = 2.0


def _truncated_variance_factor(c: float) -> float:
    """Return Var(X) / sigma^2 for X ~ N(0, sigma^2) conditioned on |X| <= c * sigma."""
    density = math.exp(-0.5 * c * c) / math.sqrt(2.0 * math.pi)  # standard normal pdf at c
    mass = math.erf(c / math.sqrt(2.0))  # P(|Z| <= c) = 2 * Phi(c) - 1
    return 1.0 - 2.0 * c * density / mass


# About 0.774 for c = 2: a normal cut at +-2 std keeps 77% of its variance.
TRUNC_NORMAL_VARIANCE_FACTOR = _truncated_variance_factor(TRUNCATION)


def _trunc_normal_std(fan_in: int, std: float | None) -> float:
    """Return the std of the untruncated normal: `std`, or He et al. 2015's sqrt(2 / fan_in) when None."""
    return math.sqrt(2.0 / fan_in) if std is None else std


@register(
    "trunc_normal",
    formula=(
        "W ~ N(0, std^2) truncated to [-2 std, 2 std], std = sqrt(2 / fan_in) unless the option std is given; "
        "not rescaled, so Var(W) = 0.774 std^2"
    ),
    variance=lambda fan_in, fan_out, std=None: _trunc_normal_std(fan_in, std) ** 2 * TRUNC_NORMAL_VARIANCE_FACTOR,
    label="Truncated normal",
)
def trunc_normal(weight: torch.Tensor, generator: torch.Generator, *, std: float | None = None) -> None:
    # The draw is left unscaled so it equals nn.init.trunc_normal_ for the same generator.
    # Its variance is therefore 0.774 std^2, not std^2, and `variance` reports that value.
    fan_in, _ = fan_in_and_fan_out(weight)
    sigma = _trunc_normal_std(fan_in, std)
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"trunc_normal needs a finite std > 0, got std={std!r}; omit it to use sqrt(2 / fan_in)")
    # nn.init.trunc_normal_ takes the bounds a and b as absolute values, not in units of std,
    # so they are scaled here. Its defaults (a=-2, b=2) would cut almost nothing off a small std.
    bound = TRUNCATION * sigma
    nn.init.trunc_normal_(weight, 0.0, sigma, -bound, bound, generator=generator)


@register(
    "torch_default",
    formula=(
        "W ~ U(-a, a), a = 1 / sqrt(fan_in) (kaiming_uniform_ with a=sqrt(5)); "
        "biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as nn.Linear.reset_parameters"
    ),
    variance=lambda fan_in, fan_out: 1.0 / (3.0 * fan_in),
    label="PyTorch default",
    bias="fan_in_uniform",
)
def torch_default(weight: torch.Tensor, generator: torch.Generator) -> None:
    # nn.Linear.reset_parameters (torch 2.14) calls kaiming_uniform_ with a=sqrt(5), the
    # leaky_relu slope. The gain sqrt(2 / (1 + 5)) = sqrt(1/3) gives a = gain * sqrt(3 / fan_in)
    # = 1 / sqrt(fan_in), so Var(W) = 1 / (3 fan_in). That is a third of He's variance, not He's.
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)


@register(
    "random_small",
    formula="W ~ N(0, 0.01^2)",
    variance=lambda fan_in, fan_out: 1e-4,
    label="Random (std 0.01)",
)
def random_small(weight: torch.Tensor, generator: torch.Generator) -> None:
    # A small std independent of the fans: each layer scales the activation std by about
    # 0.01 * sqrt(fan_in) (0.28 for fan_in 784), so signals and gradients vanish with depth.
    nn.init.normal_(weight, 0.0, 0.01, generator=generator)


@register("zeros", formula="W = 0", variance=lambda fan_in, fan_out: 0.0, label="Zeros")
def zeros(weight: torch.Tensor, generator: torch.Generator) -> None:
    # Every hidden unit computes the same function and gets the same gradient, so the symmetry
    # never breaks. With zero biases and relu or tanh, every hidden activation is 0, so every
    # weight gets zero gradient and only the output bias learns.
    weight.zero_()


# --- Model-level schemes ------------------------------------------------------------------

# Number of MNIST training images `lsuv` loads as its probe batch when none is given.
LSUV_PROBE_SIZE = 512


def _output_variance(model: nn.Module, layer: nn.Module, probe: torch.Tensor) -> float:
    """Run `probe` through `model` and return the variance of every element of `layer`'s output."""
    captured = []
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.append(output))
    try:
        model(probe)
    finally:
        handle.remove()
    return captured[-1].double().var().item()


@register(
    "lsuv",
    formula=(
        "orthogonal W (gain 1), then for each nn.Linear layer in order: "
        "W <- W / sqrt(Var(layer output on probe)) until |Var - 1| < tol or max_iter rescales"
    ),
    variance=lambda fan_in, fan_out, **options: math.nan,
    label="LSUV",
    model_level=True,
)
def lsuv(
    model: nn.Module,
    generator: torch.Generator,
    *,
    probe: torch.Tensor | None = None,
    tol: float = 0.1,
    max_iter: int = 10,
) -> None:
    """Draw orthogonal weights, then rescale each nn.Linear layer to unit output variance on `probe`.

    Layer-sequential unit-variance initialization (Mishkin & Matas 2016, Algorithm 1): the
    variance is taken over every element of the layer's output (pre-activation) on the probe
    batch. Every Linear layer is normalized, the output layer included, as Mishkin & Matas (2016) do.
    `probe` is an input batch of shape (P, in_features) with P >= 2. When it is None, the first
    LSUV_PROBE_SIZE MNIST training images are loaded with initlib.data.load_mnist, unnormalized
    pixels in [0, 1]. The forward passes run in eval mode under torch.no_grad, and each
    module's train/eval mode is restored afterwards. Only `generator` is drawn from.
    """
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"lsuv option tol must be a finite number > 0, got {tol!r}")
    if isinstance(max_iter, bool) or not (isinstance(max_iter, (int, float)) and float(max_iter).is_integer() and max_iter >= 1):
        raise ValueError(f"lsuv option max_iter must be an integer >= 1, got {max_iter!r}")
    linears = [module for module in model.modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError("lsuv found no nn.Linear layer in the model; use a per-weight scheme instead")
    # Only nn.Linear layers are rescaled, so any other weight would keep a bare orthogonal draw.
    linear_weights = {id(layer.weight) for layer in linears}
    for name, param in model.named_parameters():
        if param.dim() >= 2 and id(param) not in linear_weights:
            raise ValueError(
                f"lsuv rescales nn.Linear layers only, but parameter {name!r} of shape {tuple(param.shape)} "
                "belongs to another module; use a per-weight scheme for this model"
            )
    if probe is None:
        from initlib.data import load_mnist  # imported here so a plain registry import stays light

        # NOTE: these are unnormalized pixels. A run that trains on normalized inputs should
        # pass its own probe, because otherwise the variances are measured on other inputs.
        probe = load_mnist(train_subset=LSUV_PROBE_SIZE, test_subset=1).train_x
    if not isinstance(probe, torch.Tensor) or probe.dim() < 2 or probe.shape[0] < 2:
        described = f"shape {tuple(probe.shape)}" if isinstance(probe, torch.Tensor) else repr(probe)
        raise ValueError(
            f"lsuv option probe must be a tensor batch of 2 or more inputs, such as (512, 784) MNIST "
            f"images, got {described}; omit it to load {LSUV_PROBE_SIZE} MNIST training images"
        )
    probe = probe.to(device=linears[0].weight.device, dtype=linears[0].weight.dtype)

    modes = {module: module.training for module in model.modules()}
    model.eval()  # dropout or batch statistics would make the measured variance noisy
    try:
        with torch.no_grad():
            for param in model.parameters():
                if param.dim() >= 2:
                    nn.init.orthogonal_(param, generator=generator)
            for index, layer in enumerate(linears):
                variance = _output_variance(model, layer, probe)
                rescales = 0
                while abs(variance - 1.0) >= tol and rescales < max_iter:
                    if not (math.isfinite(variance) and variance > 0):
                        raise ValueError(
                            f"lsuv cannot rescale Linear layer {index}: its output variance on the probe is "
                            f"{variance}; check that the probe has 2 or more distinct finite inputs"
                        )
                    layer.weight.div_(math.sqrt(variance))
                    rescales += 1
                    variance = _output_variance(model, layer, probe)
                if abs(variance - 1.0) >= tol:
                    warnings.warn(
                        f"lsuv left Linear layer {index} at output variance {variance:.4g} after {max_iter} "
                        f"rescales (tol {tol}); raise max_iter or tol",
                        RuntimeWarning,
                        stacklevel=2,
                    )
    finally:
        for module, training in modes.items():
            module.train(training)


# --- Applying a scheme to a model ---------------------------------------------------------


def initialize(
    model: nn.Module,
    name: str,
    generator: torch.Generator,
    **options: object,
) -> list[str]:
    """Draw every weight of `model` with scheme `name` and set every bias by the scheme's bias policy.

    Parameters with two or more dimensions are weights, and one-dimensional parameters whose
    name ends in "bias" are biases. Any other parameter raises ValueError naming it, before
    anything is drawn, so no parameter keeps a stray initialization. A per-weight scheme draws
    the parameters in named_parameters order, each bias right after its weight. A model-level
    scheme gets the model after its biases are set. Returns the names of the parameters set.
    """
    scheme = get_scheme(name)
    accepted = scheme.options()
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        valid = ", ".join(accepted) or "none"
        raise ValueError(f"scheme {name!r} got unknown option(s) {', '.join(unknown)}; valid options: {valid}")

    parameters = dict(model.named_parameters())
    for param_name, param in parameters.items():
        if param.dim() < 2 and not _is_bias(param_name, param):
            raise ValueError(
                f"parameter {param_name!r} of shape {tuple(param.shape)} is neither a weight "
                "(2 or more dimensions) nor a bias; initialize it explicitly or rename it"
            )

    with torch.no_grad():
        for param_name, param in parameters.items():
            if _is_bias(param_name, param):
                _init_bias(param_name, param, parameters, scheme.bias, generator)
            elif not scheme.model_level:
                scheme.init_weight(param, generator, **options)
        if scheme.model_level:
            scheme.init_model(model, generator, **options)
    return list(parameters)


def _is_bias(param_name: str, param: torch.Tensor) -> bool:
    """Return whether a parameter is a bias: one-dimensional and named "bias"."""
    return param.dim() == 1 and param_name.rsplit(".", 1)[-1] == "bias"


def _init_bias(
    param_name: str,
    bias: torch.Tensor,
    parameters: dict[str, torch.Tensor],
    policy: str,
    generator: torch.Generator,
) -> None:
    """Set `bias` by `policy`: zeros, or U(-1/sqrt(fan_in), 1/sqrt(fan_in)) of its sibling weight."""
    if policy == "zeros":
        bias.zero_()
        return
    # "fan_in_uniform", nn.Linear.reset_parameters' bias draw: fan_in comes from the weight of
    # the same module, which nn.Linear names "<module>.weight".
    weight_name = param_name[: -len("bias")] + "weight"
    weight = parameters.get(weight_name)
    if weight is None or weight.dim() < 2:
        raise ValueError(
            f"bias policy {policy!r} needs the weight {weight_name!r} next to bias {param_name!r} for its "
            "fan_in, but the model has no such weight; use a scheme whose bias policy is 'zeros'"
        )
    fan_in, _ = fan_in_and_fan_out(weight)
    bound = 1.0 / math.sqrt(fan_in)
    nn.init.uniform_(bias, -bound, bound, generator=generator)


def predicted_weight_variance(name: str, fan_in: int, fan_out: int, **options: object) -> float:
    """Return the variance of one weight that scheme `name` gives with these options."""
    value = get_scheme(name).variance(fan_in, fan_out, **options)
    if math.isnan(value) and get_scheme(name).model_level:
        raise ValueError(
            f"scheme {name!r} has no weight variance known before drawing because it scales weights "
            "on data; initialize a model and measure its weights instead"
        )
    if not math.isfinite(value):
        raise ValueError(f"scheme {name!r} gives a non-finite variance for fan_in={fan_in}, fan_out={fan_out}")
    return value
