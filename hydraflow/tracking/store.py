"""The MLflow bridge: experiments, indexed run lookup by fingerprint, per-fingerprint locks, retries.

Everything here imports MLflow lazily (inside functions) so that importing :mod:`hydraflow.tracking` stays
cheap.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import random
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlparse

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

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
    "local_path",
    "lock_dir",
    "retry",
]

log = logging.getLogger("hydraflow")

FINGERPRINT_TAG = "hydraflow.fingerprint"
OVERRIDES_TAG = "hydraflow.overrides_fingerprint"
JOB_NAME_TAG = "hydraflow.job_name"
VERSION_TAG = "hydraflow.version"
RETURN_TAG = "hydraflow.return"

T = TypeVar("T")

# Transient failures of a busy store: sqlite lock contention, a server that is briefly overloaded.
_TRANSIENT = (
    "database is locked",
    "database table is locked",
    "unable to open database file",
    "disk i/o error",
)
_RETRY_SECONDS = float(os.environ.get("HYDRAFLOW_STORE_RETRY_SECONDS", "120"))


def _is_transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _TRANSIENT)


def retry(fn: Callable[..., T], *args: Any, what: str = "", **kwargs: Any) -> T:
    """Call ``fn(*args, **kwargs)``, retrying transient store errors with jittered exponential backoff.

    MLflow already sets ``PRAGMA busy_timeout = 20000`` on sqlite; this covers what still escapes it (lock
    upgrades that sqlite refuses immediately, schema creation racing on a fresh file).
    """
    delay = 0.05
    deadline = time.monotonic() + _RETRY_SECONDS
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not _is_transient(exc) or time.monotonic() >= deadline:
                raise
            log.debug("hydraflow: %s failed (%s), retry %d in %.2fs", what or fn, exc, attempt, delay)
            time.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not crypto
            delay = min(delay * 2, 2.0)


def local_path(uri: str | None) -> Path | None:
    """The local filesystem path of a ``file:`` URI or a plain path; None for remote URIs."""
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(uri)
    return None


def absolute_uri(uri: str) -> str:
    """``uri`` with a relative sqlite/file/plain path made absolute (against the current directory)."""
    if uri.startswith("sqlite:///"):
        db = sqlite_path(uri)
        return f"sqlite:///{db}" if db is not None else uri
    path = local_path(uri)
    if path is not None and not path.is_absolute():
        return path.resolve().as_uri()
    return uri


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI (None for other URIs or in-memory databases)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    rest = unquote(tracking_uri[len("sqlite:///") :]).split("?", 1)[0]
    if not rest or rest == ":memory:":
        return None
    return Path(rest).resolve() if not rest.startswith("/") else Path(rest)


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
    if os.environ.get("HYDRAFLOW_SQLITE_INDEX", "1") == "0":
        return
    import sqlite3

    con = sqlite3.connect(db, timeout=60)
    try:
        with con:
            con.execute(f"CREATE INDEX IF NOT EXISTS {SQLITE_TAG_INDEX} ON tags (key, value)")
    finally:
        con.close()


def mark_sqlite_ready(db: Path) -> None:
    """Remember (by inode, so a re-created file is not trusted) that the schema of ``db`` is complete."""
    marker = _ready_marker(db)
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(f"{marker.name}.{os.getpid()}")
    tmp.write_text(str(db.stat().st_ino))
    tmp.replace(marker)


def lock_dir(tracking_uri: str, artifact_location: str | None) -> Path:
    """Where the per-fingerprint lock files of this store live.

    ``HYDRAFLOW_LOCK_DIR`` if set; else next to the sqlite database file; else next to a local file store or a
    local artifact root; else a per-store directory under the system temp dir (same machine only).
    """
    env = os.environ.get("HYDRAFLOW_LOCK_DIR")
    if env:
        return Path(env)
    db = sqlite_path(tracking_uri)
    if db is not None:
        return db.parent / ".hydraflow-locks"
    for uri in (tracking_uri, artifact_location):
        path = local_path(uri)
        if path is not None:
            # Beside the store root, never inside it (stores list their directories).
            root = path if uri == tracking_uri else path.parent
            return root.resolve().parent / ".hydraflow-locks"
    key = hashlib.sha256(tracking_uri.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "hydraflow-locks" / key


@contextlib.contextmanager
def fingerprint_lock(directory: Path, name: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``directory/name.lock`` for the duration of the block.

    The kernel releases the lock when the process dies, so a crashed job never blocks the next one. The file
    is removed on release; a waiter that locked a file removed meanwhile notices (inode check) and retries.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
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
        except BaseException:
            os.close(fd)
            raise
        try:
            same = path.stat().st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def get_or_create_experiment(client: MlflowClient, name: str) -> Any:
    """The active experiment ``name``, created if needed (safe when many jobs create it at once)."""
    from mlflow.exceptions import MlflowException

    for _ in range(20):
        exp = retry(client.get_experiment_by_name, name, what="get_experiment_by_name")
        if exp is not None:
            if exp.lifecycle_stage == "deleted":
                msg = (
                    f"MLflow experiment {name!r} (id {exp.experiment_id}) is deleted: restore it "
                    f"(`mlflow experiments restore --experiment-id {exp.experiment_id}`) or delete it "
                    "permanently"
                )
                raise RuntimeError(msg)
            return exp
        try:
            retry(client.create_experiment, name, what="create_experiment")
        except MlflowException as exc:  # another job created it first
            code = getattr(exc, "error_code", "")
            if "already exists" not in str(exc).lower() and code != "RESOURCE_ALREADY_EXISTS":
                raise
        except Exception as exc:
            # sqlite's UNIQUE constraint surfaces as an IntegrityError-wrapped MlflowException or raw error
            if "unique" not in str(exc).lower():
                raise
    msg = f"could not get or create the MLflow experiment {name!r}"
    raise RuntimeError(msg)


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
