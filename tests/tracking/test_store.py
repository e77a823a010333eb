"""The MLflow bridge's own pieces: per-fingerprint locks, lock placement, retries by error type, params."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from hydraflow.store.errors import is_already_exists, is_not_found, is_transient, retry
from hydraflow.store.uri import local_path, sqlite_path
from hydraflow.tracking import flatten_params
from hydraflow.tracking.store import fingerprint_lock, lock_dir


def test_lock_serialises_and_cleans_up(tmp_path: Path) -> None:
    order: list[str] = []
    held = threading.Event()

    def second() -> None:
        held.wait()
        with fingerprint_lock(tmp_path, "fp"):
            order.append("second")

    t = threading.Thread(target=second)
    t.start()
    with fingerprint_lock(tmp_path, "fp"):
        held.set()
        time.sleep(0.3)
        order.append("first")
    t.join(timeout=30)
    assert order == ["first", "second"]
    assert not (tmp_path / "fp.lock").exists()


def test_lock_of_a_killed_process_is_released(tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; from hydraflow.tracking.store import fingerprint_lock\n"
        "with fingerprint_lock(Path(sys.argv[1]), 'fp'):\n    print('locked', flush=True); time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        proc.kill()
        proc.wait(timeout=30)
        t0 = time.monotonic()
        with fingerprint_lock(tmp_path, "fp"):
            pass
        assert time.monotonic() - t0 < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def test_lock_dir_is_beside_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYDRAFLOW_LOCK_DIR", raising=False)
    assert lock_dir(f"sqlite:///{tmp_path}/db/mlflow.db", None) == tmp_path / "db" / ".hydraflow-locks"
    assert lock_dir((tmp_path / "mlruns").as_uri(), None) == tmp_path / ".hydraflow-locks"
    assert lock_dir("http://127.0.0.1:5000", str(tmp_path / "art" / "1")) == tmp_path / ".hydraflow-locks"
    remote = lock_dir("http://127.0.0.1:5000", "mlflow-artifacts:/1")
    assert remote.parent.name == "hydraflow-locks"
    assert remote == lock_dir("http://127.0.0.1:5000", "mlflow-artifacts:/2")
    monkeypatch.setenv("HYDRAFLOW_LOCK_DIR", str(tmp_path / "shared"))
    assert lock_dir("http://x", None) == tmp_path / "shared"
    assert sqlite_path("sqlite:///:memory:") is None
    assert local_path("s3://bucket/x") is None
    assert local_path("file:///a/b%20c") == Path("/a/b c")


@pytest.fixture
def locked_db(tmp_path: Path):
    """A sqlite file another connection holds an exclusive lock on."""
    db = tmp_path / "locked.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    yield db
    holder.execute("ROLLBACK")
    holder.close()


def _write(db: Path) -> None:
    con = sqlite3.connect(db, timeout=0)
    try:
        con.execute("INSERT INTO t VALUES (1)")
    finally:
        con.close()


def test_retry_only_retries_transient_errors(locked_db: Path) -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            _write(locked_db)  # a real "database is locked" (SQLITE_BUSY)
        return "ok"

    assert retry(flaky) == "ok"
    assert len(calls) == 3

    def broken() -> None:
        calls.append(1)
        with contextlib.closing(sqlite3.connect(":memory:")) as con:
            con.execute("SELECT * FROM runs")

    calls.clear()
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        retry(broken)
    assert len(calls) == 1


def test_retry_gives_up_after_the_configured_time(locked_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYDRAFLOW_STORE_RETRY_SECONDS", "0.3")  # read when retry() starts, not at import
    t0 = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        retry(_write, locked_db)
    assert 0.3 <= time.monotonic() - t0 < 10


def test_errors_are_told_apart_by_type_through_mlflow_wrapping(locked_db: Path, tmp_path: Path) -> None:
    """MLflow raises MlflowException from SQLAlchemy's error from the sqlite3 error: the chain decides."""
    import sqlalchemy
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE

    def wrapped(db: Path, statement: str) -> MlflowException:
        engine = sqlalchemy.create_engine(f"sqlite:///{db}", connect_args={"timeout": 0})
        try:
            with engine.begin() as con:
                con.execute(sqlalchemy.text(statement))
        except sqlalchemy.exc.OperationalError as exc:  # what mlflow.store.db.utils raises from it
            wrapped_exc = MlflowException(message=str(exc), error_code=TEMPORARILY_UNAVAILABLE)
            wrapped_exc.__cause__ = exc
            return wrapped_exc
        finally:
            engine.dispose()
        pytest.fail("no error")

    locked = wrapped(locked_db, "INSERT INTO t VALUES (1)")
    assert is_transient(locked)
    no_table = wrapped(tmp_path / "fresh.db", "SELECT * FROM nowhere")
    assert "no such table" in str(no_table)
    assert not is_transient(no_table)  # the same MLflow error code as "locked": the sqlite code decides


def test_real_mlflow_errors_are_recognised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client.create_experiment("x")
    with pytest.raises(MlflowException) as exists:
        client.create_experiment("x")
    assert is_already_exists(exists.value)
    assert not is_transient(exists.value)
    run = client.create_run(client.get_experiment_by_name("x").experiment_id)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    with pytest.raises(MlflowException) as missing:
        mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/nothing.log")  # as _log_job_log reads it
    assert is_not_found(missing.value)
    assert not is_already_exists(missing.value)
    assert not is_not_found(ValueError("RESOURCE_DOES_NOT_EXIST"))  # the text means nothing


def test_flatten_params() -> None:
    cfg = OmegaConf.create(
        {"a": {"b": 1, "c": [1, 2]}, "d": None, "e": "x" * 7000, "f": True, "g": {}, "h": "${a.b}"}
    )
    params = flatten_params(cfg)
    assert params["a.b"] == "1"
    assert params["a.c"] == "[1, 2]"
    assert params["d"] == "None"
    assert len(params["e"]) == 6000
    assert params["f"] == "True"
    assert params["h"] == "1"
    assert params["g"] == "{}"


def test_return_value_encoding() -> None:
    from hydraflow.tracking.main import _encode_return

    assert _encode_return(0.5) == "0.5"
    assert _encode_return({"loss": 1, "acc": [0.9]}) == '{"loss": 1, "acc": [0.9]}'
    assert _encode_return(None) is None
    assert _encode_return(object()) is None  # not JSON: not stored, a skipped job then returns None
    assert _encode_return("x" * 9000) is None  # longer than MLflow's tag limit


def test_a_waiting_job_says_who_holds_the_lock(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A requeued job that waits for its stale first copy logs where that copy runs (host, pid, SLURM job)."""
    import os
    import socket

    code = (
        "import sys, time; from pathlib import Path; from hydraflow.tracking.store import fingerprint_lock\n"
        "with fingerprint_lock(Path(sys.argv[1]), 'fp'):\n    print('locked', flush=True); time.sleep(600)\n"
    )
    env = {**os.environ, "SLURM_JOB_ID": "12", "SLURM_ARRAY_JOB_ID": "10", "SLURM_ARRAY_TASK_ID": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        threading.Timer(0.5, proc.kill).start()
        with caplog.at_level(logging.WARNING, logger="hydraflow"), fingerprint_lock(tmp_path, "fp"):
            pass
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    holder = f"held by {socket.gethostname()} pid {proc.pid}, SLURM job 10_2 (restart 0)"
    assert f"waiting for the lock {tmp_path / 'fp.lock'}, {holder}" in caplog.text
    assert f"got the lock {tmp_path / 'fp.lock'} after" in caplog.text


def test_server_store_locks_where_every_node_sees_them_in_a_batch_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server without local artifacts: under SLURM/PBS the locks go to the app's (shared) directory, as a
    node's /tmp is its own; outside a batch job, to the temp dir."""
    for name in ("HYDRAFLOW_LOCK_DIR", "SLURM_JOB_ID", "PBS_JOBID"):
        monkeypatch.delenv(name, raising=False)
    uri = "http://10.0.0.1:5000"
    local = lock_dir(uri, "mlflow-artifacts:/1", shared=tmp_path)
    assert tmp_path not in local.parents
    monkeypatch.setenv("SLURM_JOB_ID", "5")
    shared = lock_dir(uri, "mlflow-artifacts:/1", shared=tmp_path)
    assert shared == tmp_path / ".hydraflow-locks" / local.name
    assert lock_dir(uri, str(tmp_path / "art" / "1"), shared=tmp_path / "x") == tmp_path / ".hydraflow-locks"
    monkeypatch.delenv("SLURM_JOB_ID")
    monkeypatch.setenv("PBS_JOBID", "3.pbs")
    assert lock_dir(uri, None, shared=tmp_path) == shared
    monkeypatch.setenv("HYDRAFLOW_LOCK_DIR", str(tmp_path / "mine"))
    assert lock_dir(uri, None, shared=tmp_path) == tmp_path / "mine"
