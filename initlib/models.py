"""The feedforward network of the study: 784 inputs, hidden Linear+activation layers, 10 logits."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from initlib.schemes import UnknownNameError

IN_FEATURES = 28 * 28
NUM_CLASSES = 10

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
}


def get_activation(name: str) -> type[nn.Module]:
    """Return the activation class `name`, or raise UnknownNameError listing the valid names."""
    if name not in ACTIVATIONS:
        raise UnknownNameError(f"unknown activation {name!r}; valid names: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def build_mlp(
    hidden: Sequence[int] = (128, 64),
    activation: str = "relu",
    in_features: int = IN_FEATURES,
    out_features: int = NUM_CLASSES,
) -> nn.Sequential:
    """Build Linear(in, h1), act, ..., Linear(h_k, out); the output is logits (no softmax).

    The reproduced 2026 MNIST study gives two hidden ReLU layers but not their widths, so (128, 64)
    is our default.
    Weights keep nn.Linear's own initialization until a scheme from initlib.schemes is applied.
    """
    activation_class = get_activation(activation)
    widths = [in_features, *hidden]
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(fan_in, fan_out), activation_class()]
    layers.append(nn.Linear(widths[-1], out_features))
    return nn.Sequential(*layers)


def linear_layers(model: nn.Sequential) -> list[nn.Linear]:
    """Return the Linear layers of an MLP built by build_mlp, input side first."""
    return [module for module in model if isinstance(module, nn.Linear)]
