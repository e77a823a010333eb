"""``hydraflow.core.io`` of HydraFlow 0.23: the experiments, runs and artifact directories of a store."""

from __future__ import annotations

from hydraflow.analysis.experiments import (
    file_uri_to_path,
    get_experiment_name,
    get_experiment_names,
    iter_artifact_paths,
    iter_artifacts_dirs,
    iter_experiment_dirs,
)
from hydraflow.analysis.store import iter_run_dirs
from hydraflow.tracking.context import get_artifact_dir, log_text

__all__ = [
    "file_uri_to_path",
    "get_artifact_dir",
    "get_experiment_name",
    "get_experiment_names",
    "iter_artifact_paths",
    "iter_artifacts_dirs",
    "iter_experiment_dirs",
    "iter_run_dirs",
    "log_text",
]
