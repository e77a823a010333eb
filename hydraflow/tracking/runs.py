"""Finding a run by its saved config, the way HydraFlow 0.23 does it: scanning run directories.

``@hydraflow.main`` does not use these: it finds a run by an indexed tag lookup of the config fingerprint
(:mod:`hydraflow.tracking.store`). They are kept for code written against HydraFlow's
``hydraflow.core.main``: :func:`set_experiment`, :func:`get_run_id` and :func:`equals`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from hydraflow.tracking.ids import FingerprintError, canonical_json

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["equals", "get_run_id", "set_experiment"]


def _same(saved: Any, config: Any) -> bool:
    """Whether two configs are equal in canonical form (``1`` equals ``1.0``, key order does not matter)."""
    try:
        return canonical_json(saved) == canonical_json(config)
    except FingerprintError:  # a value with no canonical form (e.g. ??? in the config): plain equality
        return bool(saved == config)


def _overrides(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def equals(run_dir: str | Path, config: Any, overrides: list[str] | None) -> bool:
    """Whether the run saved ``config`` (``overrides`` None) or was started with ``overrides``.

    The saved ``artifacts/.hydra/config.yaml`` (or ``overrides.yaml``) of ``run_dir`` is compared; False when
    it is missing or unreadable.
    """
    name = "config.yaml" if overrides is None else "overrides.yaml"
    path = Path(run_dir) / "artifacts" / ".hydra" / name
    try:
        saved = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    if overrides is None:
        return _same(saved, config)
    return sorted(_overrides(saved)) == sorted(str(o) for o in overrides)


def _run_dirs(experiment_dir: Path) -> Iterator[Path]:
    with contextlib.suppress(OSError):
        yield from sorted(p for p in experiment_dir.iterdir() if p.is_dir())


def get_run_id(uri: str | Path, config: Any, overrides: list[str] | None) -> str | None:
    """The id of a run of the experiment at ``uri`` (its artifact location) that :func:`equals` the config.

    Returns None when there is none (or ``uri`` is not a local directory). Every run directory is read: for
    many runs, ``@hydraflow.main``'s fingerprint lookup is the fast way.
    """
    from hydraflow.store.uri import local_path

    path = local_path(str(uri)) or Path(uri)
    for run_dir in _run_dirs(path):
        if equals(run_dir, config, overrides):
            return run_dir.name
    return None


def set_experiment(hc: Any, tracking_uri: str | Path | None = None) -> Any:
    """Use ``tracking_uri`` (if given) and the experiment named after the Hydra job; returns the experiment.

    The experiment is created if needed, safely when many jobs of a sweep start at once.
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    from hydraflow.store.uri import absolute_uri
    from hydraflow.tracking.store import get_or_create_experiment

    uri = absolute_uri(str(tracking_uri) if tracking_uri is not None else mlflow.get_tracking_uri())
    mlflow.set_tracking_uri(uri)
    experiment = get_or_create_experiment(MlflowClient(uri), str(hc.job.name))
    mlflow.set_experiment(experiment_id=experiment.experiment_id)
    return experiment
