"""The launcher backends as the Hydra plugin sees them: ``configure(params)``, then ``launch(conf, batch)``.

``hydra_plugins.hydraflow_launcher`` reaches the backends only through this module (one function per
backend, each importing its backend on first use), so the plugin package never imports a backend itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping

    from hydra.core.utils import JobReturn

    from hydraflow.launch.common import Batch


class LauncherBackend(Protocol):
    """What a backend module (``hydraflow.launch.<scheduler>.backend``) provides."""

    def configure(self, params: Mapping[str, Any]) -> Any:
        """The ``hydra.launcher`` fields as checked settings; raises ``LauncherConfigError``."""

    def launch(self, conf: Any, batch: Batch) -> list[JobReturn]:
        """Run one batch with the settings of :meth:`configure`; JobReturns in job order."""


def local() -> LauncherBackend:
    """``hydraflow_local``: :mod:`hydraflow.launch.local.backend`."""
    from hydraflow.launch.local import backend

    return backend


def slurm() -> LauncherBackend:
    """``hydraflow_slurm``: :mod:`hydraflow.launch.slurm.backend`."""
    from hydraflow.launch.slurm import backend

    return backend


def pbs() -> LauncherBackend:
    """``hydraflow_pbs``: :mod:`hydraflow.launch.pbs.backend`."""
    from hydraflow.launch.pbs import backend

    return backend


__all__ = ["LauncherBackend", "local", "pbs", "slurm"]
