"""The MLflow bridge of ``@hydraflow.main``: experiments, run lookup by fingerprint, locks, the tag index.

Which store a URI names comes from :mod:`hydraflow.store.uri`; what a store error means, and the retries of
transient ones, from :mod:`hydraflow.store.errors`. Everything here imports MLflow lazily (inside functions)
so that importing :mod:`hydraflow.tracking` stays cheap.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydraflow import settings
from hydraflow.store.errors import is_already_exists, retry
from hydraflow.store.server import check_server
from hydraflow.store.uri import local_path, parse_store

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

__all__ = [
    "FINGERPRINT_TAG",
    "JOB_NAME_TAG",
    "OVERRIDES_TAG",
    "RETURN_TAG",
    "VERSION_TAG",
    "find_run",
    "fingerprint_lock",
    "get_or_create_experiment",
    "in_batch_job",
    "index_postgres_tags",
    "index_sqlite_tags",
    "lock_dir",
    "mark_sqlite_ready",
    "sqlite_ready",
]

log = logging.getLogger("hydraflow")

FINGERPRINT_TAG = "hydraflow.fingerprint"
OVERRIDES_TAG = "hydraflow.overrides_fingerprint"
JOB_NAME_TAG = "hydraflow.job_name"
VERSION_TAG = "hydraflow.version"
RETURN_TAG = "hydraflow.return"


def _ready_marker(db: Path) -> Path:
    return db.parent / ".hydraflow-locks" / f"ready-{db.name}"


def sqlite_ready(db: Path) -> bool:
    """True when this sqlite file was already opened (schema complete) by a hydraflow job."""
    try:
        return _ready_marker(db).read_text() == str(db.stat().st_ino)
    except OSError:
        return False


#: The index that makes the fingerprint lookup O(log n) on sqlite. MLflow's own primary key on ``tags`` is
#: ``(key, run_uuid)``: a lookup by key and value would read every run's row of that key (linear in the runs).
SQLITE_TAG_INDEX = "hydraflow_tags_key_value"


def index_sqlite_tags(db: Path) -> None:
    """Add the ``(key, value)`` index to the ``tags`` table (idempotent; HYDRAFLOW_SQLITE_INDEX=0: skip)."""
    if not settings.sqlite_index():
        return
    import sqlite3

    con = sqlite3.connect(db, timeout=60)
    try:
        with con:
            con.execute(f"CREATE INDEX IF NOT EXISTS {SQLITE_TAG_INDEX} ON tags (key, value)")
    finally:
        con.close()


#: The index that makes the fingerprint lookup flat on PostgreSQL. MLflow's keys on ``tags`` are
#: ``(key, run_uuid)`` and ``(run_uuid)``: a lookup by key and value scans the whole table (EXPLAIN:
#: "Seq Scan on tags", 22 ms at 20,000 runs, linear). A B-tree on ``(key, value)`` would refuse tag values
#: longer than about 2,700 bytes (PostgreSQL's index row limit) and so break MLflow writes of long tags; a
#: hash index on ``value`` has no such limit, serves the equality lookup (0.16 ms at 20,000 runs, also with
#: the generic plan of a prepared statement) and is about 60% of the size of MLflow's own primary key.
POSTGRES_TAG_INDEX = "hydraflow_tags_value_hash"
POSTGRES_INDEX_SQL = f"CREATE INDEX IF NOT EXISTS {POSTGRES_TAG_INDEX} ON tags USING hash (value)"
_pg_indexed: set[str] = set()


def index_postgres_tags(uri: str) -> None:
    """Add the hash index on ``tags.value`` to a PostgreSQL store (idempotent; see HYDRAFLOW_POSTGRES_INDEX).

    Done once per process and store, by the first ``@hydraflow.main`` job that writes to a ``postgresql://``
    tracking URI directly; serialised between jobs with an advisory lock. A role that may not create the index
    (not the table's owner) gets a warning, and the lookups stay correct, only not indexed. A server in front
    of PostgreSQL cannot do this for its clients: its administrator runs :data:`POSTGRES_INDEX_SQL` once.
    """
    if not settings.postgres_index() or uri in _pg_indexed:
        return
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    engine = sa.create_engine(uri, poolclass=NullPool)
    try:
        with engine.begin() as con:
            exists = sa.text(
                "SELECT 1 FROM pg_indexes WHERE indexname = :n AND schemaname = current_schema()"
            )
            if con.execute(exists, {"n": POSTGRES_TAG_INDEX}).first() is None:
                con.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": POSTGRES_TAG_INDEX})
                con.execute(sa.text(POSTGRES_INDEX_SQL))
    except sa.exc.SQLAlchemyError as exc:  # no privilege, an old server: the lookup still works, unindexed
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("hydraflow: could not add the index %s to the tags table: %s", POSTGRES_TAG_INDEX, first)
    finally:
        engine.dispose()
    _pg_indexed.add(uri)


def mark_sqlite_ready(db: Path) -> None:
    """Remember (by inode, so a re-created file is not trusted) that the schema of ``db`` is complete."""
    marker = _ready_marker(db)
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(f"{marker.name}.{os.getpid()}")
    tmp.write_text(str(db.stat().st_ino))
    tmp.replace(marker)


def lock_dir(tracking_uri: str, artifact_location: str | None, *, shared: Path | None = None) -> Path:
    """Where the per-fingerprint lock files of this store live.

    ``HYDRAFLOW_LOCK_DIR`` if set; else next to the sqlite database file; else next to a local file store or a
    local artifact root; else (a server whose artifacts are not local files) a per-store directory: under
    ``shared`` when this job runs under a batch scheduler (SLURM, PBS) and ``shared`` is given (the app's
    working directory, which every node of the sweep sees), otherwise under the system temp dir (one machine
    only: a node's ``/tmp`` is its own).
    """
    override = settings.lock_dir()
    if override is not None:
        return override
    store = parse_store(tracking_uri)
    # Beside the store root, never inside it (stores list their directories).
    if store.kind == "sqlite" and store.path is not None:
        return store.path.parent / ".hydraflow-locks"
    if store.kind == "file" and store.path is not None:
        return store.path.resolve().parent / ".hydraflow-locks"
    artifacts = local_path(artifact_location)  # an experiment's artifact root: <root>/<experiment id>
    if artifacts is not None:
        return artifacts.parent.resolve().parent / ".hydraflow-locks"
    key = hashlib.sha256(tracking_uri.encode()).hexdigest()[:16]
    if shared is not None and in_batch_job():
        return shared / ".hydraflow-locks" / key
    return Path(tempfile.gettempdir()) / "hydraflow-locks" / key


def in_batch_job(env: Mapping[str, str] | None = None) -> bool:
    """Whether this process runs inside a SLURM or PBS job (its node may be one of many).

    >>> in_batch_job({"SLURM_JOB_ID": "5"}), in_batch_job({"PBS_JOBID": "1.pbs"}), in_batch_job({})
    (True, True, False)
    """
    env = os.environ if env is None else env
    return bool(env.get("SLURM_JOB_ID") or env.get("PBS_JOBID"))


def _owner() -> str:
    """Who holds a lock, as written into its file: host, pid and the scheduler job (for the waiters' log)."""
    text = f"{socket.gethostname()} pid {os.getpid()}"
    job = os.environ.get("SLURM_JOB_ID")
    if job:
        array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
        job = f"{array}_{task}" if array and task else job
        text += f", SLURM job {job} (restart {os.environ.get('SLURM_RESTART_COUNT', '0')})"
    elif os.environ.get("PBS_JOBID"):
        text += f", PBS job {os.environ['PBS_JOBID']}"
    return text


@contextlib.contextmanager
def fingerprint_lock(directory: Path, name: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``directory/name.lock`` for the duration of the block.

    The kernel releases the lock when the process dies, so a crashed job never blocks the next one. The file
    is removed on release; a waiter that locked a file removed meanwhile notices (inode check) and retries.
    The holder writes who it is into the file (host, pid, scheduler job); a job that has to wait logs that, so
    a requeued job waiting for its stale first copy (still running on a lost node) says so.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.lock"
    waited_since: float | None = None
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _try_flock(fd):
                if waited_since is None:
                    waited_since = time.monotonic()
                    holder = _read_owner(fd)
                    log.warning(
                        "hydraflow: waiting for the lock %s, held by %s", path, holder or "another job"
                    )
                fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS}:
                raise
            log.warning(
                "hydraflow: %s does not support flock (%s): jobs with the same config are not serialised; "
                "set HYDRAFLOW_LOCK_DIR to a local or lock-capable directory",
                directory,
                exc,
            )
            yield
            return
        except BaseException:  # anything, Ctrl-C included: close the descriptor, re-raise
            os.close(fd)
            raise
        try:
            same = path.stat().st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    if waited_since is not None:
        log.warning("hydraflow: got the lock %s after %.1f s", path, time.monotonic() - waited_since)
    with contextlib.suppress(OSError):  # the owner text is for the log of waiters only
        os.ftruncate(fd, 0)
        os.pwrite(fd, _owner().encode(), 0)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def _try_flock(fd: int) -> bool:
    """Take the lock without waiting; False when another process holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read_owner(fd: int) -> str:
    with contextlib.suppress(OSError):
        return os.pread(fd, 300, 0).decode(errors="replace").strip()
    return ""


def _check_store(uri: str, name: str) -> None:
    """Before a job's first MLflow call, a server must answer.

    A one-line error in about a second, not after MLflow's own four minutes of retries.
    """
    if parse_store(uri).kind == "server":
        check_server(uri, name)


def _index_store(uri: str) -> None:
    if parse_store(uri).kind == "sql" and uri.split(":", 1)[0].split("+", 1)[0] == "postgresql":
        index_postgres_tags(uri)


def get_or_create_experiment(client: MlflowClient, name: str) -> Any:
    """The active experiment ``name``, created if needed (safe when many jobs create it at once).

    Creation is serialised by a lock beside the store (:func:`lock_dir`): a file store checks that the name
    is free and then writes the experiment, so two jobs could both create it (measured: 2 of 10 trials of 8
    processes made two experiments of one name, and dedup then missed the runs of the other). A store that
    refuses a duplicate name itself (sqlite, a server) only makes the loser read the winner's experiment.
    A server refuses a duplicate name for all its clients, on any node, so its jobs take no lock (one in each
    node's temp dir would serialise nothing across nodes, and only make a job wait in its log). A server is
    checked first (:func:`hydraflow.store.server.check_server`); a PostgreSQL store gets its tag index
    (:func:`index_postgres_tags`).

    Raises:
        StoreError: A server cannot be reached or refuses the request.
    """
    uri = str(client.tracking_uri)
    _check_store(uri, name)
    exp = _active_experiment(client, name)
    if exp is not None:
        _index_store(uri)
        return exp
    key = hashlib.sha256(name.encode()).hexdigest()[:32]
    directory = None if parse_store(uri).kind == "server" else lock_dir(uri, None)
    for _ in range(20):
        serialised: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if directory is not None:
            serialised = fingerprint_lock(directory, f"experiment-{key}")
        with serialised:
            exp = _active_experiment(client, name)
            if exp is not None:
                _index_store(uri)
                return exp
            try:
                retry(client.create_experiment, name, what="create_experiment")
            except Exception as exc:  # re-raised unless is_already_exists() (a typed check) says so
                if not is_already_exists(exc):  # another job created it first: get it on the next pass
                    raise
    msg = f"could not get or create the MLflow experiment {name!r}"
    raise RuntimeError(msg)


def _active_experiment(client: MlflowClient, name: str) -> Any:
    """The experiment ``name`` or None; a deleted one is an error naming the way out."""
    exp = retry(client.get_experiment_by_name, name, what="get_experiment_by_name")
    if exp is not None and exp.lifecycle_stage == "deleted":
        msg = (
            f"MLflow experiment {name!r} (id {exp.experiment_id}) is deleted: restore it "
            f"(`mlflow experiments restore --experiment-id {exp.experiment_id}`) or delete it permanently"
        )
        raise RuntimeError(msg)
    return exp


def find_run(client: MlflowClient, experiment_id: str, tag: str, value: str) -> Run | None:
    """The run of ``experiment_id`` whose tag ``tag`` equals ``value`` (indexed query; deleted runs ignored).

    When several match (runs made with ``force_new_run``), a FINISHED one wins, else the newest.
    """
    from mlflow.entities import ViewType

    runs = retry(
        client.search_runs,
        [experiment_id],
        filter_string=f"tags.`{tag}` = '{value}'",
        run_view_type=ViewType.ACTIVE_ONLY,
        max_results=100,
        order_by=["attributes.start_time DESC"],
        what="search_runs",
    )
    if not runs:
        return None
    for run in runs:
        if run.info.status == "FINISHED":
            return run
    return runs[0]
