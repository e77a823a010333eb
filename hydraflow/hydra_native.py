"""Adapter between the pure-Python sweep grammar and Hydra's own override grammar.

:func:`hydra_safe_argv` rewrites a multirun command line so that arguments in the extended syntax reach the
sweeper intact instead of being applied (or rejected) by Hydra while it composes the app's config.

:func:`make_native_expander` returns a :data:`hydraflow.sweep.NativeExpander` that expands arguments using
Hydra's functions (``range()``, ``choice()``, ``glob()``, ``sort()``, ``shuffle()``, ``tag()``, casts)
exactly as Hydra's BasicSweeper would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hydraflow.sweep import NativeExpander


def make_native_expander(config_loader: Any = None) -> NativeExpander:
    """Build an expander backed by Hydra's ``OverridesParser``.

    Args:
        config_loader: Hydra's ``ConfigLoader`` (the sweeper has one); needed by ``glob()``, which lists the
            options of a config group. Without it, ``glob()`` raises a clear error.

    >>> expand_native = make_native_expander()
    >>> expand_native("a=range(1,4)")
    ['a=1', 'a=2', 'a=3']
    >>> expand_native("+b=choice(x,y)")
    ['+b=x', '+b=y']
    """
    parsers: list[Any] = []  # Hydra is imported on first use: plain sweeps never pay for it

    def expand_native(argument: str) -> list[str]:
        if not parsers:
            from hydra.core.override_parser.overrides_parser import OverridesParser

            parsers.append(OverridesParser.create(config_loader=config_loader))
        # parse_overrides (plural) attaches the config loader that glob() needs; parse_override does not
        override = parsers[0].parse_overrides([argument])[0]
        key = override.get_key_element()
        if not override.is_sweep_override():
            if override.is_delete() and override.value_type is None:
                return [key]
            return [f"{key}={override.get_value_element_as_str()}"]
        if override.is_interval_sweep():
            raise ValueError("interval() is a continuous range and cannot be enumerated")
        if not override.is_discrete_sweep():  # pragma: no cover - every other Hydra sweep is discrete
            raise ValueError(f"cannot enumerate a sweep of type {override.value_type}")
        if (
            override.value_type is not None
            and override.value_type.name == "GLOB_CHOICE_SWEEP"
            and (config_loader is None)
        ):
            raise ValueError(
                "glob() lists the options of a config group and needs the app's config "
                "(run it through the Hydra app, or list the values explicitly)"
            )
        return [f"{key}={value}" for value in override.sweep_string_iterator()]

    return expand_native


def _hydra_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _is_plain(argument: str) -> bool:
    """Whether the argument is one plain Hydra override that the sweep grammar leaves exactly as it is."""
    from hydraflow.sweep import expand

    try:
        sweep = expand([argument])
        return sweep.count == 1 and sweep[0] == [argument]
    except Exception:  # noqa: BLE001 - not plain (a bad one was already reported by plan())
        return False


def hydra_safe_arguments(arguments: Sequence[str], *, only_needed: bool = False) -> list[str]:
    """The sweep arguments as they are given to a Hydra app on its command line.

    Hydra reads the command line before the sweeper does: it rejects some forms of the extended syntax
    (``model.lr/m=1,2``, ``a=(1,2)_(3)``) and applies every argument it does not see as a sweep to the app's
    config while composing it (``lr=0.01:0.03:0.01`` would be set as a string into a float field). So every
    argument that the grammar expands (anything but a plain ``key=value``) goes, in order and quoted, into one
    ``++hydra.sweeper={params:{key:'value',...}}`` setting, whose values reach the sweeper raw. Plain
    overrides, and arguments whose key cannot be a params key (``+key=...``, ``~key``), stay as they are.

    With ``only_needed``, an argument Hydra itself parses as a sweep (``lr=1,2``, ``a=range(3)``) also stays:
    Hydra leaves sweeps out of the composition, so only the forms it would reject or misapply are routed. This
    keeps command lines meant for another sweeper (Optuna, basic) as they are.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()

    def routed(params: dict[str, str]) -> str | None:
        items = ", ".join(f"{key}:{_hydra_quote(value)}" for key, value in params.items())
        text = f"++hydra.sweeper={{params:{{{items}}}}}"
        try:
            value = parser.parse_override(text).value()
        except Exception:  # noqa: BLE001 - e.g. a key Hydra cannot take as a dict key
            return None
        return text if value == {"params": params} else None

    def hydra_sweep(argument: str) -> bool:
        try:
            return bool(parser.parse_override(argument).is_sweep_override())
        except Exception:  # noqa: BLE001 - Hydra rejects it: it must be routed
            return False

    params: dict[str, str] = {}
    plain: list[str] = []
    for argument in arguments:
        key, sep, value = argument.partition("=")
        key = key.strip()
        keep = not sep or key in params or _is_plain(argument) or (only_needed and hydra_sweep(argument))
        if keep or routed({key: value}) is None:
            plain.append(argument)
        else:
            params[key] = value
    if not params:
        return plain
    text = routed(params)
    return list(arguments) if text is None else [text, *plain]


def hydra_safe_argv(argv: Sequence[str]) -> list[str]:
    """A Hydra app's command line (``sys.argv[1:]``) with its sweep arguments made safe for Hydra.

    Only a multirun (``-m``/``--multirun``) is changed: its override arguments, as Hydra's own argument
    parser finds them, go through :func:`hydra_safe_arguments` (``only_needed``); options and their values
    stay as they are.
    ``@hydraflow.main`` applies it, so that ``python train.py -m 'lr=0.01:0.05:0.01'`` works on a typed
    ``lr: float``. A command line Hydra cannot parse is returned unchanged, for Hydra to report.

    >>> hydra_safe_argv(["-m", "-cn", "config", "seed=1", "lr=1:3"])
    ['-m', '-cn', 'config', "++hydra.sweeper={params:{lr:'1:3'}}", 'seed=1']
    >>> hydra_safe_argv(["lr=1:3"])  # not a multirun: unchanged
    ['lr=1:3']
    """
    import contextlib
    import io

    from hydra._internal.utils import get_args_parser

    args = list(argv)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            parsed = get_args_parser().parse_args(args)
    except SystemExit:
        return args
    if not parsed.multirun or not parsed.overrides:
        return args
    pending = list(parsed.overrides)
    options = []
    for arg in args:
        if pending and arg == pending[0]:
            pending.pop(0)
        else:
            options.append(arg)
    return [*options, *hydra_safe_arguments(parsed.overrides, only_needed=True)]


__all__ = ["hydra_safe_arguments", "hydra_safe_argv", "make_native_expander"]
