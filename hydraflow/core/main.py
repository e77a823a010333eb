"""``hydraflow.core.main`` of HydraFlow 0.23: :func:`main` and its run-lookup helpers.

``HydraConfig`` is Hydra's class, named here as HydraFlow's module names it (tests patch
``hydraflow.core.main.HydraConfig.get``).
"""

from __future__ import annotations

from hydra.core.hydra_config import HydraConfig

from hydraflow.tracking.main import main
from hydraflow.tracking.runs import equals, get_run_id, set_experiment

__all__ = ["HydraConfig", "equals", "get_run_id", "main", "set_experiment"]
