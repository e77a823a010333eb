"""Deterministic ids: canonical JSON of resolved config values, hashed with SHA-256.

The hashing spec (also in ``docs/concepts.md``):

1. The value is converted to plain data: an OmegaConf container is resolved (``to_container(resolve=True)``,
   missing ``???`` values are an error), a dataclass instance becomes a dict of its fields, an ``Enum`` its
   ``name``, a ``pathlib`` path its string, tuples and lists become lists.
2. The plain data is written as JSON with sorted keys, no whitespace (``separators=(",", ":")``) and
   ``ensure_ascii=False``; mapping keys are converted to strings. Numbers keep their exact Python text:
   ``int`` is decimal, ``float`` is the shortest round-trip ``repr``; a float with an integral value is
   written as the integer (``1.0`` hashes like ``1``, matching ``1 == 1.0``); ``nan``/``inf``/``-inf`` become
   the strings ``"NaN"``/``"Infinity"``/``"-Infinity"``. ``bool`` is ``true``/``false``, ``None`` is
   ``null``.
3. With selected key paths (``fingerprint(cfg, "model", "target.seed")``) the hashed value is the mapping
   ``{key path text: selected value}`` (so argument order does not matter).
4. The UTF-8 bytes are hashed with SHA-256; the id is the hex digest, or its first ``length`` characters.

This module does not import MLflow or Hydra (only OmegaConf, lazily).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
import threading
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

__all__ = ["ID_LENGTH", "RESOLVER_NAME", "canonical_json", "fingerprint", "register_resolver"]

#: Name of the OmegaConf resolver: ``${hydraflow.id:model,data,target.seed}``.
RESOLVER_NAME = "hydraflow.id"
#: Number of hex characters of the ids made by the resolver (64 bits).
ID_LENGTH = 16


class FingerprintError(ValueError):
    """A value cannot be put in canonical form (unsupported type, missing value, unknown key path)."""


def _plain(value: Any, where: str) -> Any:  # noqa: PLR0911, PLR0912, C901
    """Convert ``value`` to JSON-ready plain data (see module docstring)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)  # IntEnum / numpy ints that subclass int -> plain int
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value.is_integer():
            return int(value)
        return float(value)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, PurePath):
        return str(value)
    if _is_omegaconf(value):
        from omegaconf import OmegaConf
        from omegaconf.errors import MissingMandatoryValue

        try:
            container = OmegaConf.to_container(value, resolve=True, throw_on_missing=True)
        except MissingMandatoryValue as exc:
            raise FingerprintError(f"missing mandatory value (???) in {where or 'config'}: {exc}") from exc
        return _plain(container, where)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name), _join(where, f.name)) for f in dataclasses.fields(value)
        }
    if isinstance(value, Mapping):
        return {str(k): _plain(v, _join(where, str(k))) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise FingerprintError(
        f"cannot fingerprint a value of type {type(value).__name__} at {where or 'the top level'}"
    )


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _is_omegaconf(value: Any) -> bool:
    module = type(value).__module__
    return module.startswith("omegaconf")


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value`` that :func:`fingerprint` hashes.

    >>> canonical_json({"b": 1.0, "a": [0.1, "x", None, True]})
    '{"a":[0.1,"x",null,true],"b":1}'
    """
    return json.dumps(
        _plain(value, ""), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _select(config: Any, key: str) -> Any:
    """The value at dotted ``key`` in ``config`` (OmegaConf container, mapping or dataclass)."""
    if _is_omegaconf(config):
        from omegaconf import OmegaConf

        sentinel = object()
        value = OmegaConf.select(config, key, default=sentinel, throw_on_missing=True)
        if value is sentinel:
            raise FingerprintError(f"hydraflow.id: no key {key!r} in the config")
        return value
    value = config
    for part in key.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif dataclasses.is_dataclass(value) and not isinstance(value, type) and hasattr(value, part):
            value = getattr(value, part)
        elif isinstance(value, (list, tuple)) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise FingerprintError(f"hydraflow.id: no key {key!r} in the config")
    return value


def fingerprint(value: Any, *keys: str, length: int | None = None) -> str:
    """Deterministic SHA-256 id of ``value`` or of the parts of it at the dotted ``keys``.

    Stable across processes, machines, Python hash seeds and key order (see the module docstring for the
    canonical form).

    Args:
        value: A config (``DictConfig``, dataclass instance, mapping) or any plain value.
        *keys: Dotted key paths relative to ``value``; when given, only those parts are hashed, as the
            mapping ``{key: part}``.
        length: Number of hex characters to keep (default: the full 64-character digest).

    Returns:
        The lowercase hex digest (or its prefix).

    >>> fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1.0})
    True
    >>> fingerprint({"model": {"depth": 3}, "seed": 1}, "model", length=16)
    '2f142fb7932cc78b'
    """
    if keys:
        value = {str(k): _select(value, str(k)) for k in keys}
    digest = hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
    if length is None:
        return digest
    if not 1 <= length <= len(digest):
        raise ValueError(f"fingerprint length must be between 1 and {len(digest)}, got {length}")
    return digest[:length]


_active = threading.local()


def _resolve_id(*keys: Any, _root_: Any) -> str:
    """OmegaConf resolver ``${hydraflow.id:key,key,...}`` -> :data:`ID_LENGTH` hex characters."""
    if not keys:
        raise FingerprintError("hydraflow.id needs at least one key path, e.g. ${hydraflow.id:model,seed}")
    names = tuple(str(k) for k in keys)
    stack: list[tuple[str, ...]] = _active.__dict__.setdefault("stack", [])
    if names in stack:
        raise FingerprintError(
            f"hydraflow.id:{','.join(names)} refers to itself: the node holding the id must not be inside "
            "one of the selected key paths"
        )
    stack.append(names)
    try:
        return fingerprint(_root_, *names, length=ID_LENGTH)
    finally:
        stack.pop()


def register_resolver() -> None:
    """Register the ``hydraflow.id`` OmegaConf resolver (idempotent; done on import of hydraflow.tracking)."""
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver(RESOLVER_NAME, _resolve_id, replace=True, use_cache=False)
