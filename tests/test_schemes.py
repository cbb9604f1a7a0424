"""The initialization registry against its documented formulas and torch.nn.init."""

import pytest
import torch
from torch import nn

from initlib.models import build_mlp
from initlib.schemes import SCHEMES, UnknownNameError, get_scheme, initialize, predicted_weight_variance

# (fan_out, fan_in) of a large weight: 500k entries make the sample std accurate to well under 1%.
LARGE = (512, 1024)


def draw(name: str, shape=LARGE, seed: int = 0, **options) -> torch.Tensor:
    weight = torch.empty(shape)
    get_scheme(name).init_weight(weight, torch.Generator().manual_seed(seed), **options)
    return weight


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_scheme_std_matches_formula(name):
    weight = draw(name)
    fan_out, fan_in = LARGE
    expected_std = predicted_weight_variance(name, fan_in, fan_out) ** 0.5
    assert abs(weight.std().item() / expected_std - 1) < 0.03
    assert abs(weight.mean().item()) < 0.03 * expected_std


def test_random_std_option_scales_draw():
    weight = draw("random", std=0.01)
    assert abs(weight.std().item() / 0.01 - 1) < 0.03
    assert predicted_weight_variance("random", 10, 10, std=0.01) == pytest.approx(1e-4)


def test_xavier_bound_matches_formula():
    fan_out, fan_in = LARGE
    bound = (6 / (fan_in + fan_out)) ** 0.5
    weight = draw("xavier")
    assert weight.abs().max().item() <= bound
    assert weight.abs().max().item() > 0.99 * bound


@pytest.mark.parametrize(
    "name, reference",
    [
        ("random", lambda w, g: nn.init.normal_(w, 0.0, 1.0, generator=g)),
        ("xavier", lambda w, g: nn.init.xavier_uniform_(w, gain=1.0, generator=g)),
        ("he", lambda w, g: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu", generator=g)),
        ("orthogonal", lambda w, g: nn.init.orthogonal_(w, gain=1.0, generator=g)),
    ],
)
def test_scheme_equals_torch_init(name, reference):
    expected = torch.empty(128, 784)
    reference(expected, torch.Generator().manual_seed(3))
    assert torch.equal(draw(name, (128, 784), seed=3), expected)


@pytest.mark.parametrize("shape", [(128, 784), (784, 128)])
def test_orthogonal_is_orthonormal(shape):
    weight = draw("orthogonal", shape)
    small = min(shape)
    gram = weight @ weight.T if shape[0] <= shape[1] else weight.T @ weight
    assert torch.allclose(gram, torch.eye(small), atol=1e-5)


def test_initialize_sets_every_parameter():
    model = build_mlp((128, 64))
    touched = initialize(model, "he", torch.Generator().manual_seed(0))
    assert touched == [name for name, _ in model.named_parameters()]
    for name, param in model.named_parameters():
        if name.endswith("bias"):
            assert torch.count_nonzero(param) == 0, name


def test_initialize_same_seed_same_weights():
    first, second = build_mlp(), build_mlp()
    initialize(first, "xavier", torch.Generator().manual_seed(5))
    initialize(second, "xavier", torch.Generator().manual_seed(5))
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)


def test_initialize_rejects_unknown_parameter_kind():
    model = build_mlp((16,))
    model.register_parameter("scale", nn.Parameter(torch.ones(16)))
    with pytest.raises(ValueError, match="'scale'"):
        initialize(model, "he", torch.Generator())


def test_unknown_scheme_lists_valid_names():
    with pytest.raises(UnknownNameError, match="valid names: random, xavier, he, orthogonal"):
        get_scheme("kaiming")


def test_unknown_scheme_option_names_option():
    with pytest.raises(ValueError, match="unknown option.*gain"):
        initialize(build_mlp((8,)), "he", torch.Generator(), gain=2.0)
