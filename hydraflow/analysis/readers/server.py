"""Reading an ``mlflow server`` through its REST API, as JSON (:class:`hydraflow.store.server.ServerClient`).

Runs are searched in pages of 1,000 (at most 100 experiments per search, MLflow's limit), oldest first, so
that runs created while the listing goes on land on later pages. The JSON answer is turned into
:class:`RunInfo` directly: MLflow's own client builds protobuf messages and entity objects first, which took
as long again as the server's answer for 2,000 runs. Requests follow hydraflow's retry policy (see
:mod:`hydraflow.store.server`): a server that is down, or refuses this client, is a
:class:`~hydraflow.store.errors.StoreError` within a second, never "no runs".
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from hydraflow.analysis.info import RunInfo, datetime_from_ms
from hydraflow.store.errors import StoreRequestError
from hydraflow.store.server import ServerClient

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from pathlib import Path

    from hydraflow.analysis.readers import NameMatch, RunDirOf

__all__ = ["client", "experiments", "info_from_json", "iter_infos", "read_infos"]

PAGE = 1000
_MAX_EXPERIMENTS = 100  # per runs/search call (MLflow's limit)
_IDS_PER_SEARCH = 100  # run ids per `attributes.run_id IN (...)` filter
_CLIENTS: dict[str, ServerClient] = {}


def client(uri: str) -> ServerClient:
    """The process's client of the server at ``uri`` (one per URI: the retry clock is shared)."""
    found = _CLIENTS.get(uri)
    if found is None:
        found = _CLIENTS.setdefault(uri, ServerClient(uri))
    return found


def _pairs(items: Any) -> dict[str, str]:
    return {str(p["key"]): str(p.get("value", "")) for p in items or () if "key" in p}


def _metrics(items: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in items or ():
        value = m.get("value", math.nan)
        key = m.get("key")
        if key is not None and isinstance(value, (int, float, str)):
            out[str(key)] = float(value)  # "NaN", "Infinity", "-Infinity": float() reads MLflow's JSON forms
    return out


def info_from_json(run: Mapping[str, Any], run_dir: Path, exp_names: Mapping[str, str]) -> RunInfo:
    """A :class:`RunInfo` from one run of a ``runs/search`` answer."""
    info, data = run.get("info", {}), run.get("data", {})
    exp_id = str(info.get("experiment_id", ""))
    return RunInfo(
        run_id=str(info.get("run_id") or info.get("run_uuid")),
        run_dir=run_dir,
        experiment_id=exp_id or None,
        experiment_name=exp_names.get(exp_id),
        status=info.get("status"),
        start_time=datetime_from_ms(info.get("start_time")),
        end_time=datetime_from_ms(info.get("end_time")),
        params=_pairs(data.get("params")),
        tags=_pairs(data.get("tags")),
        metrics=_metrics(data.get("metrics")),
        run_name=info.get("run_name"),
        lifecycle_stage=info.get("lifecycle_stage"),
        artifact_uri=info.get("artifact_uri"),
    )


def experiments(uri: str, match: Callable[[str], bool], include_deleted: bool) -> dict[str, str]:
    """The experiments whose name ``match``es: id -> name."""
    srv = client(uri)
    found: dict[str, str] = {}
    token = None
    while True:
        body: dict[str, Any] = {"max_results": PAGE, "view_type": "ALL" if include_deleted else "ACTIVE_ONLY"}
        if token:
            body["page_token"] = token
        page = srv.call("POST", "/experiments/search", what="search experiments", json=body)
        for exp in page.get("experiments", ()):
            if match(str(exp.get("name", ""))):
                found[str(exp["experiment_id"])] = str(exp["name"])
        token = page.get("next_page_token")
        if not token:
            return found


def _search(
    uri: str, experiment_ids: list[str], include_deleted: bool, filter_string: str = ""
) -> Iterator[dict[str, Any]]:
    srv = client(uri)
    view = "ALL" if include_deleted else "ACTIVE_ONLY"
    for start in range(0, len(experiment_ids), _MAX_EXPERIMENTS):
        token = None
        while True:
            body: dict[str, Any] = {
                "experiment_ids": experiment_ids[start : start + _MAX_EXPERIMENTS],
                "run_view_type": view,
                "max_results": PAGE,
                "order_by": ["attributes.start_time ASC"],
            }
            if filter_string:
                body["filter"] = filter_string
            if token:
                body["page_token"] = token
            page = srv.call("POST", "/runs/search", what="search runs", json=body)
            yield from page.get("runs", ())
            token = page.get("next_page_token")
            if not token:
                break


def iter_infos(uri: str, match: NameMatch, include_deleted: bool, run_dir_of: RunDirOf) -> Iterator[RunInfo]:
    """The runs of the experiments whose name ``match``es, experiment by experiment, oldest first.

    ``run_dir_of(experiment_id, run_id, artifact_uri)`` gives each run its directory on this machine.
    """
    names = experiments(uri, match, include_deleted)
    by_id = sorted(names, key=lambda e: (len(e), e))  # numeric ids in numeric order
    for exp_id in by_id:  # one search per experiment: the runs come experiment by experiment
        for run in _search(uri, [exp_id], include_deleted):
            i = run.get("info", {})
            rid = str(i.get("run_id") or i.get("run_uuid"))
            yield info_from_json(run, run_dir_of(exp_id, rid, i.get("artifact_uri")), names)


def _experiment_name(uri: str, experiment_id: str) -> str | None:
    try:
        exp = client(uri).call(
            "GET", "/experiments/get", what="get experiment", params={"experiment_id": experiment_id}
        )
    except StoreRequestError as exc:  # an id this server never gave out (or not a number at all)
        if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise
    name = exp.get("experiment", {}).get("name")
    return None if name is None else str(name)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    return (items[i : i + size] for i in range(0, len(items), size))


def read_infos(uri: str, run_dirs: Mapping[str, Path]) -> dict[str, RunInfo]:
    """Read the runs ``run_dirs`` (run id -> run dir), 100 ids per search; runs the server lacks are left out.

    Experiments are taken from the run directories' parents (``<root>/<experiment id>/<run id>``).
    """
    by_exp: dict[str, list[str]] = {}
    for rid, d in run_dirs.items():
        by_exp.setdefault(d.parent.name, []).append(rid)
    infos: dict[str, RunInfo] = {}
    for exp_id, ids in sorted(by_exp.items()):
        name = _experiment_name(uri, exp_id)
        if name is None:
            continue
        for chunk in _chunks(sorted(ids), _IDS_PER_SEARCH):
            quoted = ", ".join(f"'{rid}'" for rid in chunk if rid.isalnum())  # run ids are hex
            if not quoted:
                continue
            for run in _search(uri, [exp_id], True, f"attributes.run_id IN ({quoted})"):  # noqa: FBT003
                rid = str(run["info"].get("run_id") or run["info"].get("run_uuid"))
                info = info_from_json(run, run_dirs[rid], {exp_id: name})
                infos[info.run_id] = info
    return infos
