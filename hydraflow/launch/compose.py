"""Job configs composed once per combination of config groups, as Hydra's ``load_sweep_config`` would.

Hydra composes the config of every job from scratch (``ConfigLoader.load_sweep_config``): it reads and
merges every config file of the defaults list, then applies the job's value overrides. For a sweep over
values (``lr=...``, ``seed=...``) everything but the last step is the same for every job, and it is by far
the most expensive part of starting a short job (~50 ms of ~70 ms here).

:class:`JobComposer` splits each job's overrides the way Hydra does (an override selects a config group
when its key is a group of the app's config repository and its value is not a mapping), composes the config
once per distinct tuple of group overrides with Hydra's own ``load_sweep_config``, and finishes each job
from that *base*: the value overrides are applied with Hydra's own ``_apply_overrides_to_config`` (struct
mode, structured-config types, ``+``/``++``/``~``), then the per-job fields that Hydra derives from the
overrides are set again (``hydra.overrides.task``, ``hydra.job.override_dirname``) and the resolver cache
is copied from the master config. The result is the config ``load_sweep_config`` returns — the tests
compare both, node for node, over group, value, add, force-add, delete, list and dict overrides.

Whatever this shortcut does not cover is composed in full by Hydra: a value override of a ``hydra.*`` key
(Hydra derives ``hydra.job.env_set`` and more from those after applying them), an override that Hydra
cannot parse or that is still a sweep, a base that fails to compose, a value override that fails to apply
(so an error message is always Hydra's own).
"""

from __future__ import annotations

import copy
import logging
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from hydra.core.override_parser.types import Override
    from omegaconf import DictConfig

log = logging.getLogger(__name__)


_KNOWN_ONLY: Any = object()  # OverrideClassifier.repo when classifying from a given table only


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

        self.loader = config_loader
        self.master = master
        self.parser = OverridesParser.create()
        self.parsed: dict[str, Override] = {}
        self.is_group: dict[str, bool] = dict(known or {})
        self.repo = self._repository() if known is None else _KNOWN_ONLY

    def _repository(self) -> Any:
        """Hydra's config repository with the app's search path (``None`` if Hydra's internals differ)."""
        from omegaconf import OmegaConf

        hydra_overrides = OmegaConf.to_container(self.master.hydra.overrides.hydra, resolve=False)
        try:
            _, repo = self.loader._parse_overrides_and_create_caching_repo(  # noqa: SLF001
                self.master.hydra.job.config_name, hydra_overrides
            )
        except Exception:
            log.debug("config repository unavailable", exc_info=True)
            return None
        return repo

    def parse(self, text: str) -> Override:
        """Hydra's parse of one override (cached); raises Hydra's own error for a malformed one."""
        override = self.parsed.get(text)
        if override is None:
            override = self.parsed[text] = self.parser.parse_override(text)
        return override

    def classify(self, text: str) -> bool:
        """True when ``text`` selects a config group (Hydra's ``Overrides`` rule); parses it if needed."""
        known = self.is_group.get(text)
        if known is not None:
            return known
        override = self.parse(text)
        if self.repo is None or self.repo is _KNOWN_ONLY:
            group = True
        else:
            is_dict = isinstance(override.value(), dict)
            group = not is_dict and bool(self.repo.group_exists(override.key_or_group))
        self.is_group[text] = group
        return group


class JobComposer:
    """Compose job configs like ``config_loader.load_sweep_config(master, overrides)``, sharing the work.

    Use :meth:`plan` with the whole batch, :meth:`prepare` before a job starts (in the process that keeps
    the cache, e.g. a launcher before it forks), and :meth:`compose` to get the job's config. ``in_place``
    lets :meth:`compose` change the cached base itself instead of a copy: only for a process that uses the
    base once and then ends, such as a forked child.
    """

    def __init__(self, config_loader: Any, master: DictConfig, *, min_jobs: int = 2) -> None:
        """Compose for ``master``; a base is composed ahead only for ``min_jobs`` or more jobs."""
        self.loader = config_loader
        self.master = master
        self.min_jobs = min_jobs
        self.classifier: OverrideClassifier | None = None
        self.bases: dict[tuple[str, ...], DictConfig | None] = {}  # None: composing the base failed
        self.counts: dict[tuple[str, ...], int] = {}
        self.pending: dict[tuple[str, ...], int] = {}  # jobs of the combination not started yet
        self.full = 0  # jobs composed in full (for tests and benchmarks)
        self.shortcut = 0  # jobs finished from a base

    def export(self) -> dict[str, Any]:
        """What another process needs to finish jobs from the bases composed here (picklable).

        For batch schedulers: the controller composes the bases, the array tasks :meth:`restore` them.
        """
        return {
            "bases": {g: b for g, b in self.bases.items() if b is not None},
            "is_group": dict(self.classifier.is_group) if self.classifier is not None else {},
        }

    @classmethod
    def restore(cls, config_loader: Any, master: DictConfig, exported: dict[str, Any]) -> JobComposer:
        """A composer with the bases and override classes of :meth:`export` (no repository read)."""
        composer = cls(config_loader, master)
        composer.classifier = OverrideClassifier(config_loader, master, known=exported["is_group"])
        composer.bases = dict(exported["bases"])
        return composer

    def _split(self, overrides: Sequence[str]) -> tuple[tuple[str, ...], list[Override]] | None:
        """(group overrides, parsed value overrides) or ``None`` when the job must be composed in full."""
        if self.classifier is None:
            try:
                self.classifier = OverrideClassifier(self.loader, self.master)
            except Exception:
                log.debug("override classifier unavailable", exc_info=True)
                return None
        classifier = self.classifier
        if classifier.repo is None:
            return None
        groups: list[str] = []
        values: list[Override] = []
        try:
            for text in overrides:
                override = classifier.parse(text)
                if override.is_sweep_override():
                    return None
                if classifier.classify(text):
                    groups.append(text)
                elif override.is_hydra_override() or override.key_or_group == "hydra":
                    return None
                else:
                    values.append(override)
        except Exception:  # noqa: BLE001 - Hydra's full composition reports it in its own words
            return None
        return tuple(groups), values

    def plan(self, jobs: Iterable[Sequence[str]]) -> None:
        """Count the jobs of each group combination, so that only shared bases are composed ahead."""
        for overrides in jobs:
            split = self._split(overrides)
            if split is not None:
                self.counts[split[0]] = self.counts.get(split[0], 0) + 1
        self.pending = dict(self.counts)

    def started(self, overrides: Sequence[str]) -> None:
        """This job has its config (e.g. it was forked): drop the base once every job of it has one."""
        split = self._split(overrides)
        if split is None:
            return
        groups = split[0]
        left = self.pending.get(groups, 0) - 1
        self.pending[groups] = left
        if left <= 0:
            self.bases.pop(groups, None)

    def prepare(self, overrides: Sequence[str]) -> None:
        """Compose (once) the base of this job's group combination if at least ``min_jobs`` jobs share it."""
        split = self._split(overrides)
        if split is None:
            return
        groups = split[0]
        if groups in self.bases or self.counts.get(groups, 0) < self.min_jobs:
            return
        try:
            base = self.loader.load_sweep_config(self.master, list(groups))
        except Exception:
            log.debug("base composition failed for %s", groups, exc_info=True)
            base = None
        self.bases[groups] = base

    def compose(self, overrides: Sequence[str], *, in_place: bool = False) -> DictConfig:
        """The job's config, equal to ``config_loader.load_sweep_config(master, overrides)``."""
        cfg = self._from_base(overrides, in_place=in_place)
        if cfg is not None:
            self.shortcut += 1
            return cfg
        self.full += 1
        return self.loader.load_sweep_config(self.master, list(overrides))

    def _from_base(self, overrides: Sequence[str], *, in_place: bool) -> DictConfig | None:
        from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
        from omegaconf import OmegaConf, open_dict

        split = self._split(overrides)
        if split is None:
            return None
        groups, values = split
        base = self.bases.get(groups)
        if base is None:
            return None
        cfg = base if in_place else copy.deepcopy(base)
        if in_place:
            self.bases.pop(groups)  # changed below: never hand it out again
        job = cfg.hydra.job
        try:
            ConfigLoaderImpl._apply_overrides_to_config(values, cfg)  # noqa: SLF001
            # what Hydra reads from the composing process: the same here, but not in a batch job that got
            # its base from the controller
            cfg.hydra.runtime.cwd = os.getcwd()  # noqa: PTH109 - a str, as Hydra sets it
            with open_dict(cfg.hydra):
                for name in job.env_copy:
                    job.env_set[name] = os.environ[name]
        except Exception:  # noqa: BLE001 - Hydra's full composition raises its own error for it
            return None
        app = [self.classifier.parsed[t] for t in overrides]  # type: ignore[union-attr]
        app = [o for o in app if not o.is_hydra_override()]
        cfg.hydra.overrides.task = [o.input_line for o in app]
        job.override_dirname = get_overrides_dirname(
            overrides=app,
            kv_sep=job.config.override_dirname.kv_sep,
            item_sep=job.config.override_dirname.item_sep,
            exclude_keys=job.config.override_dirname.exclude_keys,
        )
        OmegaConf.copy_cache(from_config=self.master, to_config=cfg)
        return cfg


__all__ = ["JobComposer", "OverrideClassifier"]
