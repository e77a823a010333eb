"""An ``mlflow server`` as the store of sweeps, analysis and ``hydraflow runs`` (issue 14).

``server`` is parametrised over the two session servers of ``tests/_servers.py`` in MLflow's default artifact
configuration (proxied, ``mlflow-artifacts:/`` URIs): sqlite-backed and PostgreSQL-backed. Each test uses an
experiment (= Hydra job) name of its own, so tests share a server safely. ``app`` runs a real
``@hydraflow.main`` app as a subprocess against it; ``flaky_proxy`` puts a misbehaving HTTP proxy in front of
a server (503 answers, dropped connections).
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

APP = textwrap.dedent(
    """
    from dataclasses import dataclass, field
    from pathlib import Path

    import hydraflow


    @dataclass
    class Model:
        lr: float = 0.1
        depth: int = 2


    @dataclass
    class Config:
        model: Model = field(default_factory=Model)
        seed: int = 0


    @hydraflow.main(Config)
    def app(run, cfg):
        import tempfile

        import mlflow

        weights = Path(tempfile.mkdtemp())  # jobs run at once share the working directory
        (weights / "w.txt").write_text(f"{cfg.model.lr} {cfg.seed}")
        mlflow.log_artifacts(str(weights), "model")
        mlflow.log_metric("loss", cfg.model.lr * cfg.model.depth + cfg.seed)
        return cfg.seed


    if __name__ == "__main__":
        app()
    """
)


@dataclass
class App:
    """The test app in ``root``, aimed at the store ``uri``; ``name`` is its Hydra job (= experiment) name."""

    root: Path
    uri: str
    name: str
    env: dict[str, str] = field(default_factory=dict)

    def run(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        full_env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "MLFLOW_TRACKING_URI": self.uri,
            **self.env,
            **(env or {}),
        }
        full_env.pop("HYDRA_FULL_ERROR", None)
        proc = subprocess.run(
            [sys.executable, "app.py", *args, f"hydra.job.name={self.name}"],
            cwd=self.root,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if check and proc.returncode != 0:
            pytest.fail(f"app.py {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def hydraflow(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``python -m hydraflow ARGS`` in the app's directory (not checked)."""
        return subprocess.run(
            [sys.executable, "-m", "hydraflow", *args],
            cwd=self.root,
            env={**os.environ, **self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )


@pytest.fixture(autouse=True)
def artifact_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test has its own artifact cache (``HYDRAFLOW_ARTIFACT_CACHE_DIR``), here and in subprocesses."""
    cache = tmp_path / "artifact-cache"
    monkeypatch.setenv("HYDRAFLOW_ARTIFACT_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest) -> Any:
    """A session ``mlflow server`` with proxied artifacts, on sqlite or on PostgreSQL."""
    return request.getfixturevalue(
        f"mlflow_server_{'postgres' if request.param == 'postgresql' else 'sqlite'}"
    )


@pytest.fixture
def app(tmp_path: Path) -> Callable[[str], App]:
    """``app(uri)``: the test app in a fresh directory, with an experiment name of its own."""

    def make(uri: str) -> App:
        root = tmp_path / f"app-{uuid.uuid4().hex[:6]}"
        root.mkdir()
        (root / "app.py").write_text(APP)
        return App(root, uri, f"job_{uuid.uuid4().hex[:10]}")

    return make


# -- a misbehaving proxy ------------------------------------------------------------------------------------


@dataclass
class FlakyProxy:
    """An HTTP proxy in front of ``target`` that misbehaves on the requests ``plan`` says.

    ``plan(n, method, path)`` for the n-th request (from 0) returns ``"pass"``, ``"503"`` or ``"drop"`` (close
    the connection without an answer). ``seen`` lists (n, method, path, what was done).
    """

    uri: str
    target: str
    plan: Callable[[int, str, str], str]
    seen: list[tuple[int, str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _proxy_handler(proxy: FlakyProxy) -> type[http.server.BaseHTTPRequestHandler]:
    target = urlsplit(proxy.target)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            with proxy.lock:
                n = len(proxy.seen)
                action = proxy.plan(n, self.command, self.path)
                proxy.seen.append((n, self.command, self.path, action))
            if action == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if action == "503":
                data = json.dumps({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}).encode()
                self.send_response(503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "connection"}}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in {"transfer-encoding", "connection", "content-length"}:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    return Handler


@pytest.fixture
def flaky_proxy() -> Iterator[Callable[[str, Callable[[int, str, str], str]], FlakyProxy]]:
    running: list[http.server.ThreadingHTTPServer] = []

    def make(target: str, plan: Callable[[int, str, str], str]) -> FlakyProxy:
        proxy = FlakyProxy("", target, plan)
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(proxy))
        httpd.daemon_threads = True
        proxy.uri = f"http://127.0.0.1:{httpd.server_address[1]}"
        threading.Thread(target=httpd.serve_forever, name="flaky-proxy", daemon=True).start()
        running.append(httpd)
        return proxy

    yield make
    for httpd in running:
        httpd.shutdown()
        httpd.server_close()
