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
    "Run": "hydraflow.analysis",
    "RunCollection": "hydraflow.analysis",
    "iter_run_dirs": "hydraflow.analysis",
}

__all__ = [
    "Run",
    "RunCollection",
    "Sweep",
    "SweepSyntaxError",
    "__version__",
    "expand",
    "fingerprint",
    "iter_run_dirs",
    "main",
]

if TYPE_CHECKING:  # pragma: no cover
    from hydraflow.analysis import Run, RunCollection, iter_run_dirs
    from hydraflow.sweep import Sweep, SweepSyntaxError, expand
    from hydraflow.tracking import fingerprint
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
