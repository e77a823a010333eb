"""hydraflow: extended Hydra sweeps, local/SLURM/PBS launchers and an MLflow runtime for large sweeps.

The public names are loaded lazily so that ``import hydraflow`` (and Hydra's plugin scan, which imports the
``hydra_plugins`` adapters that use :mod:`hydraflow.sweep`) stays cheap: MLflow, submitit and pyarrow are only
imported when the runtime or analysis API is first touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "expand": "hydraflow.sweep",
    "Sweep": "hydraflow.sweep",
    "SweepSyntaxError": "hydraflow.sweep",
    "main": "hydraflow.tracking.main",
    "fingerprint": "hydraflow.tracking",
    # analysis (HydraFlow 0.23's names included)
    "Collection": "hydraflow.analysis",
    "GroupBy": "hydraflow.analysis",
    "Run": "hydraflow.analysis",
    "RunCollection": "hydraflow.analysis",
    "RunInfo": "hydraflow.analysis",
    "iter_run_dirs": "hydraflow.analysis",
    "iter_artifacts_dirs": "hydraflow.analysis",
    "iter_artifact_paths": "hydraflow.analysis",
    "iter_experiment_dirs": "hydraflow.analysis",
    "get_experiment_names": "hydraflow.analysis",
    # MLflow runs inside a Hydra job of your own (HydraFlow 0.23's context managers)
    "start_run": "hydraflow.tracking.context",
    "log_run": "hydraflow.tracking.context",
    "chdir_artifact": "hydraflow.tracking.context",
    "get_artifact_dir": "hydraflow.tracking.context",
}

__all__ = [
    "Collection",
    "GroupBy",
    "Run",
    "RunCollection",
    "RunInfo",
    "Sweep",
    "SweepSyntaxError",
    "__version__",
    "chdir_artifact",
    "expand",
    "fingerprint",
    "get_artifact_dir",
    "get_experiment_names",
    "iter_artifact_paths",
    "iter_artifacts_dirs",
    "iter_experiment_dirs",
    "iter_run_dirs",
    "log_run",
    "main",
    "start_run",
]

if TYPE_CHECKING:  # pragma: no cover
    from hydraflow.analysis import (
        Collection,
        GroupBy,
        Run,
        RunCollection,
        RunInfo,
        get_experiment_names,
        iter_artifact_paths,
        iter_artifacts_dirs,
        iter_experiment_dirs,
        iter_run_dirs,
    )
    from hydraflow.sweep import Sweep, SweepSyntaxError, expand
    from hydraflow.tracking import fingerprint
    from hydraflow.tracking.context import chdir_artifact, get_artifact_dir, log_run, start_run
    from hydraflow.tracking.main import main


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'hydraflow' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
