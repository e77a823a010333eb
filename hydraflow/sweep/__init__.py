"""The extended sweep grammar: pure Python, no Hydra or MLflow imports.

``expand(["a=1:3", "b=x,y"])`` returns a lazy :class:`Sweep` of jobs, each a list of plain Hydra
overrides. See ``docs/sweep-syntax.md`` for the grammar.
"""

from __future__ import annotations

from hydraflow.sweep import limits
from hydraflow.sweep.core import Sweep, expand
from hydraflow.sweep.decimals import format_number, parse_suffixed
from hydraflow.sweep.errors import SweepSyntaxError
from hydraflow.sweep.native import NativeExpander

__all__ = [
    "NativeExpander",
    "Sweep",
    "SweepSyntaxError",
    "expand",
    "format_number",
    "limits",
    "parse_suffixed",
]
