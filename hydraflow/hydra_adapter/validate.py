"""Every job of a sweep checked against the app's config before the first launch, at a fraction of the cost.

Hydra's ``BasicSweeper.validate_batch_is_legal`` composes the full config of every job (~34 ms each). Here:

1. the sweep is read factor by factor (:attr:`hydraflow.sweep.Sweep.factors`: one per argument or group of
   paired arguments), never job by job: every element of every factor is parsed once with Hydra's own parser
   and its overrides classified as config-group overrides (``model=vit``, ``+experiment=x``, ``~db``) or value
   overrides (``lr=0.1``);
2. the config is composed once per combination of config-group overrides (one group tuple per factor),
   together with the value overrides shared by every job;
3. each distinct value override is applied once to a copy of the config of every combination it appears
   with, exactly as Hydra applies command-line overrides (struct mode, structured-config types).

The work grows with the sum of the factors' sizes (and the number of group combinations), not with the number
of jobs: a 10^12-job sweep of twelve 10-value ranges takes 120 value checks.

When step 2 or 3 fails only because of an interplay between overrides of the same job, the affected jobs are
composed in full, one by one, as BasicSweeper would: an error is never reported for a job that would run.
"""

from __future__ import annotations

import copy
import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hydraflow.hydra_adapter.compose import apply_overrides, compose
from hydraflow.hydra_adapter.errors import InvalidJobError, OverrideError
from hydraflow.hydra_adapter.overrides import OverrideClassifier

if TYPE_CHECKING:
    from collections.abc import Sequence

    from omegaconf import DictConfig

    from hydraflow.sweep import Sweep
    from hydraflow.sweep.seq import Seq


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
        self.report = ValidationReport()

    def split(self, job: int, overrides: Sequence[str]) -> tuple[tuple[str, ...], list[str]]:
        """The job's (config-group overrides, value overrides); a bad override names the job."""
        try:
            return self.classifier.split(overrides)
        except OverrideError as exc:
            raise InvalidJobError(f"{_describe(job, overrides)}: {exc}") from exc

    def split_element(
        self, job: int, sweep: Sweep, element: Sequence[str]
    ) -> tuple[tuple[str, ...], list[str]]:
        """(config-group overrides, value overrides) of one factor element; an error names job ``job``."""
        try:
            return self.classifier.split(element)
        except OverrideError as exc:
            raise InvalidJobError(f"{_describe(job, sweep[job])}: {exc}") from exc

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


@dataclass
class _Part:
    """The elements of one factor that share one tuple of config-group overrides."""

    first: int  # index of its first element in the factor
    values: dict[str, int] = field(default_factory=dict)  # value override -> first element using it


@dataclass
class _Factor:
    """One factor of the sweep, classified: parts by group tuple, value overrides of all its elements."""

    seq: Seq[tuple[str, ...]]
    stride: int  # jobs between two consecutive elements of this factor (the product of the later sizes)
    parts: dict[tuple[str, ...], _Part] = field(default_factory=dict)
    shared: dict[str, None] | None = None  # value overrides of every element, in order


def _classify(v: _Validator, sweep: Sweep) -> list[_Factor]:
    """One pass over each factor (not over the product): parts by group tuple, first uses, shared values."""
    factors: list[_Factor] = []
    stride = sweep.count
    for factor in sweep.factors:
        stride //= factor.size
        info = _Factor(factor, stride)
        for i, element in enumerate(factor):
            groups, values = v.split_element(i * stride, sweep, element)
            part = info.parts.get(groups)
            if part is None:
                part = info.parts[groups] = _Part(i)
            for text in values:
                part.values.setdefault(text, i)
            if info.shared is None:
                info.shared = dict.fromkeys(values)
            elif info.shared:
                present = set(values)
                info.shared = {text: None for text in info.shared if text in present}
        factors.append(info)
    return factors


def validate(sweep: Sweep, config_loader: Any, master: DictConfig) -> ValidationReport:
    """Check every job of ``sweep`` against the app's config; an :class:`InvalidJobError` names a bad job.

    The work is bounded by the sweep's factors (:attr:`hydraflow.sweep.Sweep.factors`), never by its product:
    each factor's elements are parsed and classified once; the config is composed once per combination of
    config-group overrides (the product of each factor's distinct group tuples); and each distinct value
    override is applied once to the config of every combination it appears with. A 10^12-job sweep of twelve
    10-value ranges is validated with 120 value checks, without enumerating a single job.
    """
    tic = time.perf_counter()
    v = _Validator(config_loader, master)
    factors = _classify(v, sweep)
    v.report.jobs = sweep.count
    v.report.distinct_overrides = len(v.classifier.parsed)
    shared = [text for f in factors for text in (f.shared or {})]
    shared_set = set(shared)
    # (combination, value override or None for all its jobs): the jobs to compose one by one
    full: list[tuple[tuple[tuple[str, ...], ...], str | None]] = []
    for keys in itertools.product(*(list(f.parts) for f in factors)):
        parts = [f.parts[k] for f, k in zip(factors, keys, strict=True)]
        first = sum(p.first * f.stride for f, p in zip(factors, parts, strict=True))
        groups = v.split(first, sweep[first])[0]
        try:
            base = v.compose([*groups, *shared])
        # whatever composing raises (see compose_job): maybe an interplay with a job's other overrides, so
        # the jobs are composed one by one, which reports a real error with its cause
        except Exception:  # noqa: BLE001
            v.compose_job(first, sweep[first])
            full.append((keys, None))
            continue
        _drop_hydra_node(base)  # value overrides never target hydra.*: copies stay small
        scratch: list[DictConfig] = []
        for f, part in zip(factors, parts, strict=True):
            for text, index in part.values.items():
                if text in shared_set or v.check_value(base, text, scratch):
                    continue
                job = first + (index - part.first) * f.stride
                v.compose_job(job, sweep[job])
                full.append((keys, text))
    if full:
        _compose_affected(v, sweep, factors, full)
    v.report.seconds = time.perf_counter() - tic
    return v.report


def _drop_hydra_node(cfg: DictConfig) -> None:
    from omegaconf import open_dict

    with open_dict(cfg):
        cfg.pop("hydra", None)


def _compose_affected(
    v: _Validator,
    sweep: Sweep,
    factors: list[_Factor],
    full: list[tuple[tuple[tuple[str, ...], ...], str | None]],
) -> None:
    """Compose in full every job that the cheap checks could not vouch for, in job order.

    Those are the jobs of a combination whose base could not be composed, and the jobs of a combination that
    use a value override whose check failed on the base; only these are enumerated.
    """
    texts: dict[tuple[tuple[str, ...], ...], set[str] | None] = {}
    for keys, text in full:
        if text is None:
            texts[keys] = None
        elif keys not in texts or texts[keys] is not None:
            texts.setdefault(keys, set()).add(text)  # type: ignore[union-attr]
    for keys, wanted in texts.items():
        choices = [_indices(v, sweep, f, k) for f, k in zip(factors, keys, strict=True)]
        for combo in itertools.product(*choices):
            n = sum(i * f.stride for f, i in zip(factors, combo, strict=True))
            overrides = sweep[n]
            if wanted is None or wanted.intersection(overrides):
                v.compose_job(n, overrides)


def _indices(v: _Validator, sweep: Sweep, factor: _Factor, groups: tuple[str, ...]) -> list[int]:
    """The indices of the elements of ``factor`` whose config-group overrides are ``groups``."""
    return [
        i
        for i, element in enumerate(factor.seq)
        if v.split_element(i * factor.stride, sweep, element)[0] == groups
    ]


__all__ = ["ValidationReport", "validate"]
