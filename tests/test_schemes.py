"""The initialization registry against its documented formulas and torch.nn.init."""

import math

import pytest
import torch
from torch import nn

from initlib.models import build_mlp, linear_layers
from initlib.schemes import (
    LSUV_PROBE_SIZE,
    SCHEMES,
    UnknownNameError,
    get_scheme,
    initialize,
    predicted_weight_variance,
    register,
)

# (fan_out, fan_in) of a large weight: 500k entries make the sample std accurate to well under 1%.
LARGE = (512, 1024)


def draw(name: str, shape=LARGE, seed: int = 0, **options) -> torch.Tensor:
    weight = torch.empty(shape)
    get_scheme(name).init_weight(weight, torch.Generator().manual_seed(seed), **options)
    return weight


# Per-weight schemes with a nonzero variance: "zeros" and the data-dependent "lsuv" are tested apart.
DRAWN_SCHEMES = sorted(name for name, scheme in SCHEMES.items() if not scheme.model_level and name != "zeros")


# one OpenMP thread: with two, a busy 2-core machine slowed these small products 5-60x
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def probe(mnist_small):
    """The first LSUV_PROBE_SIZE MNIST training images, the batch lsuv loads when given none."""
    return mnist_small.train_x[:LSUV_PROBE_SIZE]


def scheme_options(name: str, probe: torch.Tensor) -> dict:
    """Return the options `initialize` needs for scheme `name` in a test: lsuv gets the probe batch."""
    return {"probe": probe} if name == "lsuv" else {}


@pytest.mark.parametrize("name", DRAWN_SCHEMES)
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


@pytest.mark.parametrize(
    "name, bound",
    [
        ("xavier", lambda fan_in, fan_out: (6 / (fan_in + fan_out)) ** 0.5),
        ("he_uniform", lambda fan_in, fan_out: (6 / fan_in) ** 0.5),
        ("torch_default", lambda fan_in, fan_out: fan_in**-0.5),
        ("trunc_normal", lambda fan_in, fan_out: 2 * (2 / fan_in) ** 0.5),
    ],
)
def test_bounded_scheme_reaches_bound(name, bound):
    fan_out, fan_in = LARGE
    weight = draw(name)
    assert weight.abs().max().item() <= bound(fan_in, fan_out)
    assert weight.abs().max().item() > 0.99 * bound(fan_in, fan_out)


def test_trunc_normal_std_option_sets_bounds():
    weight = draw("trunc_normal", std=0.05)
    assert weight.abs().max().item() <= 0.1
    assert abs(weight.std().item() / (0.05 * 0.774**0.5) - 1) < 0.03


def test_trunc_normal_rejects_nonpositive_std():
    with pytest.raises(ValueError, match="std=0"):
        draw("trunc_normal", std=0)


def test_zeros_draws_all_zero_weights():
    assert torch.count_nonzero(draw("zeros")) == 0


def test_zeros_predicts_zero_variance():
    assert predicted_weight_variance("zeros", 784, 128) == 0.0


@pytest.mark.parametrize(
    "name, reference",
    [
        ("random", lambda w, g: nn.init.normal_(w, 0.0, 1.0, generator=g)),
        ("xavier", lambda w, g: nn.init.xavier_uniform_(w, gain=1.0, generator=g)),
        ("he", lambda w, g: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu", generator=g)),
        ("orthogonal", lambda w, g: nn.init.orthogonal_(w, gain=1.0, generator=g)),
        ("lecun", lambda w, g: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="linear", generator=g)),
        ("xavier_normal", lambda w, g: nn.init.xavier_normal_(w, gain=1.0, generator=g)),
        ("he_uniform", lambda w, g: nn.init.kaiming_uniform_(w, mode="fan_in", nonlinearity="relu", generator=g)),
        ("he_fan_out", lambda w, g: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", generator=g)),
        ("orthogonal_relu", lambda w, g: nn.init.orthogonal_(w, gain=math.sqrt(2), generator=g)),
        # trunc_normal_ takes absolute bounds: +-2 std with He's std sqrt(2 / 784).
        ("trunc_normal", lambda w, g: nn.init.trunc_normal_(
            w, 0.0, (2 / 784) ** 0.5, -2 * (2 / 784) ** 0.5, 2 * (2 / 784) ** 0.5, generator=g
        )),
        ("torch_default", lambda w, g: nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)),
        ("random_small", lambda w, g: nn.init.normal_(w, 0.0, 0.01, generator=g)),
        ("zeros", lambda w, g: nn.init.zeros_(w)),
    ],
)
def test_scheme_equals_torch_init(name, reference):
    expected = torch.empty(128, 784)
    reference(expected, torch.Generator().manual_seed(3))
    assert torch.equal(draw(name, (128, 784), seed=3), expected)


@pytest.mark.parametrize("name, gain", [("orthogonal", 1.0), ("orthogonal_relu", math.sqrt(2))])
@pytest.mark.parametrize("shape", [(128, 784), (784, 128)])
def test_orthogonal_is_orthonormal(name, gain, shape):
    weight = draw(name, shape)
    small = min(shape)
    gram = weight @ weight.T if shape[0] <= shape[1] else weight.T @ weight
    assert torch.allclose(gram, gain**2 * torch.eye(small), atol=1e-5 * gain**2)


def test_initialize_sets_every_parameter():
    model = build_mlp((128, 64))
    touched = initialize(model, "he", torch.Generator().manual_seed(0))
    assert touched == [name for name, _ in model.named_parameters()]
    for name, param in model.named_parameters():
        if name.endswith("bias"):
            assert torch.count_nonzero(param) == 0, name


@pytest.mark.parametrize("name", list(SCHEMES))
def test_initialize_sets_every_weight(name, probe):
    model = build_mlp((128, 64))
    for param in model.parameters():
        nn.init.constant_(param, math.nan)  # a parameter the scheme skips stays NaN
    touched = initialize(model, name, torch.Generator().manual_seed(0), **scheme_options(name, probe))
    assert touched == [param_name for param_name, _ in model.named_parameters()]
    for param_name, param in model.named_parameters():
        assert not param.isnan().any(), param_name


@pytest.mark.parametrize("name", list(SCHEMES))
def test_initialize_follows_bias_policy(name, probe):
    model = build_mlp((128, 64))
    initialize(model, name, torch.Generator().manual_seed(0), **scheme_options(name, probe))
    for index, layer in enumerate(linear_layers(model)):
        if get_scheme(name).bias == "zeros":
            assert torch.count_nonzero(layer.bias) == 0, index
        else:
            bound = layer.in_features**-0.5
            assert layer.bias.abs().max().item() <= bound, index
            assert layer.bias.abs().max().item() > 0.5 * bound, index


def test_torch_default_equals_nn_linear():
    with torch.random.fork_rng():
        torch.manual_seed(7)  # nn.Linear draws from the global RNG when it is built
        expected = build_mlp((128, 64))
    model = build_mlp((128, 64))
    initialize(model, "torch_default", torch.Generator().manual_seed(7))
    for (param_name, param), reference in zip(model.named_parameters(), expected.parameters()):
        assert torch.equal(param, reference), param_name


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


def test_register_rejects_unknown_bias_policy():
    with pytest.raises(ValueError, match="bias policy 'ones'"):
        register("ones_bias", formula="W = 0", variance=lambda fan_in, fan_out: 0.0, bias="ones")(
            lambda weight, generator: None
        )
    assert "ones_bias" not in SCHEMES


def test_fan_in_uniform_bias_needs_weight():
    model = nn.Sequential(nn.Linear(4, 3))
    model.register_module("shift", nn.Module())
    model.shift.register_parameter("bias", nn.Parameter(torch.ones(3)))
    with pytest.raises(ValueError, match="'shift.weight'"):
        initialize(model, "torch_default", torch.Generator())


# --- lsuv: data-dependent, so it is checked on a real MNIST batch instead of a formula ----


def lsuv_model(seed: int, probe: torch.Tensor, **options) -> nn.Sequential:
    model = build_mlp((128, 64))
    initialize(model, "lsuv", torch.Generator().manual_seed(seed), probe=probe, **options)
    return model


def linear_output_variances(model: nn.Sequential, probe: torch.Tensor) -> list[float]:
    """Return the variance of every Linear layer's output (pre-activation) on `probe`."""
    outputs = []
    with torch.no_grad():
        x = probe
        for module in model:
            x = module(x)
            if isinstance(module, nn.Linear):
                outputs.append(x.double().var().item())
    return outputs


def test_lsuv_unit_output_variance(probe):
    variances = linear_output_variances(lsuv_model(0, probe), probe)
    assert len(variances) == 3
    for index, variance in enumerate(variances):
        assert abs(variance - 1) < 0.1, (index, variance)


def test_lsuv_tol_option_tightens_variance(probe):
    variances = linear_output_variances(lsuv_model(0, probe, tol=1e-3), probe)
    for index, variance in enumerate(variances):
        assert abs(variance - 1) < 1e-3, (index, variance)


def test_lsuv_changes_orthogonal_scale(probe):
    orthogonal = build_mlp((128, 64))
    initialize(orthogonal, "orthogonal", torch.Generator().manual_seed(0))
    assert abs(linear_output_variances(orthogonal, probe)[0] - 1) > 0.1  # otherwise the ratio check passes trivially
    rescaled = lsuv_model(0, probe)
    ratio = linear_layers(rescaled)[0].weight / linear_layers(orthogonal)[0].weight
    assert torch.allclose(ratio, ratio.flatten()[0].expand_as(ratio))


@pytest.mark.parametrize("training", [True, False])
def test_lsuv_restores_train_mode(probe, training):
    model = build_mlp((128, 64)).train(training)
    initialize(model, "lsuv", torch.Generator().manual_seed(0), probe=probe)
    assert [module.training for module in model.modules()] == [training] * len(list(model.modules()))


def test_lsuv_same_seed_same_weights(probe):
    first, second = lsuv_model(4, probe), lsuv_model(4, probe)
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)


def test_lsuv_other_seed_other_weights(probe):
    first, second = lsuv_model(4, probe), lsuv_model(5, probe)
    assert not torch.equal(linear_layers(first)[0].weight, linear_layers(second)[0].weight)


def test_lsuv_default_probe_loads_mnist(probe):
    model = build_mlp((128, 64))
    initialize(model, "lsuv", torch.Generator().manual_seed(0))
    for a, b in zip(model.parameters(), lsuv_model(0, probe).parameters()):
        assert torch.equal(a, b)


def test_lsuv_rejects_number_probe():
    with pytest.raises(ValueError, match="probe must be a tensor batch.*got 3.0"):
        initialize(build_mlp((8,)), "lsuv", torch.Generator(), probe=3.0)


def test_lsuv_rejects_non_linear_weight(probe):
    model = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(1352, 10))
    with pytest.raises(ValueError, match="'1.weight'"):
        initialize(model, "lsuv", torch.Generator(), probe=probe)


def test_lsuv_rejects_constant_probe():
    with pytest.raises(ValueError, match="output variance on the probe is 0"):
        initialize(build_mlp((8,)), "lsuv", torch.Generator(), probe=torch.zeros(4, 784))


def test_lsuv_options_list_probe():
    assert set(get_scheme("lsuv").options()) == {"probe", "tol", "max_iter"}


def test_lsuv_variance_is_not_predicted():
    with pytest.raises(ValueError, match="'lsuv' has no weight variance known before drawing"):
        predicted_weight_variance("lsuv", 784, 128)


def test_lsuv_rejects_fractional_max_iter(probe):
    with pytest.raises(ValueError, match="max_iter must be an integer >= 1, got 2.5"):
        initialize(build_mlp((8,)), "lsuv", torch.Generator(), probe=probe, max_iter=2.5)
