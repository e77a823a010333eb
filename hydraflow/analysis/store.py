"""Runs from an MLflow tracking store: list their directories, read their info in one batch.

The store named by the tracking URI (:func:`hydraflow.store.parse_store`) is read by the reader of its kind
(:mod:`hydraflow.analysis.readers`): a file store from its files, a sqlite database with :mod:`sqlite3`, an
``mlflow server`` through its REST API, anything else (PostgreSQL/MySQL directly, Databricks) through MLflow's
client, which is only imported then. A run whose artifacts are not on this machine (proxied by a server, in
S3...) gets a directory in the artifact cache (:mod:`hydraflow.analysis.remote`), where its config is
fetched when the run is loaded.
"""

from __future__ import annotations

import fnmatch
import sqlite3
import warnings
from typing import TYPE_CHECKING, Any, TypeAlias

import yaml

from hydraflow.analysis import remote
from hydraflow.analysis._errors import CorruptRunWarning
from hydraflow.analysis.info import RunInfo
from hydraflow.analysis.loading import parallel_map
from hydraflow.analysis.readers import file, sqlite
from hydraflow.store.uri import parse_store, run_dir_of_artifact_uri

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
            ``sqlite:///`` URI, the ``http(s)://`` URI of an ``mlflow server`` (any artifact setup), or any
            other URI MLflow's client reads (``postgresql://...``).
        include_deleted: Also yield deleted runs and the runs of deleted experiments.

    Yields:
        Run directories ``<artifact root>/<experiment id>/<run id>`` (each contains ``artifacts/``), ready for
        :meth:`Run.load`. For a run whose artifacts are not on this machine, the directory is in the
        artifact cache (``HYDRAFLOW_ARTIFACT_CACHE_DIR``): :meth:`Run.load` fetches its config there, and
        ``run.path(...)`` any other artifact when asked for it.

    Raises:
        StoreError: A server cannot be reached or refuses the request (one line, with its URI).
    """
    store = parse_store(tracking_uri)
    match = experiment_matcher(experiment_names)
    if store.kind == "file" and store.path is not None:
        yield from file.iter_run_dirs(store.path, match, include_deleted)
    elif store.kind == "sqlite" and store.path is not None:
        yield from sqlite.iter_run_dirs(store.path, match, include_deleted)
    else:
        for info in _reader(store.kind).iter_infos(store.uri, match, include_deleted, _run_dir_of(store.uri)):
            remote.remember(info.run_dir, info)  # run.info then needs no second query
            yield info.run_dir


def _reader(kind: str) -> Any:
    from hydraflow.analysis.readers import client, server

    return server if kind == "server" else client


def _run_dir_of(uri: str) -> Callable[[str, str, str | None], Path]:
    """Where a run of the store ``uri`` lives here.

    Its own directory when its artifacts are local, else a directory in the artifact cache.
    """
    root: Path | None = None

    def run_dir_of(experiment_id: str, run_id: str, artifact_uri: str | None) -> Path:
        nonlocal root
        local = run_dir_of_artifact_uri(artifact_uri)
        if local is not None:
            return local
        if root is None:
            root = remote.cache_root(uri)
        return remote.run_dir(root, experiment_id, run_id)

    return run_dir_of


def _read_file_run(run_dir: Path) -> tuple[Path, RunInfo | None, str | None]:
    try:
        return run_dir, file.read_info(run_dir), None
    except (OSError, ValueError, yaml.YAMLError) as exc:  # an unreadable or broken meta.yaml
        return run_dir, None, f"{type(exc).__name__}: {exc}"


def _warn_missing(missing: list[Path], shown: str) -> None:
    if missing:
        names = ", ".join(str(d) for d in missing[:5]) + (" ..." if len(missing) > 5 else "")  # noqa: PLR2004
        msg = f"{len(missing)} run(s) not found in tracking store {shown}: {names}"
        warnings.warn(msg, CorruptRunWarning, stacklevel=5)


def _listed_or_cached(other: dict[str, Path], out: dict[Path, RunInfo]) -> None:
    """Move the runs a listing of this process saw, and those of the artifact cache, to ``out``.

    The runs of the artifact cache are read from the store their cache directory names.
    """
    cached: dict[str, list[Path]] = {}
    for rid, d in list(other.items()):
        listed = remote.take_info(d)
        uri = None if listed is not None else remote.store_uri(d)
        if listed is not None:
            out[d] = listed
        elif uri is not None:
            cached.setdefault(uri, []).append(d)
        else:
            continue
        del other[rid]
    for uri, dirs in cached.items():
        found = remote.read_infos(uri, dirs)
        _warn_missing([d for d in dirs if d not in found], remote.safe_uri(uri))
        for d in dirs:
            out[d] = found.get(d) or RunInfo(run_id=d.name, run_dir=d)


def read_infos(run_dirs: list[Path], tracking_uri: str | None, n_jobs: int) -> dict[Path, RunInfo]:
    """Read the info of many runs: file-store runs from their files, the rest from the store in one batch.

    Runs listed by :func:`iter_run_dirs` of a server (or another store read by MLflow's client) keep the
    info that listing found; the runs of the artifact cache are read from their own store. Runs the store
    does not know get a minimal :class:`RunInfo` and a :class:`CorruptRunWarning`; so do all of them when a
    sqlite store cannot be opened. Errors of a server (network, authentication) propagate.
    """
    out: dict[Path, RunInfo] = {}
    file_runs = [d for d in run_dirs if file.is_run_dir(d)]
    file_set = set(file_runs)
    other = {d.name: d for d in run_dirs if d not in file_set}
    _listed_or_cached(other, out)
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
            found = _reader(store.kind).read_infos(store.uri, other)
        _warn_missing([d for rid, d in other.items() if rid not in found], remote.safe_uri(store.uri))
        for rid, d in other.items():
            out[d] = found.get(rid) or RunInfo(run_id=rid, run_dir=d)
    return out
