"""Signal propagation at initialization: measured layer statistics against mean-field theory.

`signal_propagation` pushes one fixed probe batch through an MLP built by
`initlib.models.build_mlp` and takes one backward pass of the mean cross-entropy loss. It
returns one row per Linear layer with the pre-activation, activation and gradient
statistics it measured. When the initialization scheme is named, each row also has what
the mean-field recursions of Glorot & Bengio (2010) and He et al. (2015) predict. `gradient_ratio` reduces a
table to the ratio of the first layer's weight-gradient norm to the last layer's, and
`compare_schemes` runs the diagnostics for several schemes on the same architecture.

The theory and its assumptions are written out in `signal_propagation`'s docstring.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special
import torch
import torch.nn.functional as F
from torch import nn

from initlib.models import ACTIVATIONS, build_mlp
from initlib.schemes import get_scheme, initialize, predicted_weight_variance

# |a| above which a tanh unit counts as saturated: tanh'(h) = 1 - a^2 < 0.02 there, so the
# unit passes back less than 2% of its gradient.
TANH_SATURATION = 0.99

COLUMNS = [
    "layer",
    "kind",
    "activation",
    "fan_in",
    "fan_out",
    "preact_var",
    "act_var",
    "act_std",
    "act_mean",
    "dead_fraction",
    "saturated_fraction",
    "weight_grad_var",
    "weight_grad_norm",
    "act_grad_var",
    "predicted_preact_var",
    "local_predicted_preact_var",
    "predicted_act_var",
    "predicted_act_grad_var",
    "ratio_preact",
    "ratio_local_preact",
    "ratio_act_grad",
]


def signal_propagation(
    model: nn.Sequential,
    x: torch.Tensor,
    y: torch.Tensor,
    scheme: str | None = None,
    scheme_options: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """Measure how a probe batch's signal and gradient propagate through `model`, one row per Linear layer.

    `model` is Linear, activation, Linear, ..., Linear as `build_mlp` returns it, with
    activations from `initlib.models.ACTIVATIONS`. `x` is the probe batch, shape (P, fan_in
    of layer 1) with P >= 2, and `y` its int64 class labels, shape (P,). One forward pass
    computes the loss L = mean over the P examples of the cross-entropy of the logits, and
    one `torch.autograd.grad` call differentiates it. The model's parameters are not
    modified, and their `.grad` attributes are neither read nor written.

    Measured columns, all population statistics pooled over the P examples and every unit
    (or every weight entry) of the layer:

    - `layer` counts the Linear layers from 1 on the input side. `kind` is "hidden", or
      "output" for the last layer, which produces the logits. `activation` names the
      nonlinearity after the layer ("none" for the output layer).
    - `preact_var`: variance of the pre-activation h = W a_prev + b, the Linear's output.
    - `act_var`, `act_std`, `act_mean`: variance, standard deviation and mean of the
      activation a = f(h). These are NaN for the output layer.
    - `dead_fraction` (ReLU only): fraction of units whose activation is 0 for every probe
      example. `saturated_fraction` (tanh only): fraction of activations with
      |a| > TANH_SATURATION (0.99). Both are NaN where they do not apply.
    - `weight_grad_var`, `weight_grad_norm`: variance and L2 (Frobenius) norm of dL/dW,
      shape (fan_out, fan_in).
    - `act_grad_var`: variance of dL/dh. Because L is a mean over the batch, each example's
      dL/dh carries a factor 1/P, so this variance scales as 1/P^2 for a fixed model.

    Predicted columns are NaN unless `scheme` names the scheme that drew the weights, with
    `scheme_options` as given to `initialize` (e.g. {"std": 0.01} for "random"). Let
    sigma2_l be the weight variance that `predicted_weight_variance` gives layer l, B_l the
    mean of b_l^2 over that layer's bias entries (0 under every zero-bias scheme), and
    q_l(p) the predicted second moment of layer l's pre-activation for probe example p.
    The forward recursion (Glorot & Bengio 2010; He et al. 2015), with the usual bias term
    B_l of mean-field theory, is

        q_1(p) = fan_in_1 * sigma2_1 * mean_i x_pi^2 + B_1      (exact input second moment)
        q_l(p) = fan_in_l * sigma2_l * E[f(h)^2] + B_l,  h ~ N(0, q_{l-1}(p)),  l > 1

    with E[relu(h)^2] = q / 2, and E[tanh(h)^2] by numerical integration (see below).

    - `predicted_preact_var` = mean_p q_l(p) - (mean_j b_lj)^2. The measured variance is
      pooled over units, so it excludes the grand mean, which is the mean bias in expectation.
    - `predicted_act_var` = mean_p E[f(h)^2] - (mean_p E[f(h)])^2. For ReLU,
      E[relu(h)] = sqrt(q / (2 pi)), so with one q for all examples this is the variance of
      a rectified Gaussian, q * (1/2 - 1/(2 pi)). For tanh, E[tanh(h)] = 0 by symmetry.
    - `local_predicted_preact_var`: the same formula for one layer, from the measured mean
      of a_{l-1}^2 over examples and units in place of E[f(h)^2]. It checks the one-layer
      step without the finite-width error that the propagated prediction accumulates in the
      layers below.
    - `predicted_act_grad_var` = mean_p s_l(p), from the backward recursion

        s_l(p) = fan_out_{l+1} * sigma2_{l+1} * E[f'(h)^2] * s_{l+1}(p),  h ~ N(0, q_l(p))

      with E[relu'(h)^2] = 1/2 and E[tanh'(h)^2] = E[sech(h)^4]. It starts from the measured
      s_L(p) = mean over the logits of (dL/dlogit)^2, so the output row has no prediction
      (NaN).
    - `ratio_preact`, `ratio_local_preact`, `ratio_act_grad`: measured / predicted.

    No weight-gradient variance is predicted. dL/dW sums delta * a over the batch, so its
    variance depends on how the examples' gradients correlate, which these per-example
    recursions do not model.

    The recursions assume zero-mean, uncorrelated weights drawn independently of the input,
    and biases that are zero or behave like independent zero-mean draws. They also assume
    large fan_in and fan_out, and Gaussian pre-activations, which the tanh expectations
    need. They ignore finite-width fluctuations, which
    compound with depth: one draw of a 128-wide network scatters around the propagated
    prediction by far more at layer 10 than at layer 1. The backward recursion also
    treats the backward pass's weights as independent of the forward pass's (the gradient
    independence assumption). MNIST pixels in [0, 1] are neither zero-mean nor
    uncorrelated. Layer 1 uses each example's exact second moment, so q_1 is still exact in
    expectation over the weights. With zero biases and a weight distribution symmetric under
    W -> -W, E[relu(h)^2] = E[h^2] / 2 holds exactly, Gaussian or not, so the ReLU forward
    predictions are exact in expectation at every depth. Orthogonal weights are not i.i.d.
    but have the same second moments. For tanh, layer 2 receives a mixture of Gaussians of
    different variances (one per example), not one Gaussian, which is why q is tracked per
    example rather than pooled.

    The tanh expectations E[g(h)], h ~ N(0, q), use the trapezoid rule on 401 points over
    |h| <= min(12 sqrt(q), 20), plus the Gaussian mass beyond 20 times g's limit there
    (tanh^2 -> 1, sech^4 -> 0). Gauss-Hermite quadrature is not used: for q = 100, where
    tanh is a step on the scale of the Gaussian, it was off by 2-9% for E[tanh^2] with 61
    to 201 nodes.

    Raises ValueError when the model is not such an MLP, when x or y do not fit it, or when
    an option does not belong to the scheme, and UnknownNameError for an unknown scheme.
    `predicted_weight_variance` raises ValueError for a scheme without a known weight
    variance, such as lsuv.
    """
    layers = _mlp_layers(model)
    x, y = _checked_probe(layers, x, y)
    sigma2 = _weight_variances(layers, scheme, scheme_options)

    passes = _forward_backward(layers, x, y)
    rows = [_measured_row(index, layer, layer_pass) for index, (layer, layer_pass) in enumerate(zip(layers, passes))]
    table = pd.DataFrame(rows)

    if sigma2 is None:
        for column in COLUMNS:
            if column not in table:
                table[column] = math.nan
    else:
        predicted = _predicted_columns(layers, sigma2, x, passes)
        for column, values in predicted.items():
            table[column] = values
        table["ratio_preact"] = table["preact_var"] / table["predicted_preact_var"]
        table["ratio_local_preact"] = table["preact_var"] / table["local_predicted_preact_var"]
        table["ratio_act_grad"] = table["act_grad_var"] / table["predicted_act_grad_var"]
    return table[COLUMNS]


def gradient_ratio(table: pd.DataFrame) -> float:
    """Return the first layer's weight_grad_norm divided by the last layer's.

    `table` is one model's `signal_propagation` table. A `compare_schemes` table contains
    several models, so select one scheme's rows first. A zero last-layer norm gives inf,
    or NaN when the first norm is zero too.
    """
    if table.empty:
        raise ValueError("gradient_ratio got an empty table; pass the output of signal_propagation")
    if "scheme" in table and table["scheme"].nunique() > 1:
        schemes = ", ".join(map(str, table["scheme"].unique()))
        raise ValueError(
            f"gradient_ratio got a table with several schemes ({schemes}); "
            "select one, e.g. table[table.scheme == 'he']"
        )
    if not table["layer"].is_unique:
        raise ValueError(
            "gradient_ratio got a table with repeated layer numbers, i.e. several models; "
            "pass one model's signal_propagation table"
        )
    ordered = table.sort_values("layer")
    first = float(ordered["weight_grad_norm"].iloc[0])
    last = float(ordered["weight_grad_norm"].iloc[-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(first) / np.float64(last))


def compare_schemes(
    schemes: Iterable[str | tuple[str, Mapping[str, object]]],
    hidden: Sequence[int],
    activation: str,
    probe_x: torch.Tensor,
    probe_y: torch.Tensor,
    seed: int = 0,
) -> pd.DataFrame:
    """Build one MLP per scheme, initialize it from `seed` and concatenate the signal_propagation tables.

    Each entry of `schemes` is a scheme name or a (name, options) pair, e.g.
    ("random", {"std": 0.01}). The `scheme` column contains the name, followed by the
    options in parentheses when there are any, e.g. "random(std=0.01)". Every model draws
    its weights from `torch.Generator().manual_seed(seed)`. A model-level scheme such as
    lsuv has no weight variance known before drawing, so its rows have NaN predictions.
    """
    tables = []
    labels = []
    for entry in schemes:
        name, options = (entry, {}) if isinstance(entry, str) else (entry[0], dict(entry[1]))
        label = _scheme_label(name, options)
        if label in labels:
            raise ValueError(f"scheme {label!r} is listed twice in compare_schemes; list each scheme once")
        labels.append(label)

        model = build_mlp(hidden, activation)
        initialize(model, name, torch.Generator().manual_seed(seed), **options)
        if get_scheme(name).model_level:
            table = signal_propagation(model, probe_x, probe_y)
        else:
            table = signal_propagation(model, probe_x, probe_y, scheme=name, scheme_options=options)
        table.insert(0, "scheme", label)
        tables.append(table)
    if not tables:
        raise ValueError("compare_schemes got no schemes; pass at least one name, e.g. ['xavier', 'he']")
    return pd.concat(tables, ignore_index=True)


def _scheme_label(name: str, options: Mapping[str, object]) -> str:
    """Return "name(key=value, ...)", writing a tensor option (lsuv's probe) as its shape."""
    if not options:
        return name
    parts = []
    for key, value in options.items():
        text = f"Tensor{tuple(value.shape)}" if isinstance(value, torch.Tensor) else str(value)
        parts.append(f"{key}={text}")
    return f"{name}({', '.join(parts)})"


# --- Model structure and inputs --------------------------------------------------------------


@dataclass(frozen=True)
class _Layer:
    """One Linear layer and the activation module after it (None for the output layer)."""

    linear: nn.Linear
    activation: nn.Module | None
    activation_name: str


@dataclass(frozen=True)
class _LayerPass:
    """Tensors of one layer from the probe pass, detached, float64."""

    preact: torch.Tensor  # h, shape (P, fan_out)
    act: torch.Tensor  # f(h), shape (P, fan_out); equal to h for the output layer
    weight_grad: torch.Tensor  # dL/dW, shape (fan_out, fan_in)
    preact_grad: torch.Tensor  # dL/dh, shape (P, fan_out)


def _activation_name(module: nn.Module) -> str | None:
    for name, activation_class in ACTIVATIONS.items():
        if isinstance(module, activation_class):
            return name
    return None


def _mlp_layers(model: nn.Sequential) -> list[_Layer]:
    """Split `model` into (Linear, activation) pairs, or raise ValueError naming the module that breaks the pattern."""
    expected = "Linear, activation, Linear, ..., Linear (as initlib.models.build_mlp builds it)"
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"signal_propagation expects an nn.Sequential of {expected}; got {type(model).__name__}")
    modules = list(model)
    if not modules or not isinstance(modules[-1], nn.Linear):
        raise ValueError(f"signal_propagation expects {expected}; the model's last module is not a Linear")

    layers = []
    for position, module in enumerate(modules):
        should_be_linear = position % 2 == 0
        if should_be_linear and not isinstance(module, nn.Linear):
            raise ValueError(
                f"signal_propagation expects {expected}; module {position} is {type(module).__name__}, not Linear"
            )
        if not should_be_linear:
            name = _activation_name(module)
            if name is None:
                raise ValueError(
                    f"signal_propagation expects {expected}; module {position} is {type(module).__name__}, "
                    f"not one of the activations {', '.join(ACTIVATIONS)}"
                )
            layers[-1] = _Layer(layers[-1].linear, module, name)
            continue
        if not module.weight.requires_grad:
            raise ValueError(
                f"the weight of module {position} has requires_grad=False, so its gradient cannot be measured; "
                "call model.requires_grad_(True) first"
            )
        layers.append(_Layer(module, None, "none"))
    return layers


def _checked_probe(layers: list[_Layer], x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return x and y on the model's device and dtype, or raise ValueError saying which shape or value is wrong."""
    first, last = layers[0].linear, layers[-1].linear
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != first.in_features:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"probe x must be a tensor of shape (P, {first.in_features}); got {shape}")
    if x.shape[0] < 2:
        raise ValueError(f"probe x has {x.shape[0]} example(s); variances need at least 2, use a batch of hundreds")
    if not isinstance(y, torch.Tensor) or y.shape != (x.shape[0],) or y.is_floating_point():
        description = f"{tuple(y.shape)} {y.dtype}" if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"probe y must be an integer tensor of shape ({x.shape[0]},) to match x; got {description}")
    if y.min() < 0 or y.max() >= last.out_features:
        raise ValueError(
            f"probe y has labels in [{int(y.min())}, {int(y.max())}]; the model has {last.out_features} "
            f"classes, so labels must lie in [0, {last.out_features - 1}]"
        )
    weight = first.weight
    return x.to(device=weight.device, dtype=weight.dtype), y.to(device=weight.device, dtype=torch.long)


def _weight_variances(
    layers: list[_Layer], scheme: str | None, scheme_options: Mapping[str, object] | None
) -> list[float] | None:
    """Return each layer's predicted weight variance under `scheme`, or None when no scheme is given."""
    if scheme is None:
        if scheme_options:
            raise ValueError("scheme_options were given without a scheme; pass scheme= too, or drop the options")
        return None

    options = dict(scheme_options or {})
    accepted = get_scheme(scheme).options()
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        valid = ", ".join(accepted) or "none"
        raise ValueError(f"scheme {scheme!r} got unknown option(s) {', '.join(unknown)}; valid options: {valid}")

    return [
        predicted_weight_variance(scheme, layer.linear.in_features, layer.linear.out_features, **options)
        for layer in layers
    ]


# --- Measurement -------------------------------------------------------------------------------


def _forward_backward(layers: list[_Layer], x: torch.Tensor, y: torch.Tensor) -> list[_LayerPass]:
    """Run the probe batch forward and the mean cross-entropy backward, without touching any .grad."""
    preacts, acts = [], []
    # enable_grad: callers may hold torch.no_grad(), which would leave no graph to differentiate.
    with torch.enable_grad():
        signal = x
        for layer in layers:
            preact = layer.linear(signal)
            if layer.activation is None:
                signal = preact
            else:
                # An in-place activation (nn.ReLU(inplace=True)) would overwrite the pre-activation we keep.
                signal = layer.activation(preact.clone())
            preacts.append(preact)
            acts.append(signal)
        loss = F.cross_entropy(signal, y)
        # autograd.grad returns the gradients instead of accumulating them into .grad.
        weights = [layer.linear.weight for layer in layers]
        gradients = torch.autograd.grad(loss, weights + preacts)

    weight_grads, preact_grads = gradients[: len(layers)], gradients[len(layers) :]
    return [
        _LayerPass(preact.detach().double(), act.detach().double(), weight_grad.double(), preact_grad.double())
        for preact, act, weight_grad, preact_grad in zip(preacts, acts, weight_grads, preact_grads)
    ]


def _measured_row(index: int, layer: _Layer, layer_pass: _LayerPass) -> dict[str, object]:
    is_output = layer.activation is None
    act = layer_pass.act
    act_var = math.nan if is_output else act.var(correction=0).item()
    return {
        "layer": index + 1,
        "kind": "output" if is_output else "hidden",
        "activation": layer.activation_name,
        "fan_in": layer.linear.in_features,
        "fan_out": layer.linear.out_features,
        "preact_var": layer_pass.preact.var(correction=0).item(),
        "act_var": act_var,
        "act_std": math.sqrt(act_var),
        "act_mean": math.nan if is_output else act.mean().item(),
        # A unit is dead when it outputs 0 for every probe example, so it passes back no gradient at all.
        "dead_fraction": act.eq(0).all(dim=0).double().mean().item() if layer.activation_name == "relu" else math.nan,
        "saturated_fraction": (
            act.abs().gt(TANH_SATURATION).double().mean().item() if layer.activation_name == "tanh" else math.nan
        ),
        "weight_grad_var": layer_pass.weight_grad.var(correction=0).item(),
        "weight_grad_norm": layer_pass.weight_grad.norm().item(),
        "act_grad_var": layer_pass.preact_grad.var(correction=0).item(),
    }


# --- Mean-field theory -------------------------------------------------------------------------


@dataclass(frozen=True)
class _GaussianMoments:
    """E[f(h)^2], E[f(h)] and E[f'(h)^2] for h ~ N(0, q), one entry per probe example."""

    second_moment: np.ndarray
    mean: np.ndarray
    derivative_second_moment: np.ndarray


def _relu_moments(q: np.ndarray) -> _GaussianMoments:
    return _GaussianMoments(q / 2, np.sqrt(q / (2 * math.pi)), np.full_like(q, 0.5))


def _tanh_moments(q: np.ndarray) -> _GaussianMoments:
    second_moment = _gaussian_expectation_per_example(lambda h: np.tanh(h) ** 2, q, value_beyond_clip=1.0)
    derivative_second_moment = _gaussian_expectation_per_example(
        lambda h: np.cosh(h) ** -4.0, q, value_beyond_clip=0.0
    )
    return _GaussianMoments(second_moment, np.zeros_like(q), derivative_second_moment)


_MOMENTS: dict[str, Callable[[np.ndarray], _GaussianMoments]] = {"relu": _relu_moments, "tanh": _tanh_moments}

# Beyond |h| = 20, tanh(h)^2 rounds to 1 in float64 (sech(20)^2 is about 1.7e-17) and sech(h)^4 is below 3e-34.
_CLIP = 20.0
_UNIT_GRID = np.linspace(-1.0, 1.0, 401)
# Largest step in log q between interpolation nodes. Linear interpolation of the smooth maps
# q -> E[tanh(h)^2] and q -> E[sech(h)^4] then errs by at most about 3e-4 (relative) for q
# in [1e-3, 1e4]; tests/test_diagnostics.py checks that it stays below 1e-3.
_LOG_Q_STEP = 0.05


def _gaussian_expectation(g: Callable[[np.ndarray], np.ndarray], q: np.ndarray, value_beyond_clip: float) -> np.ndarray:
    """Return E[g(h)] for h ~ N(0, q), elementwise over the 1-D array q > 0.

    The trapezoid rule covers |h| <= min(12 sqrt(q), 20). When 12 sqrt(q) > 20, the mass
    beyond 20 is added with g's value there; otherwise the mass beyond 12 standard
    deviations (below 4e-33) is dropped.
    """
    std = np.sqrt(q)
    half_width = np.minimum(12 * std, _CLIP)
    h = half_width[:, None] * _UNIT_GRID  # shape (len(q), 401)
    density = np.exp(-(h**2) / (2 * q[:, None])) / np.sqrt(2 * math.pi * q[:, None])
    inside = np.trapezoid(g(h) * density, h, axis=1)
    tail_mass = np.where(12 * std > _CLIP, special.erfc(_CLIP / (std * math.sqrt(2))), 0.0)
    return inside + value_beyond_clip * tail_mass


def _gaussian_expectation_per_example(
    g: Callable[[np.ndarray], np.ndarray], q: np.ndarray, value_beyond_clip: float
) -> np.ndarray:
    """Return E[g(h)], h ~ N(0, q_p), for every entry q_p of q, interpolating in log q when that is cheaper."""
    # Clamping q = 0 (an all-zero example) to the smallest float64 gives g(0) to float precision.
    q = np.maximum(q, np.finfo(np.float64).tiny)
    log_q = np.log(q)
    node_count = int(math.ceil((log_q.max() - log_q.min()) / _LOG_Q_STEP)) + 2
    if node_count >= len(q):
        return _gaussian_expectation(g, q, value_beyond_clip)
    log_nodes = np.linspace(log_q.min(), log_q.max(), node_count)
    values = _gaussian_expectation(g, np.exp(log_nodes), value_beyond_clip)
    return np.interp(log_q, log_nodes, values)


def _bias_moments(linear: nn.Linear) -> tuple[float, float]:
    """Return mean_j b_j^2 and mean_j b_j of the layer's bias, both 0 when it has none."""
    if linear.bias is None:
        return 0.0, 0.0
    bias = linear.bias.detach().double()
    return bias.pow(2).mean().item(), bias.mean().item()


def _predicted_columns(
    layers: list[_Layer], sigma2: list[float], x: torch.Tensor, passes: list[_LayerPass]
) -> dict[str, list[float]]:
    """Run the forward and backward mean-field recursions and return the predicted columns, one entry per layer."""
    for layer in layers[:-1]:
        if layer.activation_name not in _MOMENTS:
            raise ValueError(
                f"no mean-field moments for activation {layer.activation_name!r}; "
                f"predictions support {', '.join(_MOMENTS)}, or pass scheme=None for measurements only"
            )

    # Forward: q has one entry per probe example, shape (P,).
    input_second_moment = x.detach().double().pow(2).mean(dim=1).cpu().numpy()
    previous_second_moment = input_second_moment
    measured_previous_second_moment = float(input_second_moment.mean())
    preact_var, local_preact_var, act_var = [], [], []
    moments: list[_GaussianMoments | None] = []
    for layer, layer_sigma2, layer_pass in zip(layers, sigma2, passes):
        # fan_in * sigma2: the factor by which the layer's weights multiply the input's second moment.
        weight_factor = layer.linear.in_features * layer_sigma2
        bias_second_moment, bias_mean = _bias_moments(layer.linear)
        q = weight_factor * previous_second_moment + bias_second_moment
        # The measured variance is pooled over units, so it excludes the grand mean, which is mean_j b_j in expectation.
        preact_var.append(float(q.mean()) - bias_mean**2)
        local_preact_var.append(weight_factor * measured_previous_second_moment + bias_second_moment - bias_mean**2)
        measured_previous_second_moment = layer_pass.act.pow(2).mean().item()

        if layer.activation is None:
            act_var.append(math.nan)
            moments.append(None)
            continue
        layer_moments = _MOMENTS[layer.activation_name](q)
        act_var.append(float(layer_moments.second_moment.mean() - layer_moments.mean.mean() ** 2))
        moments.append(layer_moments)
        previous_second_moment = layer_moments.second_moment

    # Backward: s has one entry per probe example, shape (P,), started from the measured logit gradient.
    s = passes[-1].preact_grad.pow(2).mean(dim=1).cpu().numpy()
    act_grad_var = [math.nan] * len(layers)
    for index in range(len(layers) - 2, -1, -1):
        above = layers[index + 1].linear
        s = above.out_features * sigma2[index + 1] * moments[index].derivative_second_moment * s
        act_grad_var[index] = float(s.mean())

    return {
        "predicted_preact_var": preact_var,
        "local_predicted_preact_var": local_preact_var,
        "predicted_act_var": act_var,
        "predicted_act_grad_var": act_grad_var,
    }
