"""Reading run information straight from an MLflow tracking store.

Three kinds of store are read, each the fast way:

- **file store** (``./mlruns`` with ``meta.yaml`` files): the ``meta.yaml``, ``params/``, ``tags/`` and
  ``metrics/`` files of each run are read directly, in a thread pool;
- **sqlite store** (MLflow's default ``sqlite:///mlflow.db``): the database file is opened read-only with the
  standard :mod:`sqlite3` module and a whole collection is read with a handful of batched queries;
- **anything else** (an ``mlflow server`` over HTTP, other databases): :class:`mlflow.MlflowClient`
  ``search_runs`` in pages of 1,000 runs.

MLflow itself is only imported for the last case: ``import mlflow`` takes seconds.
"""

from __future__ import annotations

import contextlib
import fnmatch
import math
import os
import re
import sqlite3
import sys
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import yaml

from hydraflow.analysis import _fastyaml
from hydraflow.analysis._errors import CorruptRunWarning

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# mlflow.entities.RunStatus codes as written to a file store's meta.yaml
_STATUS_BY_CODE = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
_SQLITE_CHUNK = 900  # stay below SQLITE_MAX_VARIABLE_NUMBER on old sqlite builds
_PAGE = 1000


@dataclass(eq=False)
class RunInfo:
    """What the tracking store knows about a run.

    Attributes:
        run_id: The MLflow run id (also the name of the run directory).
        run_dir: The run directory ``<artifact root>/<experiment id>/<run id>`` (contains ``artifacts/``).
        experiment_id: The MLflow experiment id, or None when the store does not know the run.
        experiment_name: The experiment name, which is the Hydra job name in hydraflow's layout.
        status: ``"RUNNING"``, ``"FINISHED"``, ``"FAILED"``, ``"KILLED"``, ``"SCHEDULED"`` or None.
        start_time: When the run started (UTC), or None.
        end_time: When the run ended (UTC), or None while it runs.
        params: The logged parameters (strings, as MLflow stores them).
        tags: The run tags.
        metrics: The latest value of every logged metric (highest step, then latest timestamp).
        run_name: The MLflow run name.
        lifecycle_stage: ``"active"`` or ``"deleted"``.
        artifact_uri: The artifact URI recorded by MLflow.
    """

    run_id: str
    run_dir: Path
    experiment_id: str | None = None
    experiment_name: str | None = None
    status: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    run_name: str | None = None
    lifecycle_stage: str | None = None
    artifact_uri: str | None = None

    @property
    def job_name(self) -> str | None:
        """The Hydra job name (alias of :attr:`experiment_name`)."""
        return self.experiment_name

    @property
    def duration(self) -> float | None:
        """Seconds between start and end, or None if either is unknown."""
        if self.start_time is None or self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        """The information as a flat dict: ``params.<k>``, ``tags.<k>`` and ``metrics.<k>`` entries."""
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "run_dir": str(self.run_dir),
            "experiment_id": self.experiment_id,
            "experiment_name": self.experiment_name,
            "status": self.status,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "run_name": self.run_name,
        }
        for prefix, values in (("params", self.params), ("tags", self.tags), ("metrics", self.metrics)):
            for k, v in values.items():
                out[f"{prefix}.{k}"] = v
        return out


INFO_KEYS = frozenset({f.name for f in fields(RunInfo)} | {"job_name", "duration"})
"""First key segments that :meth:`Run.get` looks up in ``run.info``."""

# --------------------------------------------------------------------------- tracking URIs


@dataclass(frozen=True)
class StoreRef:
    """A parsed tracking URI: ``kind`` is ``"file"``, ``"sqlite"`` or ``"client"`` (HTTP and the rest)."""

    kind: str
    uri: str
    path: Path | None = None


def _has_mlruns_data(root: Path) -> bool:
    try:
        with os.scandir(root) as entries:
            return any(
                e.is_dir() and e.name.isdigit() and (Path(e.path) / "meta.yaml").exists() for e in entries
            )
    except OSError:
        return False


def resolve_tracking_uri(tracking_uri: str | os.PathLike[str] | None = None) -> str:
    """The tracking URI to read: the argument, else MLflow's active one, without importing MLflow.

    When MLflow is already imported, :func:`mlflow.get_tracking_uri` is asked (so
    ``mlflow.set_tracking_uri`` is honoured); otherwise ``MLFLOW_TRACKING_URI`` and then MLflow's own default
    (``./mlruns`` if it holds a file store, else ``sqlite:///mlflow.db`` in the working directory).
    """
    if tracking_uri is not None:
        return os.fspath(tracking_uri)
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None and hasattr(mlflow, "get_tracking_uri"):
        return str(mlflow.get_tracking_uri())
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    if _has_mlruns_data(Path("mlruns")):
        return Path("mlruns").resolve().as_uri()
    return f"sqlite:///{Path('mlflow.db').resolve()}"


def _local_path(uri: str) -> Path | None:
    """The local filesystem path of a ``file:`` URI or plain path; None for remote URIs."""
    if uri.startswith("file:"):
        return Path(url2pathname(urlparse(uri).path))
    if "://" in uri or (":" in uri and not Path(uri).anchor and len(uri.split(":", 1)[0]) > 1):
        return None
    return Path(uri)


def parse_store(tracking_uri: str | os.PathLike[str] | None = None) -> StoreRef:
    """Classify a tracking URI (see :func:`resolve_tracking_uri` for the default)."""
    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith("sqlite:"):
        rest = uri[len("sqlite:") :]
        rest = rest.removeprefix("///") if rest.startswith("///") else rest.lstrip("/")
        rest = rest.split("?", 1)[0]
        return StoreRef("sqlite", uri, Path(unquote(rest)) if rest else None)
    local = _local_path(uri)
    if local is not None:
        return StoreRef("file", uri, local)
    return StoreRef("client", uri)


# --------------------------------------------------------------------------- small helpers


def _ms(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)


NameFilter: TypeAlias = Callable[[str], bool] | None


def _match(name: str, patterns: NameFilter) -> bool:
    return patterns is None or patterns(name)


def _patterns(experiment_names: str | Iterable[str] | Callable[[str], bool] | None) -> NameFilter:
    if experiment_names is None or callable(experiment_names):
        return experiment_names
    names = [experiment_names] if isinstance(experiment_names, str) else list(experiment_names)
    return lambda name: any(fnmatch.fnmatchcase(name, p) for p in names)


def _run_dir_from_artifact_uri(artifact_uri: str | None) -> Path | None:
    if not artifact_uri:
        return None
    local = _local_path(artifact_uri)
    if local is None:
        return None
    return local.parent if local.name == "artifacts" else local


@lru_cache(maxsize=4096)
def _experiment_meta(exp_dir: Path) -> Mapping[str, Any]:
    try:
        data = yaml.load((exp_dir / "meta.yaml").read_bytes(), Loader=_LOADER)  # noqa: S506 - CSafeLoader
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def is_file_store_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` is a file-store run directory (it has a ``meta.yaml``)."""
    return (run_dir / "meta.yaml").is_file()


def is_file_store_experiment(exp_dir: Path) -> bool:
    """Whether ``exp_dir`` is a file-store experiment directory."""
    return bool(_experiment_meta(exp_dir))


# --------------------------------------------------------------------------- file store


class _LazyTree(Mapping[str, str]):
    """A file store's ``params/`` or ``tags/`` directory, read on first access (one file per key)."""

    __slots__ = ("_data", "_root")

    def __init__(self, root: Path) -> None:
        self._root = root
        self._data: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._data is None:
            self._data = _read_tree(self._root)
        return self._data

    def __getitem__(self, key: str) -> str:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, key: object) -> bool:
        return key in self._load()

    def __eq__(self, other: object) -> bool:
        return self._load() == other if isinstance(other, Mapping) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._load())


def _read_tree(root: Path) -> dict[str, str]:
    """``params/`` or ``tags/``: one file per key (keys with ``/`` are nested directories)."""
    out: dict[str, str] = {}
    try:
        entries = list(os.scandir(root))
    except OSError:
        return out
    for entry in entries:
        if entry.is_dir():
            for sub_key, value in _read_tree(Path(entry.path)).items():
                out[f"{entry.name}/{sub_key}"] = value
        else:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                out[entry.name] = Path(entry.path).read_text(encoding="utf-8")
    return out


def _latest_metric(path: str) -> float | None:
    """The value of the latest entry of a metric file (lines ``<timestamp> <value> <step>``)."""
    best: tuple[int, int, float] | None = None
    try:
        with open(path, encoding="utf-8") as f:  # noqa: PTH123 - hot path: no pathlib
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:  # noqa: PLR2004
            continue
        try:
            ts, value = int(parts[0]), float(parts[1])
            step = int(parts[2]) if len(parts) > 2 else 0  # noqa: PLR2004
        except ValueError:
            continue
        if best is None or (step, ts) >= best[:2]:
            best = (step, ts, value)
    return None if best is None else best[2]


def _read_metrics(root: str) -> dict[str, float]:
    out: dict[str, float] = {}
    try:
        with os.scandir(root) as it:
            entries = list(it)
    except OSError:
        return out
    for entry in entries:
        if entry.is_dir():
            for sub_key, value in _read_metrics(entry.path).items():
                out[f"{entry.name}/{sub_key}"] = value
        else:
            latest = _latest_metric(entry.path)
            if latest is not None:
                out[entry.name] = latest
    return out


def read_file_store_info(run_dir: Path) -> RunInfo:
    """Read one file-store run's ``meta.yaml``, ``params/``, ``tags/`` and ``metrics/``.

    Raises:
        OSError: ``meta.yaml`` cannot be read.
        yaml.YAMLError: ``meta.yaml`` is not YAML.
        ValueError: ``meta.yaml`` is not a mapping.
    """
    data = (run_dir / "meta.yaml").read_bytes()
    try:
        meta = _fastyaml.load(data)
    except _fastyaml.Unsupported:
        meta = yaml.load(data, Loader=_LOADER)  # noqa: S506 - CSafeLoader
    if not isinstance(meta, dict):
        msg = f"{run_dir / 'meta.yaml'} is not a mapping"
        raise ValueError(msg)  # noqa: TRY004 - a content error, not a type error of the caller
    status = meta.get("status")
    if isinstance(status, int):
        status = _STATUS_BY_CODE.get(status, str(status))
    exp_id = meta.get("experiment_id")
    exp_name = _experiment_meta(run_dir.parent).get("name")
    return RunInfo(
        run_id=str(meta.get("run_id") or run_dir.name),
        run_dir=run_dir,
        experiment_id=None if exp_id is None else str(exp_id),
        experiment_name=exp_name,
        status=status,
        start_time=_ms(meta.get("start_time")),
        end_time=_ms(meta.get("end_time")),
        params=_LazyTree(run_dir / "params"),  # one file per key: read when first used
        tags=_LazyTree(run_dir / "tags"),
        metrics=_read_metrics(os.path.join(run_dir, "metrics")),  # noqa: PTH118
        run_name=meta.get("run_name"),
        lifecycle_stage=meta.get("lifecycle_stage"),
        artifact_uri=meta.get("artifact_uri"),
    )


# --------------------------------------------------------------------------- sqlite store


def _connect_ro(db: Path) -> sqlite3.Connection:
    if not db.is_file():
        msg = f"sqlite tracking database {db} does not exist"
        raise FileNotFoundError(msg)
    return sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)


def _chunks(items: list[str]) -> Iterator[list[str]]:
    size = _SQLITE_CHUNK
    for i in range(0, len(items), size):
        yield items[i : i + size]


def read_sqlite_infos(db: Path, run_dirs: Mapping[str, Path]) -> dict[str, RunInfo]:
    """Read the runs ``run_dirs`` (run id -> run dir) from an MLflow sqlite database, batched."""
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
                    start_time=_ms(start),
                    end_time=_ms(end),
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


def _iter_sqlite_run_dirs(db: Path, patterns: NameFilter, include_deleted: bool) -> Iterator[Path]:
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
        if _match(name, patterns):
            run_dir = _run_dir_from_artifact_uri(artifact_uri)
            if run_dir is None:
                msg = f"artifacts of a run in experiment {name!r} are not local ({artifact_uri}); skipped"
                warnings.warn(msg, CorruptRunWarning, stacklevel=3)
                continue
            yield run_dir


# --------------------------------------------------------------------------- MLflow client (HTTP server, ...)


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
        start_time=_ms(i.start_time),
        end_time=_ms(i.end_time),
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
    token = None
    while True:
        page = client.search_runs(
            experiment_ids,
            run_view_type=view,
            max_results=_PAGE,
            page_token=token,
            order_by=["start_time ASC"],
        )
        yield from page
        token = page.token
        if not token:
            return


def read_client_infos(uri: str, run_dirs: Mapping[str, Path]) -> dict[str, RunInfo]:
    """Read runs through ``MlflowClient.search_runs`` in pages (one search per set of experiments)."""
    client = _client(uri)
    exp_ids = sorted({p.parent.name for p in run_dirs.values()})
    exp_names: dict[str, str] = {}
    valid: list[str] = []
    for eid in exp_ids:
        with contextlib.suppress(Exception):  # not an experiment id of this server: skipped
            exp_names[eid] = client.get_experiment(eid).name
            valid.append(eid)
    infos: dict[str, RunInfo] = {}
    for start in range(0, len(valid), 100):  # search_runs accepts at most 100 experiments
        for run in _search_all(client, valid[start : start + 100], include_deleted=True):
            rid = run.info.run_id
            if rid in run_dirs:
                infos[rid] = _info_from_entity(run, run_dirs[rid], exp_names)
    return infos


def _iter_client_run_dirs(uri: str, patterns: NameFilter, include_deleted: bool) -> Iterator[Path]:
    from mlflow.entities import ViewType

    client = _client(uri)
    view = ViewType.ALL if include_deleted else ViewType.ACTIVE_ONLY
    exps = [e for e in client.search_experiments(view_type=view) if _match(e.name, patterns)]
    ids = [e.experiment_id for e in exps]
    for start in range(0, len(ids), 100):
        for run in _search_all(client, ids[start : start + 100], include_deleted):
            run_dir = _run_dir_from_artifact_uri(run.info.artifact_uri)
            if run_dir is None:
                msg = (
                    f"artifacts of run {run.info.run_id} are not on the local filesystem "
                    f"({run.info.artifact_uri}); start the server with a local --default-artifact-root and "
                    "--no-serve-artifacts to analyse its runs"
                )
                warnings.warn(msg, CorruptRunWarning, stacklevel=3)
                continue
            yield run_dir


# --------------------------------------------------------------------------- file store listing


def _iter_file_run_dirs(root: Path, patterns: NameFilter, include_deleted: bool) -> Iterator[Path]:
    if not root.is_dir():
        msg = f"file store {root} does not exist"
        raise FileNotFoundError(msg)
    exp_dirs = sorted(
        (p for p in root.iterdir() if p.is_dir() and p.name not in {".trash", "models"}),
        key=lambda p: (len(p.name), p.name),
    )
    trash = root / ".trash"
    if include_deleted and trash.is_dir():  # deleted experiments are moved there
        exp_dirs += sorted((p for p in trash.iterdir() if p.is_dir()), key=lambda p: (len(p.name), p.name))
    for exp_dir in exp_dirs:
        meta = _experiment_meta(exp_dir)
        if not meta or not _match(str(meta.get("name", "")), patterns):
            continue
        if not include_deleted and meta.get("lifecycle_stage") == "deleted":
            continue
        yield from _file_experiment_runs(exp_dir, include_deleted)


_START_TIME = re.compile(r"^start_time: *(\d+)", re.MULTILINE)


def _file_experiment_runs(exp_dir: Path, include_deleted: bool) -> list[Path]:
    """An experiment's run dirs in start-time order (like the sqlite store); deleted ones dropped."""
    keyed: list[tuple[int, str, Path]] = []
    for run_dir in (p for p in exp_dir.iterdir() if p.is_dir()):
        try:
            text = (run_dir / "meta.yaml").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            if (run_dir / "artifacts").is_dir():  # Run.load reports it (missing meta.yaml), not hidden here
                keyed.append((0, run_dir.name, run_dir))
            continue
        if not include_deleted and "lifecycle_stage: deleted" in text:
            continue
        m = _START_TIME.search(text)
        keyed.append((int(m.group(1)) if m else 0, run_dir.name, run_dir))
    return [d for _, _, d in sorted(keyed)]


def iter_run_dirs(
    experiment_names: str | Iterable[str] | Callable[[str], bool] | None = None,
    *,
    tracking_uri: str | os.PathLike[str] | None = None,
    include_deleted: bool = False,
) -> Iterator[Path]:
    """Iterate over the run directories of the tracking store, experiment by experiment.

    Args:
        experiment_names: Experiment (= Hydra job) names or :mod:`fnmatch` patterns (``"train*"``); a string
            or
            a list of them, or a predicate on the name. None: every experiment.
        tracking_uri: The store to read; default: MLflow's active tracking URI (``mlflow.get_tracking_uri()``,
            ``MLFLOW_TRACKING_URI``, else MLflow's default ``sqlite:///mlflow.db``). A file-store path, a
            ``sqlite:///`` URI or an ``http://`` URI of an ``mlflow server`` whose artifacts are local.
        include_deleted: Also yield deleted runs and the runs of deleted experiments.

    Yields:
        Run directories ``<artifact root>/<experiment id>/<run id>`` (each contains ``artifacts/``), ready for
        :meth:`Run.load`.
    """
    store = parse_store(tracking_uri)
    patterns = _patterns(experiment_names)
    if store.kind == "file" and store.path is not None:
        yield from _iter_file_run_dirs(store.path, patterns, include_deleted)
    elif store.kind == "sqlite" and store.path is not None:
        yield from _iter_sqlite_run_dirs(store.path, patterns, include_deleted)
    else:
        yield from _iter_client_run_dirs(store.uri, patterns, include_deleted)


# --------------------------------------------------------------------------- batch reading


def read_infos(  # noqa: C901
    run_dirs: list[Path], tracking_uri: str | None, n_jobs: int
) -> dict[Path, RunInfo]:
    """Read the info of many runs: file-store runs from their files, the rest from the store in one batch.

    Runs the store does not know get a minimal :class:`RunInfo` and a :class:`CorruptRunWarning`.
    """
    out: dict[Path, RunInfo] = {}
    file_runs = [d for d in run_dirs if is_file_store_run(d)]
    file_set = set(file_runs)
    other = {d.name: d for d in run_dirs if d not in file_set}

    def _one(d: Path) -> tuple[Path, RunInfo | None, str | None]:
        try:
            return d, read_file_store_info(d), None
        except (OSError, ValueError, yaml.YAMLError) as exc:
            return d, None, f"{type(exc).__name__}: {exc}"

    if file_runs:
        results = (
            list(ThreadPoolExecutor(n_jobs).map(_one, file_runs)) if n_jobs > 1 else map(_one, file_runs)
        )
        for d, info, err in results:
            if info is None:
                warnings.warn(f"run {d}: unreadable meta.yaml ({err})", CorruptRunWarning, stacklevel=4)
            out[d] = info or RunInfo(run_id=d.name, run_dir=d)
    if other:
        store = parse_store(tracking_uri)
        try:
            if store.kind == "sqlite" and store.path is not None:
                found = read_sqlite_infos(store.path, other)
            elif store.kind == "file":
                found = {}
            else:
                found = read_client_infos(store.uri, other)
        except (OSError, sqlite3.Error) as exc:
            warnings.warn(f"cannot read tracking store {store.uri}: {exc}", CorruptRunWarning, stacklevel=4)
            found = {}
        missing = [d for rid, d in other.items() if rid not in found]
        if missing:
            names = ", ".join(str(d) for d in missing[:5]) + (" ..." if len(missing) > 5 else "")  # noqa: PLR2004
            msg = f"{len(missing)} run(s) not found in tracking store {store.uri}: {names}"
            warnings.warn(msg, CorruptRunWarning, stacklevel=4)
        for rid, d in other.items():
            out[d] = found.get(rid) or RunInfo(run_id=rid, run_dir=d)
    return out
