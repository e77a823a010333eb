"""Reading other MLflow stores (an ``mlflow server``, PostgreSQL/MySQL, Databricks) through MLflow's client.

``MlflowClient.search_runs`` in pages of 1,000 runs, at most 100 experiments per search. MLflow is imported
here only, on first use (``import mlflow`` takes seconds).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from hydraflow.analysis._errors import CorruptRunWarning
from hydraflow.analysis.info import RunInfo, datetime_from_ms
from hydraflow.store.errors import mlflow_error_code
from hydraflow.store.uri import run_dir_of_artifact_uri

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from pathlib import Path

__all__ = ["iter_experiments", "iter_run_dirs", "read_infos"]

_PAGE = 1000
_MAX_EXPERIMENTS = 100  # per search_runs call (MLflow's limit)
# error codes of get_experiment for an id this store does not have (a number it never gave out, or not a
# number at all: a run directory of some other store)
_UNKNOWN_EXPERIMENT = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _info_from_entity(run: Any, run_dir: Path, exp_names: Mapping[str, str]) -> RunInfo:
    i, d = run.info, run.data
    return RunInfo(
        run_id=i.run_id,
        run_dir=run_dir,
        experiment_id=str(i.experiment_id),
        experiment_name=exp_names.get(str(i.experiment_id)),
        status=i.status,
        start_time=datetime_from_ms(i.start_time),
        end_time=datetime_from_ms(i.end_time),
        params=dict(d.params),
        tags=dict(d.tags),
        metrics={k: float(v) for k, v in d.metrics.items()},
        run_name=i.run_name,
        lifecycle_stage=i.lifecycle_stage,
        artifact_uri=i.artifact_uri,
    )


def _search_all(client: Any, experiment_ids: list[str], include_deleted: bool) -> Iterator[Any]:
    from mlflow.entities import ViewType

    view = ViewType.ALL if include_deleted else ViewType.ACTIVE_ONLY
    for start in range(0, len(experiment_ids), _MAX_EXPERIMENTS):
        token = None
        while True:
            page = client.search_runs(
                experiment_ids[start : start + _MAX_EXPERIMENTS],
                run_view_type=view,
                max_results=_PAGE,
                page_token=token,
                order_by=["start_time ASC"],
            )
            yield from page
            token = page.token
            if not token:
                break


def _experiment_name(client: Any, uri: str, experiment_id: str) -> str | None:
    """The name of experiment ``experiment_id``; None when the store has no such experiment."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_experiment(experiment_id).name)
    except MlflowException as exc:
        if mlflow_error_code(exc) in _UNKNOWN_EXPERIMENT:
            return None
        if hasattr(exc, "add_note"):  # Python >= 3.11: say where, in the traceback
            exc.add_note(f"while reading experiment {experiment_id} of tracking store {uri}")
        raise


def read_infos(uri: str, run_dirs: Mapping[str, Path]) -> dict[str, RunInfo]:
    """Read the runs ``run_dirs`` (run id -> run dir) with one paged search per set of experiments.

    Experiments are taken from the run directories' parents; runs the store does not hold are left out.
    """
    client = _client(uri)
    exp_names: dict[str, str] = {}
    for eid in sorted({p.parent.name for p in run_dirs.values()}):
        name = _experiment_name(client, uri, eid)
        if name is not None:
            exp_names[eid] = name
    infos: dict[str, RunInfo] = {}
    for run in _search_all(client, list(exp_names), include_deleted=True):
        rid = run.info.run_id
        if rid in run_dirs:
            infos[rid] = _info_from_entity(run, run_dirs[rid], exp_names)
    return infos


def iter_run_dirs(uri: str, match: Callable[[str], bool], include_deleted: bool) -> Iterator[Path]:
    """The local run directories of the experiments whose name ``match``es, experiment by experiment.

    Runs whose artifacts are not on this machine are skipped with a :class:`CorruptRunWarning`.
    """
    from mlflow.entities import ViewType

    client = _client(uri)
    view = ViewType.ALL if include_deleted else ViewType.ACTIVE_ONLY
    ids = [e.experiment_id for e in client.search_experiments(view_type=view) if match(e.name)]
    for run in _search_all(client, ids, include_deleted):
        run_dir = run_dir_of_artifact_uri(run.info.artifact_uri)
        if run_dir is None:
            msg = (
                f"artifacts of run {run.info.run_id} are not on the local filesystem "
                f"({run.info.artifact_uri}); start the server with a local --default-artifact-root and "
                "--no-serve-artifacts to analyse its runs"
            )
            warnings.warn(msg, CorruptRunWarning, stacklevel=4)
            continue
        yield run_dir


def iter_experiments(uri: str, include_deleted: bool) -> Iterator[tuple[str, str]]:
    """``(name, artifact location)`` of each experiment of the store."""
    from mlflow.entities import ViewType

    view = ViewType.ALL if include_deleted else ViewType.ACTIVE_ONLY
    for e in _client(uri).search_experiments(view_type=view):
        yield str(e.name), str(e.artifact_location or "")
