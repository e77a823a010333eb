"""Reading other MLflow stores (PostgreSQL/MySQL directly, Databricks, plugins) through MLflow's client.

An ``mlflow server`` is read by :mod:`~hydraflow.analysis.readers.server` (its REST API, as JSON).

``MlflowClient.search_runs`` in pages of 1,000 runs, at most 100 experiments per search. MLflow is imported
here only, on first use (``import mlflow`` takes seconds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hydraflow.analysis.info import RunInfo, datetime_from_ms
from hydraflow.store.errors import mlflow_error_code

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

    from hydraflow.analysis.readers import NameMatch, RunDirOf

__all__ = ["iter_experiments", "iter_infos", "read_infos"]

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


def iter_infos(uri: str, match: NameMatch, include_deleted: bool, run_dir_of: RunDirOf) -> Iterator[RunInfo]:
    """The runs of the experiments whose name ``match``es, experiment by experiment.

    ``run_dir_of(experiment_id, run_id, artifact_uri)`` gives each run its directory on this machine.
    """
    from mlflow.entities import ViewType

    client = _client(uri)
    view = ViewType.ALL if include_deleted else ViewType.ACTIVE_ONLY
    names = {
        str(e.experiment_id): str(e.name) for e in client.search_experiments(view_type=view) if match(e.name)
    }
    for exp_id in sorted(names, key=lambda e: (len(e), e)):
        for run in _search_all(client, [exp_id], include_deleted):
            i = run.info
            yield _info_from_entity(run, run_dir_of(exp_id, i.run_id, i.artifact_uri), names)


def iter_experiments(uri: str, include_deleted: bool) -> Iterator[tuple[str, str]]:
    """``(name, artifact location)`` of each experiment of the store."""
    from mlflow.entities import ViewType

    view = ViewType.ALL if include_deleted else ViewType.ACTIVE_ONLY
    for e in _client(uri).search_experiments(view_type=view):
        yield str(e.name), str(e.artifact_location or "")
