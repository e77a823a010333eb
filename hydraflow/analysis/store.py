"""Runs from an MLflow tracking store: list their directories, read their info in one batch.

The store named by the tracking URI (:func:`hydraflow.store.parse_store`) is read by the reader of its kind
(:mod:`hydraflow.analysis.readers`): a file store from its files, a sqlite database with :mod:`sqlite3`, and
anything else (an ``mlflow server``, PostgreSQL/MySQL) through MLflow's client, which is only imported then.
"""

from __future__ import annotations

import fnmatch
import sqlite3
import warnings
from typing import TYPE_CHECKING, TypeAlias

import yaml

from hydraflow.analysis._errors import CorruptRunWarning
from hydraflow.analysis.info import RunInfo
from hydraflow.analysis.loading import parallel_map
from hydraflow.analysis.readers import client, file, sqlite
from hydraflow.store.uri import parse_store

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Iterator
    from pathlib import Path

__all__ = ["ExperimentNames", "experiment_matcher", "iter_run_dirs", "read_infos"]

ExperimentNames: TypeAlias = "str | Iterable[str] | Callable[[str], bool] | None"


def experiment_matcher(experiment_names: ExperimentNames) -> Callable[[str], bool]:
    """A predicate on experiment names: names or :mod:`fnmatch` patterns, a predicate, or None (all).

    >>> experiment_matcher(["train*", "eval"])("train_b"), experiment_matcher("eval")("evaluate")
    (True, False)
    """
    if experiment_names is None:
        return lambda _name: True
    if callable(experiment_names):
        return experiment_names
    names = [experiment_names] if isinstance(experiment_names, str) else list(experiment_names)
    return lambda name: any(fnmatch.fnmatchcase(name, p) for p in names)


def iter_run_dirs(
    experiment_names: ExperimentNames = None,
    *,
    tracking_uri: str | os.PathLike[str] | None = None,
    include_deleted: bool = False,
) -> Iterator[Path]:
    """Iterate over the run directories of the tracking store, experiment by experiment.

    Args:
        experiment_names: Experiment (= Hydra job) names or :mod:`fnmatch` patterns (``"train*"``); a string
            or a list of them, or a predicate on the name. None: every experiment.
        tracking_uri: The store to read; default: MLflow's active tracking URI (``mlflow.get_tracking_uri()``,
            ``MLFLOW_TRACKING_URI``, else MLflow's default ``sqlite:///mlflow.db``). A file-store path, a
            ``sqlite:///`` URI or an ``http://`` URI of an ``mlflow server`` whose artifacts are local.
        include_deleted: Also yield deleted runs and the runs of deleted experiments.

    Yields:
        Run directories ``<artifact root>/<experiment id>/<run id>`` (each contains ``artifacts/``), ready for
        :meth:`Run.load`.
    """
    store = parse_store(tracking_uri)
    match = experiment_matcher(experiment_names)
    if store.kind == "file" and store.path is not None:
        yield from file.iter_run_dirs(store.path, match, include_deleted)
    elif store.kind == "sqlite" and store.path is not None:
        yield from sqlite.iter_run_dirs(store.path, match, include_deleted)
    else:
        yield from client.iter_run_dirs(store.uri, match, include_deleted)


def _read_file_run(run_dir: Path) -> tuple[Path, RunInfo | None, str | None]:
    try:
        return run_dir, file.read_info(run_dir), None
    except (OSError, ValueError, yaml.YAMLError) as exc:  # an unreadable or broken meta.yaml
        return run_dir, None, f"{type(exc).__name__}: {exc}"


def read_infos(run_dirs: list[Path], tracking_uri: str | None, n_jobs: int) -> dict[Path, RunInfo]:
    """Read the info of many runs: file-store runs from their files, the rest from the store in one batch.

    Runs the store does not know get a minimal :class:`RunInfo` and a :class:`CorruptRunWarning`; so do
    all of them when a sqlite store cannot be opened. Errors of a store reached through MLflow's client
    (network, authentication) propagate.
    """
    out: dict[Path, RunInfo] = {}
    file_runs = [d for d in run_dirs if file.is_run_dir(d)]
    file_set = set(file_runs)
    other = {d.name: d for d in run_dirs if d not in file_set}

    for d, info, err in parallel_map(_read_file_run, file_runs, n_jobs):
        if info is None:
            warnings.warn(f"run {d}: unreadable meta.yaml ({err})", CorruptRunWarning, stacklevel=4)
        out[d] = info or RunInfo(run_id=d.name, run_dir=d)
    if other:
        store = parse_store(tracking_uri)
        found: dict[str, RunInfo] = {}
        if store.kind == "sqlite" and store.path is not None:
            try:
                found = sqlite.read_infos(store.path, other)
            except (OSError, sqlite3.Error) as exc:  # no such file, not an MLflow database
                warnings.warn(
                    f"cannot read tracking store {store.uri}: {exc}", CorruptRunWarning, stacklevel=4
                )
        elif store.kind != "file":
            found = client.read_infos(store.uri, other)
        missing = [d for rid, d in other.items() if rid not in found]
        if missing:
            names = ", ".join(str(d) for d in missing[:5]) + (" ..." if len(missing) > 5 else "")  # noqa: PLR2004
            msg = f"{len(missing)} run(s) not found in tracking store {store.uri}: {names}"
            warnings.warn(msg, CorruptRunWarning, stacklevel=4)
        for rid, d in other.items():
            out[d] = found.get(rid) or RunInfo(run_id=rid, run_dir=d)
    return out
