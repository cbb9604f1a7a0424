"""pyproject.toml (pip) and environment.yml (conda) pin the same package versions."""

import re
import tomllib

from initlib.paths import REPO_ROOT

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)$")


def pins(lines):
    found = {}
    for line in lines:
        match = PIN.match(line.strip())
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


def test_pip_and_conda_pins_agree():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    pip_pins = pins(project["project"]["dependencies"])
    conda_lines = [line.strip().removeprefix("- ") for line in (REPO_ROOT / "environment.yml").read_text().splitlines()]
    conda_pins = pins(conda_lines)
    assert pip_pins == conda_pins


def test_every_dependency_is_pinned():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    unpinned = [d for d in project["project"]["dependencies"] if not PIN.match(d)]
    assert unpinned == []


def test_torch_pins_are_the_supported_pair():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    pip_pins = pins(project["project"]["dependencies"])
    assert pip_pins["torch"] == "2.14.1"
    assert pip_pins["torchvision"] == "0.29.1"
