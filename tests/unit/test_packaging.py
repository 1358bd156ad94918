"""The declared dependency floors are the versions the minimum-versions CI run installs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / ".ci" / "constraints-minimum.txt"


def _pins() -> Dict[str, Version]:
    pins: Dict[str, Version] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"{CONSTRAINTS.name}: pin with ==, not {line!r}"
            pins[canonicalize_name(requirement.name)] = Version(spec.version)
    return pins


def _floors(requirements: List[str]) -> Dict[str, Version]:
    floors: Dict[str, Version] = {}
    for text in requirements:
        requirement = Requirement(text)
        lower = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
        assert lower, f"pyproject.toml: {text!r} declares no minimum version (>=)"
        floors[canonicalize_name(requirement.name)] = max(lower)
    return floors


@pytest.mark.skipif(sys.version_info < (3, 11), reason="reads pyproject.toml with tomllib (3.11+)")
def test_minimum_constraints_pin_every_declared_runtime_floor() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _floors(project["dependencies"] + project["optional-dependencies"]["api"])
    assert _pins() == declared
