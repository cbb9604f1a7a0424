"""Notebook parameter validation: unambiguous coercions, and errors that name the parameter."""

import pytest

from initlib.params import InvalidParameterError, validate_params

BASE = {"init": "he", "seeds": [0], "epochs": 2}


def validate(**changes):
    return validate_params(**{**BASE, **changes})


@pytest.mark.parametrize(
    "changes, field, expected",
    [
        ({"epochs": "10"}, "epochs", 10),
        ({"epochs": 10.0}, "epochs", 10),
        ({"lr": "1e-3"}, "lr", 0.001),
        ({"lr": 1}, "lr", 1.0),
        ({"hidden": "[256, 128]"}, "hidden", (256, 128)),
        ({"hidden": [256, "128"]}, "hidden", (256, 128)),
        ({"hidden": []}, "hidden", ()),
        ({"seeds": "[0, 1, 2]"}, "seeds", (0, 1, 2)),
        ({"seeds": 3}, "seeds", (3,)),
        ({"normalize": "True"}, "normalize", True),
        ({"init_options": '{"std": 0.01}', "init": "random"}, "init_options", {"std": 0.01}),
        ({"train_subset": "0"}, "train_subset", 0),
    ],
)
def test_unambiguous_values_are_coerced(changes, field, expected):
    assert getattr(validate(**changes), field) == expected


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"epochs": 0}, "'epochs' must be >= 1"),
        ({"epochs": -3}, "'epochs' must be >= 1"),
        ({"epochs": 2.5}, "'epochs' must be an integer"),
        ({"epochs": "ten"}, "'epochs' must be an integer"),
        ({"epochs": True}, "'epochs' must be an integer"),
        ({"batch_size": 0}, "'batch_size' must be >= 1"),
        ({"lr": 0}, "'lr' must be a finite number > 0"),
        ({"lr": -1e-3}, "'lr' must be a finite number > 0"),
        ({"lr": "fast"}, "'lr' must be a number"),
        ({"lr": float("nan")}, "'lr' must be a finite number > 0"),
        ({"seeds": []}, "'seeds' must not be empty"),
        ({"seeds": "[]"}, "'seeds' must not be empty"),
        ({"seeds": [0, 0]}, "'seeds' has repeated values"),
        ({"seeds": [-1]}, r"'seeds\[0\]' must be >= 0"),
        ({"hidden": "256, 128"}, "'hidden' must be a list of integers"),
        ({"hidden": [0]}, r"'hidden\[0\]' must be >= 1"),
        ({"init": "kaiming"}, "'init' must be one of random, xavier, he, orthogonal"),
        ({"activation": "gelu"}, "'activation' must be one of relu, tanh"),
        ({"optimizer": "rmsprop"}, "'optimizer' must be one of adam, sgd"),
        ({"init_options": {"gain": 2}}, "does not take; valid options: none"),
        ({"device": "tpu"}, "'device' must be 'auto', 'cpu' or 'cuda"),
        ({"run_name": "../x"}, "'run_name' must be a plain folder name"),
        ({"epoch": 3}, "unknown parameter.*epoch"),
    ],
)
def test_invalid_values_name_the_parameter(changes, message):
    with pytest.raises(InvalidParameterError, match=message):
        validate(**changes)


def test_required_parameters_missing():
    with pytest.raises(InvalidParameterError, match="'init', 'seeds' and 'epochs' are required"):
        validate_params(init="he")


def test_run_name_defaults_to_scheme():
    assert validate().name == "he"
    assert validate(run_name="he-deep").name == "he-deep"
