"""Dedup before launch: jobs whose MLflow run is already FINISHED are not launched at all.

A task function made by ``@hydraflow.main`` carries a hook, ``task.__hydraflow_dedup__`` (see
:class:`DedupHook`; :mod:`hydraflow.tracking.dedup` makes it), which this module calls once per batch. Each
job's config is composed here the way the job will see it (the composer's bases make that cheap), numbered
and given its output directory as ``run_job`` does, with Hydra's config set to it while the hook reads it;
the hook computes each job's fingerprint and asks the store once for the whole batch. A job it reports
FINISHED gets the JobReturn the job's own check would have returned (status COMPLETED, the run's stored
return value) and is neither forked nor submitted. Jobs the hook cannot judge, or left over when the time
budget runs out, are launched: the check inside each job stays, as the guard against races.

``launch`` does not import ``tracking``: the hook is found on the task function, typed by :class:`DedupHook`.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from typing import TYPE_CHECKING, Any, Protocol

from hydraflow.launch.common import job_output_dir, number_job, plural

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from hydra.core.utils import JobReturn
    from omegaconf import DictConfig

    from hydraflow.hydra_adapter.compose import JobComposer
    from hydraflow.launch.common import Batch

log = logging.getLogger(__name__)

HOOK = "__hydraflow_dedup__"
#: Controller time spent composing configs for the check, at most; the jobs after it are launched unchecked.
BUDGET_S = 30.0

Finished = tuple[str, Any]
"""A FINISHED run of a job: its run id and the value the job returns when it skips itself."""


class DedupHook(Protocol):
    """``task.__hydraflow_dedup__``: which of these jobs already have a FINISHED run.

    ``configs`` are the jobs' full configs (``hydra`` node included), numbered and with their output
    directory, yielded one after the other: Hydra's config (``HydraConfig``) is each job's own while it is
    being read, so the hook reads each one during its step of the iteration. The result has one entry per
    config read (the hook may stop early; jobs it did not read are launched): the job's :data:`Finished`
    run, or ``None`` when the job must run.
    """

    def __call__(self, configs: Iterable[DictConfig]) -> Sequence[Finished | None]:
        """The FINISHED run of each job read from ``configs``, or ``None``."""


def hook_of(task_function: Callable[..., Any]) -> DedupHook | None:
    """The dedup hook attached to ``task_function``, if any."""
    hook = getattr(task_function, HOOK, None)
    return hook if callable(hook) else None


def skip_finished(
    batch: Batch,
    composer: JobComposer,
    jobs: Sequence[tuple[int, Sequence[str]]],
    *,
    label: str,
    job_id: Callable[[int], str] = str,
) -> dict[int, JobReturn]:
    """JobReturns of the ``(job number, overrides)`` that need not run, by job number (see module docstring).

    ``composer`` is planned with the batch; its bases are composed here when missing. Any error of the hook
    (the store cannot be reached, ...) is logged and every job is launched.
    """
    from hydra.core.hydra_config import HydraConfig

    hook = hook_of(batch.task_function)
    if hook is None or not jobs:
        return {}
    started = time.monotonic()
    saved = HydraConfig.instance().cfg
    read = [0]

    def configs() -> Iterator[DictConfig]:
        deadline = time.monotonic() + BUDGET_S
        for num, overrides in jobs:
            if time.monotonic() > deadline:
                log.info("%s: dedup check stopped after %s (%g s budget)", label, plural(read[0], "job"), BUDGET_S)
                return
            read[0] += 1
            yield _numbered(composer, overrides, job_id(num), num)

    try:
        found = list(hook(configs()))
    except Exception as exc:  # noqa: BLE001 - the hook runs user code (update=) and reads a store: launch all
        log.warning("%s: could not check for FINISHED runs before launching (%s): every job runs", label, exc)
        return {}
    finally:
        HydraConfig.instance().cfg = saved
    skipped: dict[int, JobReturn] = {}
    try:
        for (num, overrides), hit in zip(jobs, found, strict=False):
            if hit is not None:
                skipped[num] = _skipped_return(composer, overrides, job_id(num), num, hit[1])
    finally:
        HydraConfig.instance().cfg = saved
    if skipped or read[0]:
        log.info(
            "%s: %d of %s already have a FINISHED MLflow run: not launched (checked in %.2f s)",
            label,
            len(skipped),
            plural(len(jobs), "job"),
            time.monotonic() - started,
        )
    return skipped


def _numbered(composer: JobComposer, overrides: Sequence[str], job_id: str, num: int) -> DictConfig:
    """The job's config as ``run_job`` has it when the task starts: numbered, with its output directory."""
    from omegaconf import open_dict, read_write

    composer.prepare(overrides)
    cfg = composer.compose(overrides)
    number_job(cfg, job_id, num)
    output_dir = job_output_dir(cfg)
    with read_write(cfg.hydra.runtime), open_dict(cfg.hydra.runtime):
        cfg.hydra.runtime.output_dir = str(output_dir)
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().set_config(cfg)
    return cfg


def _skipped_return(
    composer: JobComposer, overrides: Sequence[str], job_id: str, num: int, value: Any
) -> JobReturn:
    """What ``run_job`` returns for a job that skipped itself, without running it or writing its files."""
    from hydra import version
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import JobReturn, JobRuntime, JobStatus
    from omegaconf import OmegaConf, open_dict, read_write

    cfg = _numbered(composer, overrides, job_id, num)
    task_cfg = copy.deepcopy(cfg)
    with read_write(task_cfg), open_dict(task_cfg):
        del task_cfg["hydra"]
    hydra_cfg = copy.deepcopy(HydraConfig.instance().cfg)
    chdir = hydra_cfg.hydra.job.chdir  # type: ignore[union-attr]
    if chdir is None:  # as run_job decides it
        chdir = not version.base_at_least("1.2")
    return JobReturn(
        overrides=list(OmegaConf.to_container(cfg.hydra.overrides.task) or []),  # type: ignore[arg-type]
        cfg=task_cfg,
        hydra_cfg=hydra_cfg,
        working_dir=str(cfg.hydra.runtime.output_dir) if chdir else os.getcwd(),  # noqa: PTH109
        task_name=JobRuntime.instance().get("name"),
        status=JobStatus.COMPLETED,
        _return_value=value,
    )


__all__ = ["BUDGET_S", "HOOK", "DedupHook", "Finished", "hook_of", "skip_finished"]
