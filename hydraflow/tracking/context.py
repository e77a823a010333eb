"""Context managers for apps that manage their own MLflow runs inside a Hydra job (HydraFlow 0.23's API).

``@hydraflow.main`` does all of this for you. For a ``@hydra.main`` app of your own::

    with hydraflow.start_run(chdir=True) as run:  # an MLflow run; .hydra/ and the job log become artifacts
        ...

MLflow and Hydra are imported when these are called.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydraflow.store.uri import working_dir

if TYPE_CHECKING:
    import os
    from collections.abc import Iterator

    from mlflow.entities import Run

__all__ = ["chdir_artifact", "get_artifact_dir", "log_run", "log_text", "start_run"]

log = logging.getLogger("hydraflow")


def get_artifact_dir(run: Run) -> Path:
    """The local directory of the artifacts of an MLflow run (``run.info.artifact_uri`` as a path).

    Raises:
        ValueError: The run's artifacts are not on the local filesystem (e.g. proxied by an MLflow server).
    """
    from hydraflow.store.uri import local_path

    uri = run.info.artifact_uri
    path = local_path(uri) if isinstance(uri, str) else None
    if path is None:
        msg = f"the artifacts of run {run.info.run_id} are not on the local filesystem ({uri})"
        raise ValueError(msg)
    return path


def _artifact_text(run: Run, name: str) -> str | None:
    """The text of the run's artifact ``name``, or None when it has none."""
    try:
        path = get_artifact_dir(run) / name
    except ValueError:
        import mlflow

        from hydraflow.store.errors import is_not_found

        try:
            return str(mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/{name}"))
        except Exception as exc:  # re-raised unless is_not_found(): no such artifact yet
            if not is_not_found(exc):
                raise
            return None
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None


def log_text(run: Run, from_dir: str | os.PathLike[str], pattern: str = "*.log") -> None:
    """Log the files of ``from_dir`` matching ``pattern`` as artifacts of ``run``, appended to existing ones.

    A file whose artifact already exists is added after its text (on a new line), so a resumed run keeps the
    log of every attempt. Directories are skipped.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    for path in sorted(Path(from_dir).glob(pattern)):
        if not path.is_file():
            continue
        text = _artifact_text(run, path.name) or ""
        if text and not text.endswith("\n"):
            text += "\n"
        text += path.read_text(encoding="utf-8", errors="replace")
        client.log_text(run.info.run_id, text, path.name)


@contextlib.contextmanager
def log_run(run: Run) -> Iterator[None]:
    """Log the Hydra job's ``.hydra/`` directory now, and its ``*.log`` files when the block ends.

    An exception of the block is logged (with its traceback, so it is in the job log) and re-raised.
    """
    from hydra.core.hydra_config import HydraConfig
    from mlflow.tracking import MlflowClient

    hc = HydraConfig.get()
    output_dir = Path(hc.runtime.output_dir)
    if hc.output_subdir is not None:
        hydra_dir = output_dir / str(hc.output_subdir)
        if hydra_dir.is_dir():
            MlflowClient().log_artifacts(run.info.run_id, str(hydra_dir), ".hydra")
    try:
        yield
    except Exception as exc:
        log.exception("Error during log_run: %s", exc)  # noqa: TRY401 - the message names it, as in HydraFlow
        raise
    finally:
        for handler in logging.getLogger().handlers:
            with contextlib.suppress(OSError, ValueError):
                handler.flush()
        log_text(run, output_dir)


@contextlib.contextmanager
def chdir_artifact(run: Run) -> Iterator[Path]:
    """Work inside the run's local artifact directory for the block (created if needed); yields it."""
    path = get_artifact_dir(run)
    path.mkdir(parents=True, exist_ok=True)
    with working_dir(path):
        yield path


@contextlib.contextmanager
def start_run(
    *,
    chdir: bool = False,
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: dict[str, str] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> Iterator[Run]:
    """``mlflow.start_run`` (same arguments) inside a Hydra job, with :func:`log_run`.

    Args:
        chdir: Work inside the run's artifact directory for the block (:func:`chdir_artifact`).
        run_id: Resume this run instead of starting a new one.
        experiment_id: The experiment (default: the active one, e.g. set with ``mlflow.set_experiment``).
        run_name: The run's name.
        nested: Allow a run inside another active run.
        parent_run_id: The parent of a nested run.
        tags: Tags of the run.
        description: The run's description.
        log_system_metrics: Log system metrics (MLflow's option).

    Yields:
        The active ``mlflow.entities.Run``.
    """
    import mlflow

    kwargs: dict[str, Any] = {
        "run_id": run_id,
        "experiment_id": experiment_id,
        "run_name": run_name,
        "nested": nested,
        "parent_run_id": parent_run_id,
        "tags": tags,
        "description": description,
        "log_system_metrics": log_system_metrics,
    }
    with mlflow.start_run(**kwargs) as run, log_run(run):
        if chdir:
            with chdir_artifact(run):
                yield run
        else:
            yield run
