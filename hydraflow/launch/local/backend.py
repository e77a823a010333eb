"""The ``hydraflow_local`` backend: one batch of jobs in a bounded pool of forked processes (:mod:`.pool`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hydraflow.launch.common import plural, usable_cpus
from hydraflow.launch.config import LocalConfig
from hydraflow.launch.local.pool import Pool

if TYPE_CHECKING:
    from collections.abc import Mapping

    from hydra.core.utils import JobReturn

    from hydraflow.launch.common import Batch

log = logging.getLogger(__name__)


def configure(params: Mapping[str, Any]) -> LocalConfig:
    """The ``hydra.launcher`` fields as checked settings; raises ``LauncherConfigError`` naming a bad one."""
    return LocalConfig.from_params(params)


def launch(conf: LocalConfig, batch: Batch) -> list[JobReturn]:
    """Run one batch of jobs in forked processes; returns their JobReturns in job order."""
    sweep_dir = batch.start()
    n_jobs = conf.n_jobs or usable_cpus()
    total = len(batch.job_overrides)
    log.info(
        "hydraflow_local: launching %s, %d at a time, in %s",
        plural(total, "job"),
        min(n_jobs, total),
        sweep_dir,
    )
    batch.log_jobs()
    pool = Pool(batch, conf, n_jobs)
    return pool.run([list(o) for o in batch.job_overrides], batch.initial_job_idx)


__all__ = ["configure", "launch"]
