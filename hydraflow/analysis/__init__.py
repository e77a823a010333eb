"""Analysis of runs: :class:`Run`, :class:`RunCollection`, :func:`iter_run_dirs`, Arrow/pandas/polars frames.

``Run.load(iter_run_dirs("train"))`` loads every run of the ``train`` job from the active MLflow tracking
store.
This package does not import MLflow unless the runs live on an MLflow server (HTTP).
"""

from __future__ import annotations

from hydraflow.analysis._errors import (
    CorruptRunWarning,
    MultipleRunsFoundError,
    NoRunFoundError,
    RunLoadError,
    RunLookupError,
)
from hydraflow.analysis.collection import GroupBy, RunCollection, matches
from hydraflow.analysis.info import RunInfo
from hydraflow.analysis.run import Run
from hydraflow.analysis.store import iter_run_dirs
from hydraflow.analysis.values import MISSING
from hydraflow.store.uri import resolve_tracking_uri

__all__ = [
    "MISSING",
    "CorruptRunWarning",
    "GroupBy",
    "MultipleRunsFoundError",
    "NoRunFoundError",
    "Run",
    "RunCollection",
    "RunInfo",
    "RunLoadError",
    "RunLookupError",
    "iter_run_dirs",
    "matches",
    "resolve_tracking_uri",
]
