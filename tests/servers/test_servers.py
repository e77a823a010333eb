"""The test servers themselves: a plain MLflow client round trip on each real ``mlflow server``, the refusing
proxy and the down URI behave as a client meets them, and a stopped server leaves no process behind."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient


def _round_trip(server, tmp_path: Path) -> str:
    client = MlflowClient(tracking_uri=server.uri)
    exp = client.create_experiment(f"round-trip-{uuid.uuid4().hex[:8]}")
    run = client.create_run(exp)
    client.log_param(run.info.run_id, "lr", "0.5")
    src = tmp_path / "src" / "note.txt"
    src.parent.mkdir()
    src.write_text("hello from the test\n")
    client.log_artifact(run.info.run_id, str(src), artifact_path="notes")
    client.set_terminated(run.info.run_id)

    got = client.get_run(run.info.run_id)
    assert got.data.params == {"lr": "0.5"}
    assert got.info.status == "FINISHED"
    # MLflow's default: artifacts proxied by the server, stored in its ./mlartifacts
    assert got.info.artifact_uri.startswith("mlflow-artifacts:/"), got.info.artifact_uri
    assert [f.path for f in client.list_artifacts(run.info.run_id, "notes")] == ["notes/note.txt"]
    dst = tmp_path / "dst"
    dst.mkdir()
    local = client.download_artifacts(run.info.run_id, "notes/note.txt", str(dst))
    assert Path(local).read_text() == "hello from the test\n"
    stored = list(server.artifacts_dir.glob(f"{exp}/{run.info.run_id}/artifacts/notes/note.txt"))
    assert len(stored) == 1, f"artifact not under the server's {server.artifacts_dir}"
    return run.info.run_id


def test_round_trip_sqlite(mlflow_server_sqlite, tmp_path: Path) -> None:
    assert mlflow_server_sqlite.backend_store_uri.startswith("sqlite:///")
    _round_trip(mlflow_server_sqlite, tmp_path)


def test_round_trip_postgres(mlflow_server_postgres, tmp_path: Path) -> None:
    import hydraflow_test_servers as servers

    run_id = _round_trip(mlflow_server_postgres, tmp_path)
    # the run really is in PostgreSQL
    rows = servers.pg_query(
        mlflow_server_postgres.database, "SELECT status FROM runs WHERE run_uuid = %s", (run_id,)
    )
    assert rows == [("FINISHED",)]
    params = servers.pg_query(
        mlflow_server_postgres.database, "SELECT key, value FROM params WHERE run_uuid = %s", (run_id,)
    )
    assert params == [("lr", "0.5")]


def test_factory_server_is_fresh_and_stops_cleanly(mlflow_server_factory, tmp_path: Path) -> None:
    server = mlflow_server_factory("postgresql")
    client = MlflowClient(tracking_uri=server.uri)
    assert [e.name for e in client.search_experiments()] == ["Default"]
    _round_trip(server, tmp_path)
    pgid = server.process.pid
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)  # nothing left of the server's process group (uvicorn workers included)


@pytest.mark.parametrize("status", [401, 403])
def test_refusing_server(refusing_server, status: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    proxy = refusing_server(status)
    with pytest.raises(MlflowException) as err:
        MlflowClient(tracking_uri=proxy.uri).search_experiments()
    assert str(status) in str(err.value) or "refused by the test auth proxy" in str(err.value)
    assert proxy.requests
    assert proxy.requests[0][1].startswith("/api/2.0/mlflow/experiments/search")


def test_down_uri_refuses(down_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    host, port = down_uri.removeprefix("http://").split(":")
    with pytest.raises(ConnectionRefusedError), socket.create_connection((host, int(port)), timeout=5):
        pass
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(MlflowException, match=r"(?i)connection refused|max retries"):
        MlflowClient(tracking_uri=down_uri).search_experiments()
