"""Analysis of runs: :class:`Run`, :class:`RunCollection`, :func:`iter_run_dirs`, polars/Arrow/pandas frames.

``Run.load(iter_run_dirs("train"))`` loads every run of the ``train`` job from the active MLflow tracking
store.
This package does not import MLflow unless the runs live on an MLflow server (HTTP).
"""

from __future__ import annotations

from hydraflow.analysis._errors import (
    CorruptRunWarning,
    MissingKeyError,
    MultipleRunsFoundError,
    NoRunFoundError,
    RunLoadError,
    RunLookupError,
)
from hydraflow.analysis.collection import Collection, GroupBy
from hydraflow.analysis.experiments import (
    file_uri_to_path,
    get_experiment_name,
    get_experiment_names,
    iter_artifact_paths,
    iter_artifacts_dirs,
    iter_experiment_dirs,
    iter_experiments,
)
from hydraflow.analysis.info import RunInfo
from hydraflow.analysis.matching import matches
from hydraflow.analysis.run import Run
from hydraflow.analysis.run_collection import RunCollection
from hydraflow.analysis.store import iter_run_dirs
from hydraflow.analysis.values import MISSING, to_hashable
from hydraflow.store.uri import resolve_tracking_uri

__all__ = [
    "MISSING",
    "Collection",
    "CorruptRunWarning",
    "GroupBy",
    "MissingKeyError",
    "MultipleRunsFoundError",
    "NoRunFoundError",
    "Run",
    "RunCollection",
    "RunInfo",
    "RunLoadError",
    "RunLookupError",
    "file_uri_to_path",
    "get_experiment_name",
    "get_experiment_names",
    "iter_artifact_paths",
    "iter_artifacts_dirs",
    "iter_experiment_dirs",
    "iter_experiments",
    "iter_run_dirs",
    "matches",
    "resolve_tracking_uri",
    "to_hashable",
]
