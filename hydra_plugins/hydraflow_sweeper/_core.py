"""The work behind ``hydra/sweeper=hydraflow``: gather the arguments, expand them, validate every job.

Imported by :meth:`HydraflowSweeper.sweep` only (the leading underscore keeps Hydra's plugin scan away).

Validation gives the safety of Hydra's ``BasicSweeper.validate_batch_is_legal`` (which composes the full
config of every job, ~34 ms each) at a fraction of the cost:

1. every distinct override string is parsed once with Hydra's own parser, and classified as a config-group
   override (``model=vit``, ``+experiment=x``, ``~db``) or a value override (``lr=0.1``);
2. the config is composed once per distinct combination of config-group overrides, together with the value
   overrides shared by every job;
3. each distinct value override is applied once to a copy of the config of every group combination it appears
   with, exactly as Hydra applies command-line overrides (struct mode, structured-config types).

When step 2 or 3 fails only because of an interplay between overrides of the same job, the affected jobs are
composed in full, one by one, as BasicSweeper would: an error is never reported for a job that would run.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hydra.errors import CompactHydraException

if TYPE_CHECKING:
    from collections.abc import Sequence

    from omegaconf import DictConfig

    from hydraflow.sweep import NativeExpander, Sweep

log = logging.getLogger("hydra_plugins.hydraflow_sweeper")


class SweepError(CompactHydraException):
    """A sweep that cannot run: bad syntax, a job the app's config rejects, bad sweeper settings.

    A ``CompactHydraException``: Hydra prints the message alone (no stack trace) and exits with status 1.
    """


# ------------------------------------------------------------------------------------------------ arguments


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
    """The config keys an argument sets (without ``+``/``++``/``~`` prefixes or unit suffixes)."""
    try:
        from hydraflow.sweep.parser import parse_argument

        return frozenset(k for k, _ in parse_argument(argument, 0, native).keys)
    except Exception:  # noqa: BLE001 - a malformed argument is reported by expand() with its position
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
    """Expand with :func:`hydraflow.sweep.expand`; a syntax error becomes a :class:`SweepError`."""
    from hydraflow.sweep import SweepSyntaxError, expand

    try:
        return expand(list(arguments), native=native)
    except SweepSyntaxError as exc:
        where = ""
        if exc.argument is not None and 0 <= exc.argument < len(arguments):
            where = f" in sweep argument {exc.argument + 1} of {len(arguments)} ({origin})"
        raise SweepError(f"Sweep syntax error{where}:\n{exc}") from exc
    except ValueError as exc:  # e.g. Hydra's own grammar rejecting a native argument
        raise SweepError(f"Sweep error ({origin}): {exc}") from exc


# ----------------------------------------------------------------------------------------------- validation


@dataclass
class _Combo:
    """Jobs sharing one combination of config-group overrides."""

    groups: tuple[str, ...]
    first_job: int
    values: dict[str, int] = field(default_factory=dict)  # value override -> first job using it
    order: list[str] = field(default_factory=list)


@dataclass
class ValidationReport:
    """What validation did (for logs and benchmarks)."""

    jobs: int = 0
    distinct_overrides: int = 0
    compositions: int = 0
    value_checks: int = 0
    copies: int = 0
    full_jobs: int = 0
    seconds: float = 0.0


def _describe(job: int, overrides: Sequence[str]) -> str:
    return f"job #{job} [{' '.join(overrides) or '(no overrides)'}]"


class _Validator:
    def __init__(self, config_loader: Any, master: DictConfig) -> None:
        from hydraflow.launch.compose import OverrideClassifier

        self.loader = config_loader
        self.master = master
        self.classifier = OverrideClassifier(config_loader, master)
        self.parsed = self.classifier.parsed
        self.is_group = self.classifier.is_group
        self.report = ValidationReport()

    def classify(self, text: str, job: int, overrides: Sequence[str]) -> bool:
        """Parse one job override (once); True when it selects a config group."""
        known = self.is_group.get(text)
        if known is not None:
            return known
        try:
            override = self.classifier.parse(text)
        except Exception as exc:
            raise SweepError(f"{_describe(job, overrides)}: Hydra cannot parse {text!r}: {exc}") from exc
        if override.is_sweep_override():
            raise SweepError(
                f"{_describe(job, overrides)}: {text!r} is still a sweep after expansion "
                "(quote the value to use it literally)"
            )
        return self.classifier.classify(text)

    def compose(self, overrides: Sequence[str]) -> DictConfig:
        self.report.compositions += 1
        return self.loader.load_sweep_config(master_config=self.master, sweep_overrides=list(overrides))

    def compose_job(self, job: int, overrides: Sequence[str]) -> None:
        self.report.full_jobs += 1
        try:
            self.compose(overrides)
        except Exception as exc:
            reason = str(exc).strip()
            cause = exc.__cause__
            if cause is not None and str(cause).strip() and str(cause).strip() not in reason:
                reason = f"{reason}\n{str(cause).strip()}"
            message = f"{_describe(job, overrides)} is invalid for this app's config: {reason}"
            raise SweepError(message) from exc

    def check_value(self, base: DictConfig, text: str, scratch: list[DictConfig]) -> bool:
        """Apply one value override to a copy of ``base`` the way Hydra applies command-line overrides.

        A plain assignment to a scalar (``lr=0.1``) cannot add keys or change the config's shape, so those
        share one scratch copy per group combination (``scratch`` holds it); anything else (``+k=``,
        ``~k``, dict or list values) gets a fresh copy. A failed check discards the scratch copy.
        """
        from hydra._internal.config_loader_impl import ConfigLoaderImpl

        self.report.value_checks += 1
        override = self.parsed[text]
        plain = not (override.is_add() or override.is_force_add() or override.is_delete()) and not isinstance(
            override.value(), (dict, list)
        )
        if plain and scratch:
            cfg = scratch[0]
        else:
            self.report.copies += 1
            cfg = copy.deepcopy(base)
            if plain:
                scratch.append(cfg)
        try:
            ConfigLoaderImpl._apply_overrides_to_config([override], cfg)  # noqa: SLF001
        except Exception:  # noqa: BLE001 - confirmed (or refuted) by a full composition of the job
            if plain:
                scratch.clear()
            return False
        return True


def validate(sweep: Sweep, config_loader: Any, master: DictConfig) -> ValidationReport:
    """Check every job of ``sweep`` against the app's config; raise :class:`SweepError` naming a bad job."""
    tic = time.perf_counter()
    v = _Validator(config_loader, master)
    combos, shared = _collect(v, sweep)
    if v.report.jobs:
        # (groups, value override or None for every job of the groups) to compose job by job
        full: list[tuple[tuple[str, ...], str | None]] = []
        for combo in combos.values():
            try:
                base = v.compose([*combo.groups, *shared])
            except Exception:  # noqa: BLE001 - maybe an interplay with a job's other overrides: compose jobs
                v.compose_job(combo.first_job, sweep[combo.first_job])
                full.append((combo.groups, None))
                continue
            _drop_hydra_node(base)  # value overrides never target hydra.*: copies stay small
            scratch: list[DictConfig] = []
            for text in combo.order:
                if text not in shared and not v.check_value(base, text, scratch):
                    first = combo.values[text]
                    v.compose_job(first, sweep[first])
                    full.append((combo.groups, text))
        if full:
            _compose_affected(v, sweep, full)
    v.report.seconds = time.perf_counter() - tic
    return v.report


def _collect(v: _Validator, sweep: Sweep) -> tuple[dict[tuple[str, ...], _Combo], list[str]]:
    """One pass over the jobs: group combinations, their value overrides, the value overrides of every job."""
    combos: dict[tuple[str, ...], _Combo] = {}
    uses: dict[str, int] = {}  # value override -> number of jobs using it
    jobs = 0
    for n, overrides in enumerate(sweep):
        jobs += 1
        groups: list[str] = []
        combo_values: list[str] = []
        for text in overrides:
            (groups if v.classify(text, n, overrides) else combo_values).append(text)
        key = tuple(groups)
        combo = combos.get(key)
        if combo is None:
            combo = combos[key] = _Combo(key, n)
        for text in combo_values:
            if text not in combo.values:
                combo.values[text] = n
                combo.order.append(text)
            uses[text] = uses.get(text, 0) + 1
    v.report.jobs = jobs
    v.report.distinct_overrides = len(v.parsed)
    shared = [t for t, count in uses.items() if count == jobs]  # value overrides of every job, in order
    return combos, shared


def _drop_hydra_node(cfg: DictConfig) -> None:
    from omegaconf import open_dict

    with open_dict(cfg):
        cfg.pop("hydra", None)


def _compose_affected(v: _Validator, sweep: Sweep, full: list[tuple[tuple[str, ...], str | None]]) -> None:
    """Compose in full every job that the cheap checks could not vouch for."""
    whole = {g for g, t in full if t is None}
    values: dict[tuple[str, ...], set[str]] = {}
    for g, t in full:
        if t is not None:
            values.setdefault(g, set()).add(t)
    for n, overrides in enumerate(sweep):
        groups = tuple(o for o in overrides if v.is_group[o])
        if groups in whole or (groups in values and values[groups].intersection(overrides)):
            v.compose_job(n, overrides)


__all__ = [
    "SweepError",
    "ValidationReport",
    "expand_arguments",
    "merge_arguments",
    "params_to_arguments",
    "validate",
]
