"""Job configs composed once per combination of config groups, as Hydra's ``load_sweep_config`` would.

Hydra composes the config of every job from scratch (``ConfigLoader.load_sweep_config``): it reads and
merges every config file of the defaults list, then applies the job's value overrides. For a sweep over
values (``lr=...``, ``seed=...``) everything but the last step is the same for every job, and it is by far
the most expensive part of starting a short job (~50 ms of ~70 ms here).

:class:`JobComposer` groups the jobs by their config-group overrides (:mod:`.overrides`), composes the config
once per combination with Hydra's own ``load_sweep_config`` (:func:`compose`), and finishes each job from
that *base*: the value overrides are applied with Hydra's own ``_apply_overrides_to_config``
(:func:`apply_overrides`: struct mode, structured-config types, ``+``/``++``/``~``), then the per-job fields
that Hydra derives from the overrides are set again (``hydra.overrides.task``, ``hydra.job.override_dirname``)
and the resolver cache is copied from the master config. The result is the config ``load_sweep_config``
returns — the tests compare both, node for node, over group, value, add, force-add, delete, list and dict
overrides.

Whatever this shortcut does not cover is composed in full by Hydra: a value override of a ``hydra.*`` key
(Hydra derives ``hydra.job.env_set`` and more from those after applying them), an override that Hydra
cannot parse or that is still a sweep, a base that fails to compose, a value override that fails to apply
(so an error message is always Hydra's own).
"""

from __future__ import annotations

import copy
import logging
import os
from typing import TYPE_CHECKING, Any, NamedTuple

from hydraflow.hydra_adapter.errors import OverrideError
from hydraflow.hydra_adapter.overrides import Grouping, OverrideClassifier

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from hydra.core.override_parser.types import Override
    from omegaconf import DictConfig

log = logging.getLogger(__name__)


def compose(config_loader: Any, master: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """Hydra's full composition of a job's config (``load_sweep_config``); raises Hydra's own errors."""
    cfg: DictConfig = config_loader.load_sweep_config(master_config=master, sweep_overrides=list(overrides))
    return cfg


def apply_overrides(cfg: DictConfig, overrides: list[Override]) -> None:
    """Apply parsed value overrides to ``cfg`` in place, as Hydra applies command-line overrides.

    Raises Hydra's ``ConfigCompositionException`` for an override the config rejects.
    """
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    ConfigLoaderImpl._apply_overrides_to_config(overrides, cfg)  # noqa: SLF001


class AppConfig(NamedTuple):
    """A job's application config (no ``hydra`` node) with what Hydra would say of the job."""

    config: DictConfig
    overrides: list[str]  # hydra.overrides.task
    job_name: str  # hydra.job.name


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
        self._classifier: OverrideClassifier | None = None
        self.bases: dict[tuple[str, ...], DictConfig | None] = {}  # None: composing the base failed
        self.grouping = Grouping()
        self.pending: dict[tuple[str, ...], int] = {}  # jobs of the combination not started yet
        self.full = 0  # jobs composed in full (for tests and benchmarks)
        self.shortcut = 0  # jobs finished from a base

    @property
    def classifier(self) -> OverrideClassifier:
        """The override classifier (reads the config repository on first use)."""
        if self._classifier is None:
            self._classifier = OverrideClassifier(self.loader, self.master)
        return self._classifier

    def export(self) -> dict[str, Any]:
        """What another process needs to finish jobs from the bases composed here (picklable).

        For batch schedulers: the controller composes the bases, the array tasks :meth:`restore` them.
        """
        return {
            "bases": {g: b for g, b in self.bases.items() if b is not None},
            "is_group": dict(self._classifier.is_group) if self._classifier is not None else {},
        }

    @classmethod
    def restore(cls, config_loader: Any, master: DictConfig, exported: dict[str, Any]) -> JobComposer:
        """A composer with the bases and override classes of :meth:`export` (no repository read)."""
        composer = cls(config_loader, master)
        composer._classifier = OverrideClassifier(config_loader, master, known=exported["is_group"])
        composer.bases = dict(exported["bases"])
        return composer

    def _split(self, overrides: Sequence[str]) -> tuple[tuple[str, ...], list[Override]] | None:
        """(group overrides, parsed value overrides) or ``None`` when the job must be composed in full."""
        classifier = self.classifier
        try:
            groups, values = classifier.split(overrides)
        except OverrideError:  # Hydra's full composition reports it in its own words
            return None
        parsed = [classifier.parsed[text] for text in values]
        if any(o.is_hydra_override() or o.key_or_group == "hydra" for o in parsed):
            return None
        return groups, parsed

    def plan(self, jobs: Iterable[Sequence[str]]) -> None:
        """Count the jobs of each group combination, so that only shared bases are composed ahead."""
        for n, overrides in enumerate(jobs):
            split = self._split(overrides)
            if split is not None:
                self.grouping.add(n, split[0], ())
        self.pending = {groups: c.jobs for groups, c in self.grouping.combinations.items()}

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
        combination = self.grouping.combinations.get(groups)
        if groups in self.bases or combination is None or combination.jobs < self.min_jobs:
            return
        try:
            base: DictConfig | None = compose(self.loader, self.master, groups)
        # load_sweep_config raises whatever composing raises (Hydra's, OmegaConf's, a resolver's errors): the
        # jobs of this combination are then composed in full, which raises it again in Hydra's own words
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
        return compose(self.loader, self.master, overrides)

    def app_config(self, overrides: Sequence[str]) -> AppConfig | None:
        """The job's config without its ``hydra`` node, from its combination's base (cheap); None without one.

        Only the application part of the base is copied before the value overrides are applied (not the
        whole config, whose ``hydra`` node is most of it): for a process that reads job configs without
        running them (a launcher fingerprinting its jobs). ``${hydra:...}`` interpolations of the result
        need Hydra's config set to the job's full config (:meth:`compose`).
        """
        from hydra.errors import HydraException
        from omegaconf import OmegaConf

        split = self._split(overrides)
        base = None if split is None else self.bases.get(split[0])
        if split is None or base is None:
            return None
        cfg = OmegaConf.masked_copy(base, [str(key) for key in base if key != "hydra"])
        OmegaConf.set_struct(cfg, OmegaConf.is_struct(base))
        try:
            apply_overrides(cfg, split[1])
        except (HydraException, KeyError):  # Hydra's full composition raises its own error for it
            return None
        app = [str(o.input_line) for o in self._app_overrides(overrides)]
        return AppConfig(cfg, app, str(base.hydra.job.name))

    def _app_overrides(self, overrides: Sequence[str]) -> list[Override]:
        """The parsed application overrides (``hydra.overrides.task``): all but the ``hydra.*`` ones."""
        return [o for o in (self.classifier.parsed[t] for t in overrides) if not o.is_hydra_override()]

    def _from_base(self, overrides: Sequence[str], *, in_place: bool) -> DictConfig | None:
        from hydra._internal.config_loader_impl import get_overrides_dirname
        from hydra.errors import HydraException
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
            apply_overrides(cfg, values)
            # what Hydra reads from the composing process: the same here, but not in a batch job that got
            # its base from the controller
            cfg.hydra.runtime.cwd = os.getcwd()  # noqa: PTH109 - a str, as Hydra sets it
            with open_dict(cfg.hydra):
                for name in job.env_copy:
                    job.env_set[name] = os.environ[name]
        except (HydraException, KeyError):  # Hydra's full composition raises its own error for it
            return None
        app = self._app_overrides(overrides)
        cfg.hydra.overrides.task = [o.input_line for o in app]
        job.override_dirname = get_overrides_dirname(
            overrides=app,
            kv_sep=job.config.override_dirname.kv_sep,
            item_sep=job.config.override_dirname.item_sep,
            exclude_keys=job.config.override_dirname.exclude_keys,
        )
        OmegaConf.copy_cache(from_config=self.master, to_config=cfg)
        return cfg


__all__ = ["AppConfig", "JobComposer", "apply_overrides", "compose"]
