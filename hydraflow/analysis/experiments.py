"""The experiments of a tracking store, and the artifact directories of their runs.

HydraFlow 0.23's ``hydraflow.core.io`` functions, read by the reader of the store's kind (a file store from
its files, a sqlite database with :mod:`sqlite3`, anything else through MLflow's client). MLflow's placeholder
experiment ``Default`` is left out unless it is named.
"""

from __future__ import annotations

import os
import urllib.parse
import urllib.request
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from hydraflow.analysis._errors import CorruptRunWarning
from hydraflow.analysis.readers import client, file, sqlite
from hydraflow.analysis.store import ExperimentNames, experiment_matcher, iter_run_dirs
from hydraflow.store.uri import local_path, parse_store

if TYPE_CHECKING:
    from collections.abc import Iterator

DEFAULT_EXPERIMENT = "Default"
"""The experiment MLflow creates in every store (id 0), which Hydra jobs never use."""


def file_uri_to_path(uri: str | os.PathLike[str]) -> Path:
    """A ``file:`` URI as a local path; anything else as a path as it is.

    >>> file_uri_to_path("file:///a/b%20c").as_posix(), file_uri_to_path("/a/b").as_posix()
    ('/a/b c', '/a/b')
    """
    text = os.fspath(uri)
    if not text.startswith("file:"):
        return Path(text)
    return Path(urllib.request.url2pathname(urllib.parse.urlparse(text).path))


def _names_default(experiment_names: ExperimentNames) -> bool:
    """Whether ``Default`` is asked for by its exact name."""
    if isinstance(experiment_names, str):
        return experiment_names == DEFAULT_EXPERIMENT
    if experiment_names is None or callable(experiment_names):
        return False
    return DEFAULT_EXPERIMENT in list(experiment_names)


def _listed(
    experiment_names: ExperimentNames, tracking_uri: str | os.PathLike[str] | None
) -> Iterator[tuple[str, Path | str]]:
    """``(name, artifact location)`` of the active experiments whose name matches, in id order."""
    store = parse_store(tracking_uri)
    match = experiment_matcher(experiment_names)
    keep_default = _names_default(experiment_names)
    found: Iterator[tuple[str, Path | str]]
    if store.kind == "file" and store.path is not None:
        found = file.iter_experiments(store.path, include_deleted=False)
    elif store.kind == "sqlite" and store.path is not None:
        found = sqlite.iter_experiments(store.path, include_deleted=False)
    else:
        found = client.iter_experiments(store.uri, include_deleted=False)
    for name, location in found:
        if (name != DEFAULT_EXPERIMENT or keep_default) and match(name):
            yield name, location


def iter_experiments(
    experiment_names: ExperimentNames = None, *, tracking_uri: str | os.PathLike[str] | None = None
) -> Iterator[tuple[str, Path]]:
    """``(name, directory)`` of the active experiments whose name matches, in id order.

    The directory is the experiment's artifact location on this machine, which holds its run directories;
    an experiment whose artifacts are elsewhere (an ``mlflow server`` proxying them) has none here and is
    skipped with a :class:`CorruptRunWarning` (its runs: :func:`hydraflow.analysis.iter_run_dirs`; its
    name: :func:`get_experiment_names`).

    Args:
        experiment_names: Names or :mod:`fnmatch` patterns (a string or a list), or a predicate on the name;
            None: every experiment but ``Default``.
        tracking_uri: The store; default: MLflow's active tracking URI.
    """
    for name, location in _listed(experiment_names, tracking_uri):
        path = location if isinstance(location, Path) else local_path(location)
        if path is None:
            msg = (
                f"artifacts of experiment {name!r} are not on this machine ({location}); skipped "
                "(iter_run_dirs reads its runs from the server)"
            )
            warnings.warn(msg, CorruptRunWarning, stacklevel=3)
            continue
        yield name, path


def get_experiment_names(*, tracking_uri: str | os.PathLike[str] | None = None) -> list[str]:
    """The names of the active experiments of the store (``Default`` left out), in id order.

    Every experiment the store has, wherever its artifacts are (an ``mlflow server`` proxying them too).
    """
    return [name for name, _ in _listed(None, tracking_uri)]


def iter_experiment_dirs(
    experiment_names: ExperimentNames = None, *, tracking_uri: str | os.PathLike[str] | None = None
) -> Iterator[Path]:
    """The directories of the matching experiments (see :func:`iter_experiments`)."""
    for _, path in iter_experiments(experiment_names, tracking_uri=tracking_uri):
        yield path


def get_experiment_name(
    experiment_dir: str | os.PathLike[str], *, tracking_uri: str | os.PathLike[str] | None = None
) -> str:
    """The name of the experiment whose directory is ``experiment_dir``; ``""`` if there is none."""
    target = Path(experiment_dir).resolve()
    try:
        for name, path in iter_experiments(lambda _name: True, tracking_uri=tracking_uri):
            if path.resolve() == target:
                return name
    except FileNotFoundError:  # no store there
        return ""
    return ""


def iter_artifacts_dirs(
    experiment_names: ExperimentNames = None, *, tracking_uri: str | os.PathLike[str] | None = None
) -> Iterator[Path]:
    """The ``artifacts`` directory of every run of the matching experiments (see :func:`iter_run_dirs`)."""
    for run_dir in iter_run_dirs(experiment_names, tracking_uri=tracking_uri):
        yield run_dir / "artifacts"


def iter_artifact_paths(
    artifact_path: str | os.PathLike[str],
    experiment_names: ExperimentNames = None,
    *,
    tracking_uri: str | os.PathLike[str] | None = None,
) -> Iterator[Path]:
    """``<artifacts dir>/<artifact_path>`` of every run of the matching experiments (existing or not)."""
    for artifacts in iter_artifacts_dirs(experiment_names, tracking_uri=tracking_uri):
        yield artifacts / artifact_path
