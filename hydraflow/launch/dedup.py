"""Dedup before launch: jobs whose MLflow run is already FINISHED are not launched at all.

A task function made by ``@hydraflow.main`` carries a hook, ``task.__hydraflow_dedup__`` (protocol
:class:`DedupHook`; :mod:`hydraflow.tracking.dedup` makes it), which :func:`skip_finished` calls once per
batch with a lazy stream of :class:`JobView`: each job's application config as the task function will get it
(from the composer's base of its config-group combination, so a view costs about a millisecond), its
``hydra.overrides.task`` and job name. The hook computes each job's fingerprint, asks the store once for the
whole batch and answers for each view as it reads it. A job it reports FINISHED gets the JobReturn the job's
own check would have returned (status COMPLETED, the run's stored return value; its configs are composed
when first read) and is neither forked nor submitted, nor are its directory and files written. Jobs the
hook cannot judge, or left when the time budget is spent, are launched: the check inside each job stays, as
the guard against races.

``launch`` does not import ``tracking``: the hook is found on the task function and duck-typed.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from hydra.core.utils import JobReturn, JobStatus

from hydraflow.launch.common import job_output_dir, number_job, plural

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from omegaconf import DictConfig

    from hydraflow.hydra_adapter.compose import JobComposer
    from hydraflow.launch.common import Batch

log = logging.getLogger(__name__)

HOOK = "__hydraflow_dedup__"
#: Controller time spent reading job configs for the check, at most; the jobs after it are launched unchecked.
BUDGET_S = 60.0

Finished = tuple[str, Any]
"""A FINISHED run of a job: its run id and the value the job returns when it skips itself."""


@dataclass
class JobView:
    """One job as the dedup hook reads it."""

    num: int  # Hydra job number
    config: DictConfig  # the application config (no ``hydra`` node): what the task function gets
    overrides: list[str]  # hydra.overrides.task
    job_name: str  # hydra.job.name
    _full: Callable[[], DictConfig]

    def with_hydra(self) -> DictConfig:
        """Set Hydra's config to the job's own (``${hydra:...}`` then resolves as in the job); return it."""
        return self._full()


class DedupHook(Protocol):
    """``task.__hydraflow_dedup__``: which jobs already have a FINISHED run.

    Reads ``jobs`` one after the other and yields one answer per job read, right after reading it: the job's
    :data:`Finished` run, or ``None`` when it must run. It may stop early (the jobs it did not answer for are
    launched). Hydra's config is restored by the caller afterwards.
    """

    def __call__(self, jobs: Iterable[JobView]) -> Iterable[Finished | None]:
        """The FINISHED run of each job read from ``jobs``, or ``None``, in order."""


def hook_of(task_function: Callable[..., Any]) -> DedupHook | None:
    """The dedup hook attached to ``task_function``, if any."""
    hook = getattr(task_function, HOOK, None)
    return hook if callable(hook) else None


def warm_up(task_function: Callable[..., Any]) -> None:
    """Let the hook import what every job will import, before a pool forks its jobs (``hook.warm()``)."""
    warm = getattr(hook_of(task_function), "warm", None)
    if callable(warm):
        try:
            warm()
        except Exception as exc:  # noqa: BLE001 - an optimisation only: each job imports what it needs itself
            log.debug("dedup hook warm-up failed: %s", exc)


def skip_finished(
    batch: Batch,
    composer: JobComposer,
    jobs: Sequence[tuple[int, Sequence[str]]],
    *,
    label: str,
    job_id: Callable[[int], str] = str,
) -> dict[int, JobReturn]:
    """JobReturns of the ``(job number, overrides)`` that need not run, by job number (module docstring).

    ``composer`` is planned with the batch; the bases it lacks are composed here. Any error of the hook (a
    store that cannot be reached, an error in the app's ``update``) is logged and every job is launched.
    """
    from hydra.core.hydra_config import HydraConfig

    hook = hook_of(batch.task_function)
    if hook is None or not jobs:
        return {}
    started = time.monotonic()
    saved = HydraConfig.instance().cfg
    asked: deque[tuple[int, Sequence[str]]] = deque()

    def views() -> Iterator[JobView]:
        deadline = time.monotonic() + BUDGET_S
        for num, overrides in jobs:
            if time.monotonic() > deadline:
                log.info("%s: FINISHED-run check stopped at job #%d (%g s budget)", label, num, BUDGET_S)
                return
            asked.append((num, overrides))
            yield _view(composer, overrides, num, job_id(num))

    skipped: dict[int, JobReturn] = {}
    answered = 0
    try:
        for hit in hook(views()):
            answered += 1
            num, overrides = asked.popleft()
            if hit is not None:
                make = _maker(composer, overrides, job_id(num), num)
                skipped[num] = SkippedReturn(make, overrides=list(overrides), _return_value=hit[1])
    except Exception as exc:  # noqa: BLE001 - the hook runs user code (update=) and reads a store: launch all
        log.warning("%s: could not check for FINISHED runs before launching (%s): every job runs", label, exc)
        return {}
    finally:
        HydraConfig.instance().cfg = saved
    if not answered:  # the hook judges no job (an app that reruns every job, a dry run)
        return skipped
    log.info(
        "%s: %d of %s already have a FINISHED MLflow run: not launched (checked in %.2f s)",
        label,
        len(skipped),
        plural(len(jobs), "job"),
        time.monotonic() - started,
    )
    return skipped


def _view(composer: JobComposer, overrides: Sequence[str], num: int, job_id: str) -> JobView:
    from omegaconf import OmegaConf

    composer.prepare(overrides)

    def full() -> DictConfig:
        return _numbered(composer, overrides, job_id, num)

    app = composer.app_config(overrides)
    if app is not None:
        return JobView(num, app.config, app.overrides, app.job_name, full)
    cfg = full()  # no base for this job: composed in full, Hydra's config set to it
    task_cfg = OmegaConf.masked_copy(cfg, [str(key) for key in cfg if key != "hydra"])
    task_overrides = [str(o) for o in cfg.hydra.overrides.task]
    return JobView(num, task_cfg, task_overrides, str(cfg.hydra.job.name), lambda: cfg)


def _numbered(composer: JobComposer, overrides: Sequence[str], job_id: str, num: int) -> DictConfig:
    """The job's config as ``run_job`` has it when the task starts: numbered, with its output directory."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict, read_write

    cfg = composer.compose(overrides)
    number_job(cfg, job_id, num)
    output_dir = job_output_dir(cfg)
    with read_write(cfg.hydra.runtime), open_dict(cfg.hydra.runtime):
        cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    return cfg


def _maker(
    composer: JobComposer, overrides: Sequence[str], job_id: str, num: int
) -> Callable[[], tuple[DictConfig, DictConfig, str]]:
    """The (cfg, hydra_cfg, working_dir) that ``run_job`` would have put in a skipped job's JobReturn."""

    def make() -> tuple[DictConfig, DictConfig, str]:
        from hydra import version
        from hydra.core.hydra_config import HydraConfig
        from omegaconf import open_dict, read_write

        current = HydraConfig.instance().cfg
        try:
            cfg = _numbered(composer, overrides, job_id, num)
            task_cfg = copy.deepcopy(cfg)
            with read_write(task_cfg), open_dict(task_cfg):
                del task_cfg["hydra"]
            hydra_cfg = cast("DictConfig", copy.deepcopy(HydraConfig.instance().cfg))
        finally:
            HydraConfig.instance().cfg = current
        chdir = hydra_cfg.hydra.job.chdir
        if chdir is None:  # as run_job decides it
            chdir = not version.base_at_least("1.2")
        working_dir = str(cfg.hydra.runtime.output_dir) if chdir else os.getcwd()  # noqa: PTH109
        return task_cfg, hydra_cfg, working_dir

    return make


class SkippedReturn(JobReturn):
    """The JobReturn of a job that was not launched: COMPLETED with the stored return value.

    ``cfg``, ``hydra_cfg`` and ``working_dir`` are what ``run_job`` would have set; they are composed when
    first read (a rerun of thousands of finished jobs costs a small object each).
    """

    def __init__(self, make: Callable[[], tuple[DictConfig, DictConfig, str]], **fields: Any) -> None:
        """A COMPLETED return; ``make()`` gives (cfg, hydra_cfg, working_dir) when they are first read."""
        from hydra.core.utils import JobRuntime

        self._make: Callable[[], tuple[DictConfig, DictConfig, str]] | None = make
        self._lazy: dict[str, Any] = {}
        fields.setdefault("task_name", JobRuntime.instance().get("name"))
        super().__init__(status=JobStatus.COMPLETED, **fields)

    def _get(self, name: str) -> Any:
        if self._make is not None and self._lazy.get(name) is None:
            cfg, hydra_cfg, working_dir = self._make()
            self._make = None
            made = {"cfg": cfg, "hydra_cfg": hydra_cfg, "working_dir": working_dir}
            self._lazy = {key: self._lazy.get(key) or made[key] for key in made}
        return self._lazy.get(name)

    def _set(self, name: str, value: Any) -> None:
        self._lazy[name] = value

    def __getstate__(self) -> dict[str, Any]:
        """Pickled with its configs composed (the composer does not travel)."""
        self._get("cfg")
        return {**self.__dict__, "_make": None}

    cfg = property(lambda self: self._get("cfg"), lambda self, v: self._set("cfg", v))
    hydra_cfg = property(lambda self: self._get("hydra_cfg"), lambda self, v: self._set("hydra_cfg", v))
    working_dir = property(lambda self: self._get("working_dir"), lambda self, v: self._set("working_dir", v))


__all__ = [
    "BUDGET_S",
    "HOOK",
    "DedupHook",
    "Finished",
    "JobView",
    "SkippedReturn",
    "hook_of",
    "skip_finished",
]
