"""``hydraflow.core.context`` of HydraFlow 0.23: :func:`start_run`, :func:`log_run`, :func:`chdir_artifact`.

``HydraConfig`` is Hydra's class, named here as HydraFlow's module names it (tests patch
``hydraflow.core.context.HydraConfig.get``).
"""

from __future__ import annotations

from hydra.core.hydra_config import HydraConfig

from hydraflow.tracking.context import chdir_artifact, log_run, start_run

__all__ = ["HydraConfig", "chdir_artifact", "log_run", "start_run"]
