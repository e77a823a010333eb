"""Thin Hydra ``Launcher`` classes; every backend is imported lazily from :mod:`hydraflow.launch`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hydra.plugins.launcher import Launcher
from omegaconf import OmegaConf

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hydra.core.utils import JobReturn
    from hydra.types import HydraContext, TaskFunction
    from omegaconf import DictConfig


class _HydraflowLauncher(Launcher):
    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = {
            key: OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
            for key, value in params.items()
        }
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def _context(self) -> tuple[HydraContext, TaskFunction, DictConfig]:
        if self.hydra_context is None or self.task_function is None or self.config is None:
            raise RuntimeError(f"{type(self).__name__}.launch() called before setup()")
        return self.hydra_context, self.task_function, self.config


class HydraflowLocalLauncher(_HydraflowLauncher):
    """``hydra/launcher=hydraflow_local``: bounded pool of forked processes, one per job."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Run one batch in forked processes; JobReturns in job order."""
        from hydraflow.launch import local

        hydra_context, task_function, config = self._context()
        return local.launch(
            hydra_context=hydra_context,
            task_function=task_function,
            config=config,
            job_overrides=job_overrides,
            initial_job_idx=initial_job_idx,
            options=local.LocalOptions(**self.params),
        )


class HydraflowSlurmLauncher(_HydraflowLauncher):
    """``hydra/launcher=hydraflow_slurm``: one ``sbatch`` job array per batch (split at MaxArraySize)."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Submit one batch as job array(s) and wait for every job; JobReturns in job order."""
        from hydraflow.launch import slurm

        hydra_context, task_function, config = self._context()
        return slurm.launch(
            hydra_context=hydra_context,
            task_function=task_function,
            config=config,
            job_overrides=job_overrides,
            initial_job_idx=initial_job_idx,
            params=self.params,
        )


class HydraflowPBSLauncher(_HydraflowLauncher):
    """``hydra/launcher=hydraflow_pbs``: one PBS job array per batch (hydraflow's submitit PBS plugin)."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Submit one batch as PBS job array(s) and wait for every job; JobReturns in job order."""
        from hydraflow.launch import pbs_launch  # type: ignore[attr-defined,unused-ignore]

        hydra_context, task_function, config = self._context()
        return pbs_launch.launch(
            hydra_context=hydra_context,
            task_function=task_function,
            config=config,
            job_overrides=job_overrides,
            initial_job_idx=initial_job_idx,
            params=self.params,
        )
