"""Job overrides as Hydra sees them, and jobs grouped by their combination of config-group overrides.

Hydra composes a job's config in two steps: the config-group overrides (``db=postgres``, ``+experiment=x``,
``~model``) choose the files of the defaults list, then the value overrides (``lr=0.1``) are applied to the
merged config. Jobs with the same tuple of config-group overrides share everything but the last step.
:class:`OverrideClassifier` tells the two kinds apart with Hydra's own rule; :class:`Grouping` groups a
sweep's jobs by that tuple. Both the sweeper's validation (:mod:`.validate`) and the launchers' composition
(:mod:`.compose`) are built on them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hydraflow.hydra_adapter.errors import OverrideError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from hydra.core.override_parser.types import Override
    from omegaconf import DictConfig

log = logging.getLogger(__name__)


class OverrideClassifier:
    """Parse job overrides once each and tell config-group overrides from value overrides, as Hydra does."""

    def __init__(
        self, config_loader: Any, master: DictConfig, *, known: dict[str, bool] | None = None
    ) -> None:
        """Use ``config_loader`` (the app's) and the master config of the sweep.

        ``known`` (override -> is a group, from another process's classifier) skips reading the config
        repository: an override not in it counts as a group, which only ever means "compose in full".
        """
        from hydra.core.override_parser.overrides_parser import OverridesParser

        self.parser = OverridesParser.create()
        self.parsed: dict[str, Override] = {}
        self.is_group: dict[str, bool] = dict(known or {})
        self.repo = _config_repository(config_loader, master) if known is None else None

    def parse(self, text: str) -> Override:
        """Hydra's parse of one override (cached); raises :class:`OverrideError` for a malformed one."""
        override = self.parsed.get(text)
        if override is None:
            from hydra.errors import OverrideParseException

            try:
                override = self.parser.parse_override(text)
            except OverrideParseException as exc:
                raise OverrideError(text, f"Hydra cannot parse {text!r}: {exc}") from exc
            self.parsed[text] = override
        return override

    def classify(self, text: str) -> bool:
        """True when ``text`` selects a config group (Hydra's ``Overrides`` rule); parses it if needed.

        Raises :class:`OverrideError` when ``text`` is not one plain override (malformed, or still a sweep).
        """
        override = self.parse(text)  # always: the composer needs every job override parsed
        known = self.is_group.get(text)
        if known is not None:
            return known
        if override.is_sweep_override():
            raise OverrideError(
                text, f"{text!r} is still a sweep after expansion (quote the value to use it literally)"
            )
        if self.repo is None:
            group = True  # without the repository every override counts as a group: "compose in full"
        else:
            is_dict = isinstance(override.value(), dict)
            group = not is_dict and bool(self.repo.group_exists(override.key_or_group))
        self.is_group[text] = group
        return group

    def split(self, overrides: Sequence[str]) -> tuple[tuple[str, ...], list[str]]:
        """(config-group overrides, value overrides) of one job, each in the job's order.

        Raises :class:`OverrideError` for an override that is not one plain Hydra override.
        """
        groups: list[str] = []
        values: list[str] = []
        for text in overrides:
            (groups if self.classify(text) else values).append(text)
        return tuple(groups), values


def _config_repository(config_loader: Any, master: DictConfig) -> Any:
    """Hydra's config repository with the app's search path (``None`` if Hydra's internals differ)."""
    from omegaconf import OmegaConf

    hydra_overrides = OmegaConf.to_container(master.hydra.overrides.hydra, resolve=False)
    try:
        _, repo = config_loader._parse_overrides_and_create_caching_repo(  # noqa: SLF001
            master.hydra.job.config_name, hydra_overrides
        )
    except (AttributeError, TypeError):  # a Hydra version without this private method / signature
        log.debug("config repository unavailable: every job is composed in full", exc_info=True)
        return None
    return repo


@dataclass
class Combination:
    """The jobs that share one tuple of config-group overrides (and so one base config)."""

    groups: tuple[str, ...]
    first_job: int  # position of its first job
    jobs: int = 0
    values: dict[str, int] = field(default_factory=dict)  # value override -> first job using it, in order


@dataclass
class Grouping:
    """A sweep's jobs grouped by their combination of config-group overrides, in one pass.

    >>> g = Grouping()
    >>> jobs = [(("db=a",), ["x=1", "y=1"]), ((), ["x=1", "y=2"]), (("db=a",), ["x=2", "y=1"])]
    >>> for n, (groups, values) in enumerate(jobs):
    ...     _ = g.add(n, groups, values)
    >>> [(c.groups, c.first_job, c.jobs, list(c.values)) for c in g.combinations.values()]
    [(('db=a',), 0, 2, ['x=1', 'y=1', 'x=2']), ((), 1, 1, ['x=1', 'y=2'])]
    >>> g.shared()
    []
    """

    combinations: dict[tuple[str, ...], Combination] = field(default_factory=dict)
    uses: dict[str, int] = field(default_factory=dict)  # value override -> number of jobs using it
    jobs: int = 0

    def add(self, job: int, groups: tuple[str, ...], values: Iterable[str]) -> Combination:
        """Count job number ``job`` (its split overrides) in its combination; returns the combination."""
        self.jobs += 1
        combination = self.combinations.get(groups)
        if combination is None:
            combination = self.combinations[groups] = Combination(groups, job)
        combination.jobs += 1
        for text in values:
            combination.values.setdefault(text, job)
            self.uses[text] = self.uses.get(text, 0) + 1
        return combination

    def shared(self) -> list[str]:
        """The value overrides of every job, in the order of their first use."""
        return [text for text, count in self.uses.items() if count == self.jobs]


__all__ = ["Combination", "Grouping", "OverrideClassifier"]
