"""Run the doctests of the grammar's modules (without changing the global pytest options)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "hydraflow.sweep.core",
    "hydraflow.sweep.decimals",
    "hydraflow.sweep.errors",
    "hydraflow.sweep.hydra_range",
    "hydraflow.sweep.parser",
    "hydraflow.sweep.seq",
    "hydraflow.sweep.shapes",
    "hydraflow.hydra_adapter.native",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no doctests"
    assert result.failed == 0
