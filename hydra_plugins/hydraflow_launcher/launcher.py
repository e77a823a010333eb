"""Thin Hydra ``Launcher`` classes; each hands its batches to a backend of :mod:`hydraflow.launch`.

A backend (:mod:`hydraflow.launch.backends`) has ``configure(params)`` (the checked settings) and
``launch(conf, batch)``; it is imported when the launcher is set up, never while Hydra scans the plugins.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any

from hydra.plugins.launcher import Launcher
from omegaconf import OmegaConf

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hydra.core.utils import JobReturn
    from hydra.types import HydraContext, TaskFunction
    from omegaconf import DictConfig

    from hydraflow.launch.backends import LauncherBackend


class _HydraflowLauncher(Launcher):
    """What the three launchers share. Abstract (:meth:`_backend`): Hydra's plugin scan does not list it."""

    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = {
            key: OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
            for key, value in params.items()
        }
        self.conf: Any = None
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    @staticmethod
    @abstractmethod
    def _backend() -> LauncherBackend:
        """The backend (imported on first use)."""

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        """Check the launcher's settings and keep Hydra's context.

        Any sweeper sets its launcher up before it writes anything: a bad setting is a clear error
        (``LauncherConfigError`` naming ``hydra.launcher.<field>``) with nothing written.
        """
        self.conf = self._backend().configure(self.params)
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Run one batch on this launcher's backend; JobReturns in job order."""
        from hydraflow.launch.common import Batch

        if self.hydra_context is None or self.task_function is None or self.config is None:
            raise RuntimeError(f"{type(self).__name__}.launch() called before setup()")
        batch = Batch(self.hydra_context, self.task_function, self.config, job_overrides, initial_job_idx)
        return self._backend().launch(self.conf, batch)


class HydraflowLocalLauncher(_HydraflowLauncher):
    """``hydra/launcher=hydraflow_local``: bounded pool of forked processes, one per job."""

    @staticmethod
    def _backend() -> LauncherBackend:
        from hydraflow.launch import backends

        return backends.local()


class HydraflowSlurmLauncher(_HydraflowLauncher):
    """``hydra/launcher=hydraflow_slurm``: one ``sbatch`` job array per batch (split at MaxArraySize)."""

    @staticmethod
    def _backend() -> LauncherBackend:
        from hydraflow.launch import backends

        return backends.slurm()


class HydraflowPBSLauncher(_HydraflowLauncher):
    """``hydra/launcher=hydraflow_pbs``: one PBS job array per batch (hydraflow's submitit PBS plugin)."""

    @staticmethod
    def _backend() -> LauncherBackend:
        from hydraflow.launch import backends

        return backends.pbs()
