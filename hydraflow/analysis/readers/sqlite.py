"""Reading an MLflow sqlite store (MLflow's default ``sqlite:///mlflow.db``), read-only with :mod:`sqlite3`.

MLflow's own schema is queried directly (tables ``runs``, ``experiments``, ``params``, ``tags``,
``latest_metrics``): a whole collection in a few batched ``IN (...)`` queries, without importing MLflow.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import warnings
from typing import TYPE_CHECKING

from hydraflow.analysis._errors import CorruptRunWarning
from hydraflow.analysis.info import RunInfo, datetime_from_ms
from hydraflow.store.uri import run_dir_of_artifact_uri

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from pathlib import Path

__all__ = ["CHUNK", "iter_experiments", "iter_run_dirs", "read_infos"]

CHUNK = 900
"""Run ids per query: below SQLITE_MAX_VARIABLE_NUMBER on old sqlite builds."""


def _connect_ro(db: Path) -> sqlite3.Connection:
    if not db.is_file():
        msg = f"sqlite tracking database {db} does not exist"
        raise FileNotFoundError(msg)
    return sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)


def _chunks(items: list[str]) -> Iterator[list[str]]:
    size = CHUNK
    for i in range(0, len(items), size):
        yield items[i : i + size]


def read_infos(db: Path, run_dirs: Mapping[str, Path]) -> dict[str, RunInfo]:
    """Read the runs ``run_dirs`` (run id -> run dir) from an MLflow sqlite database, batched.

    Runs the database does not hold are left out of the result.

    Raises:
        FileNotFoundError: The database file does not exist.
        sqlite3.Error: The file is not an MLflow database (or is damaged).
    """
    infos: dict[str, RunInfo] = {}
    ids = list(run_dirs)
    with contextlib.closing(_connect_ro(db)) as con:
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            sql = (
                "SELECT r.run_uuid, r.name, r.status, r.start_time, r.end_time, r.lifecycle_stage,"
                " r.artifact_uri, r.experiment_id, e.name FROM runs r"
                " LEFT JOIN experiments e ON e.experiment_id = r.experiment_id WHERE r.run_uuid IN "
            )
            rows = con.execute(sql + f"({marks})", chunk)  # only placeholders are formatted in
            for rid, name, status, start, end, stage, art, exp_id, exp_name in rows:
                infos[rid] = RunInfo(
                    run_id=rid,
                    run_dir=run_dirs[rid],
                    experiment_id=None if exp_id is None else str(exp_id),
                    experiment_name=exp_name,
                    status=status,
                    start_time=datetime_from_ms(start),
                    end_time=datetime_from_ms(end),
                    run_name=name,
                    lifecycle_stage=stage,
                    artifact_uri=art,
                )
            for table, target in (("params", "params"), ("tags", "tags")):
                sql = f"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({marks})"  # noqa: S608
                for rid, key, value in con.execute(sql, chunk):
                    if rid in infos:
                        getattr(infos[rid], target)[key] = value
            sql = f"SELECT run_uuid, key, value, is_nan FROM latest_metrics WHERE run_uuid IN ({marks})"  # noqa: S608
            for rid, key, value, is_nan in con.execute(sql, chunk):
                if rid in infos:
                    infos[rid].metrics[key] = math.nan if is_nan else float(value)
    return infos


def iter_run_dirs(db: Path, match: Callable[[str], bool], include_deleted: bool) -> Iterator[Path]:
    """The local run directories of the experiments whose name ``match``es, in start-time order.

    Runs whose artifacts are not on this machine are skipped with a :class:`CorruptRunWarning`.

    Raises:
        FileNotFoundError: The database file does not exist.
    """
    sql = (
        "SELECT e.name, r.artifact_uri FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id"
        " WHERE 1=1"
    )
    if not include_deleted:
        sql += " AND r.lifecycle_stage = 'active' AND e.lifecycle_stage = 'active'"
    sql += " ORDER BY e.experiment_id, r.start_time, r.run_uuid"
    with contextlib.closing(_connect_ro(db)) as con:
        rows = con.execute(sql).fetchall()
    for name, artifact_uri in rows:
        if match(name):
            run_dir = run_dir_of_artifact_uri(artifact_uri)
            if run_dir is None:
                msg = f"artifacts of a run in experiment {name!r} are not local ({artifact_uri}); skipped"
                warnings.warn(msg, CorruptRunWarning, stacklevel=4)
                continue
            yield run_dir


def iter_experiments(db: Path, include_deleted: bool) -> Iterator[tuple[str, str]]:
    """``(name, artifact location)`` of each experiment of the database, in id order.

    Raises:
        FileNotFoundError: The database file does not exist.
    """
    sql = "SELECT name, artifact_location FROM experiments"
    if not include_deleted:
        sql += " WHERE lifecycle_stage = 'active'"
    with contextlib.closing(_connect_ro(db)) as con:
        rows = con.execute(sql + " ORDER BY experiment_id").fetchall()
    for name, location in rows:
        yield str(name), str(location or "")
