"""Every job of a sweep checked against the app's config before the first launch, at a fraction of the cost.

Hydra's ``BasicSweeper.validate_batch_is_legal`` composes the full config of every job (~34 ms each). Here:

1. every distinct override string is parsed once with Hydra's own parser, and classified as a config-group
   override (``model=vit``, ``+experiment=x``, ``~db``) or a value override (``lr=0.1``); the jobs are grouped
   by their combination of config-group overrides (:class:`~.overrides.Grouping`, as the launchers do);
2. the config is composed once per combination, together with the value overrides shared by every job;
3. each distinct value override is applied once to a copy of the config of every combination it appears
   with, exactly as Hydra applies command-line overrides (struct mode, structured-config types).

When step 2 or 3 fails only because of an interplay between overrides of the same job, the affected jobs are
composed in full, one by one, as BasicSweeper would: an error is never reported for a job that would run.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hydraflow.hydra_adapter.compose import apply_overrides, compose
from hydraflow.hydra_adapter.errors import InvalidJobError, OverrideError
from hydraflow.hydra_adapter.overrides import Grouping, OverrideClassifier

if TYPE_CHECKING:
    from collections.abc import Sequence

    from omegaconf import DictConfig

    from hydraflow.sweep import Sweep


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
    """How a job is named in an error.

    >>> _describe(3, ["a=1", "b=2"]), _describe(0, [])
    ('job #3 [a=1 b=2]', 'job #0 [(no overrides)]')
    """
    return f"job #{job} [{' '.join(overrides) or '(no overrides)'}]"


class _Validator:
    def __init__(self, config_loader: Any, master: DictConfig) -> None:
        self.loader = config_loader
        self.master = master
        self.classifier = OverrideClassifier(config_loader, master)
        self.grouping = Grouping()
        self.report = ValidationReport()

    def split(self, job: int, overrides: Sequence[str]) -> tuple[tuple[str, ...], list[str]]:
        """The job's (config-group overrides, value overrides); a bad override names the job."""
        try:
            return self.classifier.split(overrides)
        except OverrideError as exc:
            raise InvalidJobError(f"{_describe(job, overrides)}: {exc}") from exc

    def compose(self, overrides: Sequence[str]) -> DictConfig:
        self.report.compositions += 1
        return compose(self.loader, self.master, overrides)

    def compose_job(self, job: int, overrides: Sequence[str]) -> None:
        self.report.full_jobs += 1
        try:
            self.compose(overrides)
        # composing raises whatever Hydra, OmegaConf or a resolver raise: all mean "this job is invalid", and
        # the cause stays chained
        except Exception as exc:
            reason = str(exc).strip()
            cause = exc.__cause__
            if cause is not None and str(cause).strip() and str(cause).strip() not in reason:
                reason = f"{reason}\n{str(cause).strip()}"
            message = f"{_describe(job, overrides)} is invalid for this app's config: {reason}"
            raise InvalidJobError(message) from exc

    def check_value(self, base: DictConfig, text: str, scratch: list[DictConfig]) -> bool:
        """Apply one value override to a copy of ``base`` the way Hydra applies command-line overrides.

        A plain assignment to a scalar (``lr=0.1``) cannot add keys or change the config's shape, so those
        share one scratch copy per group combination (``scratch`` holds it); anything else (``+k=``,
        ``~k``, dict or list values) gets a fresh copy. A failed check discards the scratch copy.
        """
        from hydra.errors import HydraException

        self.report.value_checks += 1
        override = self.classifier.parsed[text]
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
            apply_overrides(cfg, [override])
        except HydraException:  # confirmed (or refuted) by a full composition of the job
            if plain:
                scratch.clear()
            return False
        return True


def validate(sweep: Sweep, config_loader: Any, master: DictConfig) -> ValidationReport:
    """Check every job of ``sweep`` against the app's config; an :class:`InvalidJobError` names a bad job."""
    tic = time.perf_counter()
    v = _Validator(config_loader, master)
    for n, overrides in enumerate(sweep):
        v.grouping.add(n, *v.split(n, overrides))
    v.report.jobs = v.grouping.jobs
    v.report.distinct_overrides = len(v.classifier.parsed)
    if v.report.jobs:
        shared = v.grouping.shared()
        # (groups, value override or None for every job of the groups) to compose job by job
        full: list[tuple[tuple[str, ...], str | None]] = []
        for combo in v.grouping.combinations.values():
            try:
                base = v.compose([*combo.groups, *shared])
            # whatever composing raises (see compose_job): maybe an interplay with a job's other overrides, so
            # the jobs are composed one by one, which reports a real error with its cause
            except Exception:  # noqa: BLE001
                v.compose_job(combo.first_job, sweep[combo.first_job])
                full.append((combo.groups, None))
                continue
            _drop_hydra_node(base)  # value overrides never target hydra.*: copies stay small
            scratch: list[DictConfig] = []
            for text, first in combo.values.items():
                if text not in shared and not v.check_value(base, text, scratch):
                    v.compose_job(first, sweep[first])
                    full.append((combo.groups, text))
        if full:
            _compose_affected(v, sweep, full)
    v.report.seconds = time.perf_counter() - tic
    return v.report


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
        groups = v.split(n, overrides)[0]
        if groups in whole or (groups in values and values[groups].intersection(overrides)):
            v.compose_job(n, overrides)


__all__ = ["ValidationReport", "validate"]
