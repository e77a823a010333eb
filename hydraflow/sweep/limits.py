"""The documented limits of the sweep grammar, in one place (see ``docs/sweep-syntax.md#limits-and-errors``).

Each limit refuses, with a :class:`~hydraflow.sweep.SweepSyntaxError` at the column of the problem, only what
cannot be computed exactly and cheaply. Counting a sweep never enumerates it, whatever its size.
"""

from __future__ import annotations

MAX_EXPONENT = 300
"""Largest power of ten a number the grammar computes with may carry (doubles end near 1e308)."""

MAX_DIGITS = 100
"""Most significant digits of a number the grammar computes with (a range needs them for every value)."""

MAX_EXPONENT_TEXT = 6
"""Most digits the exponent of a number may be written with before it is refused unread (``1e999999999``)."""

MAX_NESTING = 50
"""Deepest nesting of parentheses, brackets and braces in one argument."""

CHECK_LIMIT = 65_536
"""Largest product of joined values that is enumerated when the sweep is parsed to check its numbers, when its
shape alone does not prove them within the limits."""

ENUMERATE_LIMIT = 100_000
"""Most values of a Hydra function computed one by one up front: ``sort()``/``shuffle()`` of a range (Hydra
builds the whole list) and a float ``range()`` whose step is not exact in Hydra's 28-digit arithmetic."""

__all__ = ["CHECK_LIMIT", "ENUMERATE_LIMIT", "MAX_DIGITS", "MAX_EXPONENT", "MAX_EXPONENT_TEXT", "MAX_NESTING"]
