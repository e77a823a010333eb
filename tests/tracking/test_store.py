"""The MLflow bridge's own pieces: per-fingerprint locks, lock placement, retries, params flattening."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from hydraflow.tracking import flatten_params
from hydraflow.tracking.store import fingerprint_lock, local_path, lock_dir, retry, sqlite_path


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


def test_retry_only_retries_transient_errors() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("(sqlite3.OperationalError) database is locked")
        return "ok"

    assert retry(flaky) == "ok"
    assert len(calls) == 3

    def broken() -> None:
        calls.append(1)
        raise ValueError("no such table")

    calls.clear()
    with pytest.raises(ValueError, match="no such table"):
        retry(broken)
    assert len(calls) == 1


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
