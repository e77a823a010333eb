"""The sweep of ``hydra/sweeper=hydraflow``: ``hydra.sweeper.params`` + command line -> arguments -> jobs.

``hydra.sweeper.params`` (YAML values) become sweep arguments in the extended syntax
(:func:`params_to_arguments`); the command line replaces them per key (:func:`merge_arguments`); the result is
expanded by :func:`hydraflow.sweep.expand` with Hydra's own functions (:func:`expand_arguments`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from hydraflow.hydra_adapter.errors import SweepError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hydraflow.sweep import NativeExpander, Sweep


def _format_scalar(value: Any, where: str) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, (list, tuple)):  # a list inside a list: one list-valued element
        return "[" + ",".join(_format_scalar(v, where) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_format_scalar(v, where)}" for k, v in value.items()) + "}"
    raise SweepError(f"hydra.sweeper.params.{where}: unsupported value {value!r} ({type(value).__name__})")


def _flatten(params: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in params.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if not value:
                raise SweepError(f"hydra.sweeper.params.{full}: empty mapping (give a value to sweep over)")
            yield from _flatten(value, f"{full}.")
        else:
            yield full, value


def params_to_arguments(params: Mapping[str, Any] | None) -> list[str]:
    """Turn ``hydra.sweeper.params`` into ``key=value`` sweep arguments.

    Strings are taken raw (they are in the extended syntax); numbers and booleans are written the way Hydra
    reads them; a list is a sweep over its elements; a nested mapping is flattened into dotted keys.

    >>> params_to_arguments({"lr": "1:3", "wd": 0.001, "amp": True, "model": ["cnn", "vit"]})
    ['lr=1:3', 'wd=0.001', 'amp=true', 'model=cnn,vit']
    >>> params_to_arguments({"opt": {"m": 0.9, "betas": [[0.9, 0.99], [0.8, 0.9]]}})
    ['opt.m=0.9', 'opt.betas=[0.9,0.99],[0.8,0.9]']
    """
    if not params:
        return []
    out = []
    for key, value in _flatten(params):
        if isinstance(value, (list, tuple)):
            if not value:
                raise SweepError(f"hydra.sweeper.params.{key}: empty list (nothing to sweep over)")
            text = ",".join(_format_scalar(v, key) for v in value)
        else:
            text = _format_scalar(value, key)
        out.append(f"{key}={text}")
    return out


def _argument_keys(argument: str, native: NativeExpander | None) -> frozenset[str]:
    """The config keys an argument sets (without ``+``/``++``/``~`` prefixes or unit suffixes).

    >>> sorted(_argument_keys("+a=1|b/m=2", None)), sorted(_argument_keys("~c=(1", None))
    (['a', 'b'], ['c'])
    """
    from hydraflow.sweep import SweepSyntaxError
    from hydraflow.sweep.parser import parse_argument

    try:
        return frozenset(k for k, _ in parse_argument(argument, 0, native).keys)
    except SweepSyntaxError:  # a malformed argument is reported by expand() with its position
        head = argument.split("=", 1)[0].strip().lstrip("+~")
        return frozenset({head})


def merge_arguments(
    params_args: Sequence[str], cli_args: Sequence[str], native: NativeExpander | None = None
) -> list[str]:
    """``hydra.sweeper.params`` arguments, then the command line; the command line wins per key.

    As in Hydra's BasicSweeper, a command-line argument that replaces a params entry takes that entry's place
    in the order (the first argument varies slowest).

    >>> merge_arguments(["a=1,2", "b=3,4"], ["a=9", "c=5"])
    ['a=9', 'b=3,4', 'c=5']
    >>> merge_arguments(["+a=1,2"], ["a=3"])
    ['a=3']
    """
    slots: list[str | None] = list(params_args)
    slot_keys = [_argument_keys(a, native) for a in params_args]
    tail: list[str] = []
    for arg in cli_args:
        keys = _argument_keys(arg, native)
        hits = [i for i, k in enumerate(slot_keys) if k & keys and slots[i] is not None]
        if hits:
            slots[hits[0]] = arg
            for i in hits[1:]:
                slots[i] = None
        else:
            tail.append(arg)
    return [a for a in slots if a is not None] + tail


def expand_arguments(arguments: Sequence[str], native: NativeExpander | None, *, origin: str) -> Sweep:
    """Expand with :func:`hydraflow.sweep.expand`; a syntax error becomes a :class:`SweepError`.

    >>> expand_arguments(["a=1:3"], None, origin="command line").count
    3
    """
    from hydraflow.sweep import SweepSyntaxError, expand

    try:
        return expand(list(arguments), native=native)
    except SweepSyntaxError as exc:
        where = ""
        if exc.argument is not None and 0 <= exc.argument < len(arguments):
            where = f" in sweep argument {exc.argument + 1} of {len(arguments)} ({origin})"
        raise SweepError(f"Sweep syntax error{where}:\n{exc}") from exc


__all__ = ["expand_arguments", "merge_arguments", "params_to_arguments"]
