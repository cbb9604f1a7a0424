"""Validate and coerce notebook parameters into a RunConfig, with errors that name the parameter.

papermill injects `-p` values as ints, floats, booleans or strings, so "10", "1e-3" and
"[256, 128]" arrive as text. Only unambiguous coercions happen: a string that parses as
the expected type, or a float with an integral value for an integer. Anything else
raises InvalidParameterError naming the parameter, the value and what is expected.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

from initlib.models import ACTIVATIONS
from initlib.optim import OPTIMIZERS
from initlib.schemes import SCHEMES, get_scheme


class InvalidParameterError(ValueError):
    """A notebook parameter has an invalid type or value."""


@dataclass(frozen=True)
class RunConfig:
    """The validated configuration of one initializer run (one scheme, one or more seeds)."""

    init: str
    seeds: tuple[int, ...]
    epochs: int
    init_options: dict = field(default_factory=dict)
    order_seed: int = 0
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    hidden: tuple[int, ...] = (128, 64)
    activation: str = "relu"
    normalize: bool = False
    train_subset: int = 0
    test_subset: int = 0
    eval_interval: int = 0
    monitor_interval: int = 100
    device: str = "auto"
    results_dir: str = "data/results/quick"
    run_name: str = ""

    @property
    def name(self) -> str:
        """Return the run's folder name: run_name, or the scheme name when run_name is empty."""
        return self.run_name or self.init

    def to_dict(self) -> dict:
        """Return the configuration as JSON-ready plain values."""
        values = asdict(self)
        values["seeds"] = list(self.seeds)
        values["hidden"] = list(self.hidden)
        return values


def _parse_text(name: str, value: object) -> object:
    """Parse a string as JSON when it looks like a number, list, object or boolean; else return it."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return float(text)  # covers "1e-3", which JSON rejects
    except ValueError:
        return value


def to_int(name: str, value: object, minimum: int | None = None) -> int:
    """Return `value` as an int: ints, integral floats and strings of either are accepted."""
    parsed = _parse_text(name, value)
    if isinstance(parsed, bool) or not isinstance(parsed, (int, float)):
        raise InvalidParameterError(f"parameter {name!r} must be an integer, got {value!r}")
    if isinstance(parsed, float) and not (math.isfinite(parsed) and parsed.is_integer()):
        raise InvalidParameterError(f"parameter {name!r} must be an integer, got {value!r}")
    parsed = int(parsed)
    if minimum is not None and parsed < minimum:
        raise InvalidParameterError(f"parameter {name!r} must be >= {minimum}, got {value!r}")
    return parsed


def to_positive_float(name: str, value: object) -> float:
    """Return `value` as a finite float > 0."""
    parsed = _parse_text(name, value)
    if isinstance(parsed, bool) or not isinstance(parsed, (int, float)):
        raise InvalidParameterError(f"parameter {name!r} must be a number, got {value!r}")
    parsed = float(parsed)
    if not (math.isfinite(parsed) and parsed > 0):
        raise InvalidParameterError(f"parameter {name!r} must be a finite number > 0, got {value!r}")
    return parsed


def to_bool(name: str, value: object) -> bool:
    """Return `value` as a bool: True/False or the strings "true"/"false" in any case."""
    parsed = _parse_text(name, value)
    if not isinstance(parsed, bool):
        raise InvalidParameterError(f"parameter {name!r} must be True or False, got {value!r}")
    return parsed


def to_int_list(name: str, value: object, minimum: int, allow_empty: bool = False) -> tuple[int, ...]:
    """Return `value` (a list, tuple or its JSON text such as "[256, 128]") as a tuple of ints."""
    parsed = _parse_text(name, value)
    if isinstance(parsed, (int, float)) and not isinstance(parsed, bool):
        parsed = [parsed]  # one bare number is a one-element list
    if not isinstance(parsed, (list, tuple)):
        raise InvalidParameterError(f"parameter {name!r} must be a list of integers such as [0, 1], got {value!r}")
    if not parsed and not allow_empty:
        raise InvalidParameterError(f"parameter {name!r} must not be empty, got {value!r}")
    return tuple(to_int(f"{name}[{i}]", item, minimum) for i, item in enumerate(parsed))


def to_choice(name: str, value: object, choices) -> str:
    """Return `value` if it is one of `choices`, else raise listing the valid names."""
    if not isinstance(value, str) or value not in choices:
        raise InvalidParameterError(f"parameter {name!r} must be one of {', '.join(choices)}; got {value!r}")
    return value


def to_options(name: str, value: object, scheme: str) -> dict:
    """Return the scheme's keyword options as a dict of numbers, checked against the scheme's signature."""
    parsed = _parse_text(name, value) if value not in (None, "") else {}
    if not isinstance(parsed, dict):
        raise InvalidParameterError(f"parameter {name!r} must be a dict such as {{\"std\": 0.01}}, got {value!r}")
    accepted = get_scheme(scheme).options()
    unknown = sorted(set(parsed) - set(accepted))
    if unknown:
        raise InvalidParameterError(
            f"parameter {name!r} has option(s) {', '.join(unknown)} that scheme {scheme!r} does not take; "
            f"valid options: {', '.join(accepted) or 'none'}"
        )
    return {key: to_positive_float(f"{name}[{key!r}]", item) for key, item in parsed.items()}


def validate_params(**raw: object) -> RunConfig:
    """Return a RunConfig from raw notebook parameters, raising InvalidParameterError on any bad value.

    Unknown parameter names are rejected too, so a typo never silently falls back to a default.
    """
    known = set(RunConfig.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidParameterError(f"unknown parameter(s) {', '.join(unknown)}; valid names: {', '.join(sorted(known))}")
    defaults = RunConfig.__dataclass_fields__
    get = lambda key: raw[key] if key in raw else defaults[key].default  # noqa: E731

    if "init" not in raw or "seeds" not in raw or "epochs" not in raw:
        raise InvalidParameterError("parameters 'init', 'seeds' and 'epochs' are required")
    init = to_choice("init", raw["init"], list(SCHEMES))
    options = to_options("init_options", raw.get("init_options", {}), init)
    device = get("device")
    if not isinstance(device, str) or not (device in ("auto", "cpu") or device.startswith("cuda")):
        raise InvalidParameterError(f"parameter 'device' must be 'auto', 'cpu' or 'cuda[:index]', got {device!r}")
    for key in ("results_dir", "run_name"):
        if not isinstance(get(key), str):
            raise InvalidParameterError(f"parameter {key!r} must be a string, got {get(key)!r}")
    if get("run_name") and any(c in get("run_name") for c in "/\\") or get("run_name") in (".", ".."):
        raise InvalidParameterError(f"parameter 'run_name' must be a plain folder name, got {get('run_name')!r}")

    seeds = to_int_list("seeds", raw["seeds"], minimum=0)
    if len(set(seeds)) != len(seeds):
        raise InvalidParameterError(f"parameter 'seeds' has repeated values: {list(seeds)}")
    return RunConfig(
        init=init,
        seeds=seeds,
        epochs=to_int("epochs", raw["epochs"], minimum=1),
        init_options=options,
        order_seed=to_int("order_seed", get("order_seed"), minimum=0),
        batch_size=to_int("batch_size", get("batch_size"), minimum=1),
        lr=to_positive_float("lr", get("lr")),
        optimizer=to_choice("optimizer", get("optimizer"), OPTIMIZERS),
        hidden=to_int_list("hidden", get("hidden"), minimum=1, allow_empty=True),
        activation=to_choice("activation", get("activation"), list(ACTIVATIONS)),
        normalize=to_bool("normalize", get("normalize")),
        train_subset=to_int("train_subset", get("train_subset"), minimum=0),
        test_subset=to_int("test_subset", get("test_subset"), minimum=0),
        eval_interval=to_int("eval_interval", get("eval_interval"), minimum=0),
        monitor_interval=to_int("monitor_interval", get("monitor_interval"), minimum=0),
        device=device,
        results_dir=get("results_dir"),
        run_name=get("run_name"),
    )
