"""A multirun command line made safe for Hydra: extended sweep arguments reach the sweeper intact.

Hydra reads the command line before the sweeper does: it rejects some forms of the extended syntax and applies
every argument it does not see as a sweep to the app's config while composing it. :func:`hydra_safe_arguments`
routes such arguments into ``hydra.sweeper.params``; :func:`hydra_safe_argv` does it for a whole ``sys.argv``.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hydra.core.override_parser.overrides_parser import OverridesParser


@functools.cache
def _parser() -> OverridesParser:
    """Hydra's override parser (made once: its construction loads the grammar)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


_BEFORE_QUOTE = re.compile(r"(\\*)('|\Z)")


def _hydra_quote(value: str) -> str:
    r"""A value as a single-quoted string of Hydra's override grammar, read back by Hydra as exactly it.

    Hydra un-escapes only the backslashes before a quote (or before the closing quote): those are doubled
    and each quote gets one more. Built in linear time, without Hydra's parser (which needs ~10 s for 600 KB);
    a property test checks it against Hydra's parser (``tests/sweeper/test_argv_quoting.py``).

    >>> print(_hydra_quote("it's a\\b"), _hydra_quote("x\\'y\\"))
    'it\'s a\b' 'x\\\'y\\'
    """
    escaped = _BEFORE_QUOTE.sub(lambda m: m[1] * 2 + ("\\'" if m[2] else ""), value)
    return f"'{escaped}'"


#: Keys that Hydra's grammar reads back as themselves in ``{params:{KEY:...}}`` (a name, then ``.``/``/``-
#: separated parts), except words it reads as null, booleans or floats; any other key is asked of Hydra's
#: parser (:func:`_params_key_ok`).
_SIMPLE_KEY = re.compile(r"[A-Za-z_][\w-]*(?:[./][\w-]+)*", re.ASCII)
_WORDS = frozenset({"null", "true", "false", "inf", "nan"})


@functools.lru_cache(maxsize=4096)
def _params_key_ok(key: str) -> bool:
    """Whether ``key`` can be a key of ``hydra.sweeper.params`` on Hydra's command line.

    >>> _params_key_ok("opt.lr/m"), _params_key_ok("+x"), _params_key_ok("null"), _params_key_ok("a:b")
    (True, False, False, False)
    """
    if _SIMPLE_KEY.fullmatch(key) and key.lower() not in _WORDS:
        return True
    if not key or key.startswith(("+", "~")):
        return False
    from hydra.errors import HydraException

    try:
        value = _parser().parse_override(f"++hydra.sweeper={{params:{{{key}:''}}}}").value()
    except HydraException:  # e.g. a key Hydra cannot take as a dict key
        return False
    return bool(value == {"params": {key: ""}})


def _is_plain(argument: str) -> bool:
    """Whether the argument is one plain Hydra override that the sweep grammar leaves exactly as it is.

    >>> _is_plain("lr=0.1"), _is_plain("lr=1:3"), _is_plain("a=(1")
    (True, False, False)
    """
    from hydraflow.sweep import SweepSyntaxError, expand

    try:
        sweep = expand([argument])
    except SweepSyntaxError:  # not plain (a bad one was already reported by the caller's own expansion)
        return False
    return sweep.count == 1 and sweep[0] == [argument]


def _is_hydra_key(key: str) -> bool:
    """Whether an override sets Hydra's own config (``hydra.*``, ``hydra/...``): not a task override.

    >>> _is_hydra_key("hydra/launcher"), _is_hydra_key("++hydra.sweeper.dry_run"), _is_hydra_key("hydrax")
    (True, True, False)
    """
    key = key.lstrip("+~")
    return key == "hydra" or key.startswith(("hydra.", "hydra/"))


def hydra_safe_arguments(arguments: Sequence[str], *, only_needed: bool = False) -> list[str]:
    """The sweep arguments as they are given to a Hydra app on its command line.

    Hydra reads the command line before the sweeper does: it rejects some forms of the extended syntax
    (``model.lr/m=1,2``, ``a=(1,2)_(3)``) and applies every argument it does not see as a sweep to the app's
    config while composing it (``lr=0.01:0.03:0.01`` would be set as a string into a float field). So such
    arguments go, quoted, into one ``++hydra.sweeper={params:{key:'value',...}}`` setting, whose values reach
    the sweeper raw.

    The sweeper puts ``hydra.sweeper.params`` before the command line (the first argument varies slowest), so
    every task argument up to the last routed one goes into the params too, in the order given: the sweep
    order, and the numbers in error messages, are those of the command line, however the sweep arrived.
    Of these, plain overrides also stay on the command line (Hydra composes the config with them:
    ``+experiment=...``, ``db=mysql``); sweeps leave it. Arguments after the last routed one, Hydra's own
    (``hydra/launcher=...``) and those whose key cannot be a params key (``~key``) stay as they are.

    With ``only_needed``, an argument Hydra itself parses as a sweep (``lr=1,2``, ``a=range(3)``) needs no
    routing: a command line meant for another sweeper (Optuna, basic) stays as it is.

    >>> hydra_safe_arguments(["lr=1:3", "m=1,2", "seed=1"])
    ["++hydra.sweeper={params:{lr:'1:3', m:'1,2'}}", 'seed=1']
    >>> hydra_safe_arguments(["m=1,2", "seed=1", "lr=1:3"], only_needed=True)
    ["++hydra.sweeper={params:{m:'1,2', seed:'1', lr:'1:3'}}", 'seed=1']
    >>> hydra_safe_arguments(["m=1,2", "seed=1"], only_needed=True)
    ['m=1,2', 'seed=1']
    """

    def hydra_sweep(argument: str) -> bool:
        from hydra.errors import OverrideParseException

        try:
            return bool(_parser().parse_override(argument).is_sweep_override())
        except OverrideParseException:  # Hydra rejects it: it must be routed
            return False

    # Linear in the arguments' length: Hydra's (slow) parser reads no argument, except with ``only_needed``
    # those the sweep grammar expands (to ask whether Hydra sees them as sweeps) and keys of unusual form.
    split = [a.partition("=") for a in arguments]
    task = [bool(sep) and not _is_hydra_key(key) for key, sep, _ in split]
    plain = [t and _is_plain(a) for t, a in zip(task, arguments, strict=True)]
    needed = [
        i
        for i, argument in enumerate(arguments)
        if task[i] and not plain[i] and not (only_needed and hydra_sweep(argument))
    ]
    params: dict[str, str] = {}
    command_line: list[str] = []
    for i, (argument, (raw_key, _, value)) in enumerate(zip(arguments, split, strict=True)):
        key = raw_key.strip()
        if not needed or i > needed[-1] or not task[i] or key in params or not _params_key_ok(key):
            command_line.append(argument)
            continue
        params[key] = value
        if plain[i]:
            command_line.append(argument)
    if not params:
        return list(arguments)
    items = ", ".join(f"{key}:{_hydra_quote(value)}" for key, value in params.items())
    return [f"++hydra.sweeper={{params:{{{items}}}}}", *command_line]


def hydra_safe_argv(argv: Sequence[str]) -> list[str]:
    """A Hydra app's command line (``sys.argv[1:]``) with its sweep arguments made safe for Hydra.

    Only a multirun (``-m``/``--multirun``) is changed: its override arguments, as Hydra's own argument
    parser finds them, go through :func:`hydra_safe_arguments` (``only_needed``); options and their values
    stay as they are.
    ``@hydraflow.main`` applies it, so that ``python train.py -m 'lr=0.01:0.05:0.01'`` works on a typed
    ``lr: float``. A command line Hydra cannot parse is returned unchanged, for Hydra to report.

    >>> hydra_safe_argv(["-m", "-cn", "config", "lr=1:3", "seed=1"])
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


__all__ = ["hydra_safe_arguments", "hydra_safe_argv"]
