"""The ``hydraflow_local`` backend: one batch of jobs in a bounded pool of forked processes.

The pool is :mod:`hydraflow.launch.pool` (the packed tasks of the batch schedulers use the same one). Jobs
whose ``@hydraflow.main`` run is already FINISHED are not forked (:mod:`hydraflow.launch.dedup`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hydraflow.hydra_adapter.compose import JobComposer
from hydraflow.launch.common import plural, usable_cpus
from hydraflow.launch.config import LocalConfig
from hydraflow.launch.dedup import hook_of, skip_finished
from hydraflow.launch.pool import Pool, PoolSettings

if TYPE_CHECKING:
    from collections.abc import Mapping

    from hydra.core.utils import JobReturn

    from hydraflow.launch.common import Batch

log = logging.getLogger(__name__)

LABEL = "hydraflow_local"


def configure(params: Mapping[str, Any]) -> LocalConfig:
    """The ``hydra.launcher`` fields as checked settings; raises ``LauncherConfigError`` naming a bad one."""
    return LocalConfig.from_params(params)


def launch(conf: LocalConfig, batch: Batch) -> list[JobReturn]:
    """Run one batch of jobs in forked processes; returns their JobReturns in job order."""
    sweep_dir = batch.start()
    n_jobs = conf.n_jobs or usable_cpus()
    jobs = [(batch.initial_job_idx + k, list(o)) for k, o in enumerate(batch.job_overrides)]
    loader = batch.hydra_context.config_loader
    composer = JobComposer(loader, batch.config)
    skipped: dict[int, JobReturn] = {}
    if hook_of(batch.task_function) is not None:
        composer.plan([o for _, o in jobs])
        skipped = skip_finished(batch, composer, jobs, label=LABEL)
        composer = JobComposer.restore(loader, batch.config, composer.export())  # the bases, for the pool
    todo = [(num, o) for num, o in jobs if num not in skipped]
    log.info(
        "%s: launching %s, %d at a time, in %s",
        LABEL,
        plural(len(todo), "job"),
        min(n_jobs, len(todo)),
        sweep_dir,
    )
    batch.log_jobs()
    settings = PoolSettings(
        workers=n_jobs,
        timeout_s=conf.timeout_s,
        kill_grace_s=conf.kill_grace_s,
        redirect_output=conf.redirect_output,
        progress=conf.progress,
        label=LABEL,
    )
    ran = Pool(batch.hydra_context, batch.task_function, composer, settings).run(todo) if todo else []
    results = dict(zip((num for num, _ in todo), ran, strict=True)) | skipped
    return [results[num] for num, _ in jobs]


__all__ = ["configure", "launch"]
