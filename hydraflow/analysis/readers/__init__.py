"""One reader per kind of MLflow store, each listing run directories and reading run info the fast way.

- :mod:`~hydraflow.analysis.readers.file`: a file store (``./mlruns``), straight from its files;
- :mod:`~hydraflow.analysis.readers.sqlite`: a sqlite database, read-only with :mod:`sqlite3`, batched;
- :mod:`~hydraflow.analysis.readers.server`: an ``mlflow server``, through its REST API as JSON pages;
- :mod:`~hydraflow.analysis.readers.client`: everything else (PostgreSQL/MySQL URIs, Databricks) through
  ``MlflowClient.search_runs`` in pages.

:mod:`hydraflow.analysis.store` picks the reader from the tracking URI (:func:`hydraflow.store.parse_store`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

#: Whether an experiment name is wanted (``iter_infos(..., match, ...)``).
NameMatch: TypeAlias = Callable[[str], bool]
#: ``(experiment_id, run_id, artifact_uri) -> the run's directory on this machine``.
RunDirOf: TypeAlias = Callable[[str, str, "str | None"], Path]

__all__ = ["NameMatch", "RunDirOf"]
