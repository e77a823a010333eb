"""Values of parsed configs: dotted-key lookup, flattening, hashable stand-ins, and the MISSING sentinel.

Pure functions on plain dicts and lists, shared by :class:`~hydraflow.analysis.Run`,
:class:`~hydraflow.analysis.RunCollection` and the table of ``hydraflow runs``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, cast

__all__ = ["MISSING", "flatten_dict", "lookup_plain", "to_hashable"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Sentinel: "no such key" / "no default given"."""


def lookup_plain(container: Any, parts: Sequence[str]) -> Any:
    """Walk dicts/lists along ``parts``; :data:`MISSING` when a step does not exist.

    >>> lookup_plain({"a": {"b": [1, 2]}}, ["a", "b", "-1"]), lookup_plain({"a": 1}, ["b"])
    (2, MISSING)
    """
    value = container
    for part in parts:
        if type(value) is dict:  # the common case, without the cost of an ABC check
            if part in value:
                value = value[part]
                continue
            return MISSING
        if isinstance(value, Mapping):
            if part in value:
                value = value[part]
                continue
            return MISSING
        if isinstance(value, list) and (part.isdigit() or (part[:1] == "-" and part[1:].isdigit())):
            i = int(part)
            if -len(value) <= i < len(value):
                value = value[i]
                continue
        return MISSING
    return value


def flatten_dict(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists and empty dicts stay values).

    >>> flatten_dict({"a": {"b": 1, "c": [1]}, "d": {}})
    {'a.b': 1, 'a.c': [1], 'd': {}}
    """
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten_dict(v, f"{key}."))
        else:
            out[key] = v
    return out


def to_hashable(value: Any) -> Hashable:
    """A hashable stand-in for a value (lists -> tuples, dicts -> sorted item tuples, NaN -> ``("nan",)``).

    >>> to_hashable([1, {"b": 2, "a": [3]}])
    (1, (('a', (3,)), ('b', 2)))
    """
    if isinstance(value, list):
        return tuple(to_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), to_hashable(v)) for k, v in value.items()))
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return cast("Hashable", value)
