"""Thin Hydra ``Launcher`` classes; every backend is imported lazily from :mod:`hydraflow.launch`."""

from __future__ import annotations

import importlib
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

    # the module of hydraflow.launch that runs a batch: launch(hydra_context=, task_function=, config=,
    # job_overrides=, initial_job_idx=, params=) -> list[JobReturn]; imported on first launch only
    _BACKEND: str

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Run one batch on this launcher's backend; JobReturns in job order."""
        if self.hydra_context is None or self.task_function is None or self.config is None:
            raise RuntimeError(f"{type(self).__name__}.launch() called before setup()")
        backend = importlib.import_module(self._BACKEND)
        return backend.launch(
            hydra_context=self.hydra_context,
            task_function=self.task_function,
            config=self.config,
            job_overrides=job_overrides,
            initial_job_idx=initial_job_idx,
            params=self.params,
        )


class HydraflowLocalLauncher(_HydraflowLauncher):
    """``hydra/launcher=hydraflow_local``: bounded pool of forked processes, one per job."""

    _BACKEND = "hydraflow.launch.local"


class HydraflowSlurmLauncher(_HydraflowLauncher):
    """``hydra/launcher=hydraflow_slurm``: one ``sbatch`` job array per batch (split at MaxArraySize)."""

    _BACKEND = "hydraflow.launch.slurm"


class HydraflowPBSLauncher(_HydraflowLauncher):
    """``hydra/launcher=hydraflow_pbs``: one PBS job array per batch (hydraflow's submitit PBS plugin)."""

    _BACKEND = "hydraflow.launch.pbs_launch"
