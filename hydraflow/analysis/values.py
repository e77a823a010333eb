"""Values of parsed configs: dotted-key lookup, flattening, hashable stand-ins, and the MISSING sentinel.

Pure functions on plain dicts and lists, shared by :class:`~hydraflow.analysis.Run`,
:class:`~hydraflow.analysis.RunCollection` and the table of ``hydraflow runs``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, cast

__all__ = ["MISSING", "as_plain", "flatten_dict", "lookup_plain", "to_hashable"]

MISSING: Any = dataclasses.MISSING
"""Sentinel: "no such key" / "no default given".

It is :data:`dataclasses.MISSING`, the sentinel HydraFlow 0.23 passes to the ``get(item, key, default)``
functions of a collection, so getters written for HydraFlow recognise it.
"""


def as_plain(value: Any) -> Any:
    """An OmegaConf container or a NumPy array as plain lists and dicts; anything else as it is.

    Neither OmegaConf nor NumPy is imported here: a value can only be theirs if they are already imported.

    >>> as_plain((1, 2)), as_plain({"a": 1})
    ((1, 2), {'a': 1})
    """
    omegaconf = sys.modules.get("omegaconf")
    if omegaconf is not None and isinstance(value, omegaconf.Container):
        try:
            return omegaconf.OmegaConf.to_container(value, resolve=True)
        except omegaconf.errors.OmegaConfBaseException:  # an interpolation that cannot be resolved here
            return omegaconf.OmegaConf.to_container(value)
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, (numpy.ndarray, numpy.generic)):
        return value.tolist()
    return value


def lookup_plain(container: Any, parts: Sequence[str]) -> Any:
    """Walk dicts/lists along ``parts``; :data:`MISSING` when a step does not exist.

    >>> lookup_plain({"a": {"b": [1, 2]}}, ["a", "b", "-1"]), lookup_plain({"a": 1}, ["b"]) is MISSING
    (2, True)
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
    """A hashable stand-in for a value, used as a group key.

    Lists (and OmegaConf lists, NumPy arrays, other unhashable iterables) become tuples, dicts sorted item
    tuples, NaN ``("nan",)``; anything else unhashable its ``str``.

    >>> to_hashable([1, {"b": 2, "a": [3]}])
    (1, (('a', (3,)), ('b', 2)))
    """
    value = as_plain(value)
    if isinstance(value, list):
        return tuple(to_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), to_hashable(v)) for k, v in value.items()))
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    try:
        hash(value)
    except TypeError:
        pass
    else:
        return cast("Hashable", value)
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
        try:
            return tuple(to_hashable(v) for v in value)
        except TypeError:
            pass
    return str(value)
