"""What every job of a batch needs, pickled once by the controller and loaded once per worker process.

The controller writes one file per batch into the submitit folder (:func:`write_shared`: Hydra context,
master config, task function, Hydra's singletons and the composed bases of the batch's config-group
combinations, :func:`plan_bases`); an array task (one job, or a packed task of several) loads it
(:func:`load_shared`, cached per process) and gets each job's config from it (:func:`compose_job`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.singleton import Singleton

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hydra.types import HydraContext, TaskFunction
    from omegaconf import DictConfig

    from hydraflow.hydra_adapter.compose import JobComposer

BASE_MIN_JOBS = 3
BASE_BUDGET_S = 5.0


@dataclass
class Shared:
    """The pickled state of a batch."""

    hydra_context: HydraContext
    config: DictConfig
    task_function: TaskFunction
    singletons: dict[Any, Any]
    composed: dict[str, Any] | None = None  # JobComposer.export() of the controller (bases per combination)
    composer: Any = field(default=None, repr=False)  # JobComposer restored on the worker (not pickled)

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the worker's composer."""
        state = dict(self.__dict__)
        state["composer"] = None
        return state

    def restore_composer(self) -> JobComposer:
        """A fresh composer holding the controller's bases (not cached: a packed task plans its own)."""
        from hydraflow.hydra_adapter.compose import JobComposer

        loader = self.hydra_context.config_loader
        if self.composed:
            return JobComposer.restore(loader, self.config, self.composed)
        return JobComposer(loader, self.config)


_SHARED_CACHE: dict[str, Shared] = {}


def load_shared(path: str) -> Shared:
    """The batch's shared state (read once per process) with Hydra's singletons and globals restored."""
    from hydra.core.utils import setup_globals

    shared = _SHARED_CACHE.get(path)
    if shared is None:
        import cloudpickle

        with Path(path).open("rb") as f:
            shared = cloudpickle.load(f)
        _SHARED_CACHE[path] = shared
    Singleton.set_state(shared.singletons)
    setup_globals()
    return shared


def compose_job(shared: Shared, overrides: Sequence[str]) -> DictConfig:
    """The job's config: from the controller's base of its config-group combination when there is one."""
    loader = shared.hydra_context.config_loader
    if shared.composed and shared.composed.get("bases"):
        if shared.composer is None:
            shared.composer = shared.restore_composer()
        cfg: DictConfig = shared.composer.compose(overrides)
        return cfg
    return loader.load_sweep_config(shared.config, list(overrides))


def plan_bases(
    hydra_context: HydraContext, config: DictConfig, job_overrides: Sequence[Sequence[str]]
) -> JobComposer:
    """In the controller: compose the config of each config-group combination shared by several jobs.

    Every array task then applies its value overrides to its combination's base instead of composing its
    config from scratch (~90 ms of a cold Python process). Bounded: combinations of at least
    :data:`BASE_MIN_JOBS` jobs, and no more than :data:`BASE_BUDGET_S` of controller time.
    """
    from hydraflow.hydra_adapter.compose import JobComposer

    composer = JobComposer(hydra_context.config_loader, config, min_jobs=BASE_MIN_JOBS)
    composer.plan(job_overrides)
    deadline = time.monotonic() + BASE_BUDGET_S
    for overrides in job_overrides:
        composer.prepare(overrides)
        if time.monotonic() > deadline:
            break
    return composer


def write_shared(
    folder: Path,
    hydra_context: HydraContext,
    config: DictConfig,
    task_function: TaskFunction,
    composed: dict[str, Any] | None = None,
) -> str:
    """Pickle the state shared by all jobs of a batch once; returns its path."""
    from hydraflow.launch import remote

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"hydraflow_shared_{uuid.uuid4().hex}.pkl"
    shared = Shared(hydra_context, config, task_function, Singleton.get_state(), composed)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        remote.dump(shared, f)  # the task function with its real file names (tracebacks on the cluster)
    tmp.replace(path)
    return str(path)


__all__ = [
    "BASE_BUDGET_S",
    "BASE_MIN_JOBS",
    "Shared",
    "compose_job",
    "load_shared",
    "plan_bases",
    "write_shared",
]
