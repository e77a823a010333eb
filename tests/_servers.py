"""Pytest plugin: real MLflow tracking servers, a PostgreSQL backend, an auth-refusing proxy and a "down" URI.

Loaded by ``tests/conftest.py`` (see the hook in ``tests/servers/conftest.py``); the fixtures are then visible to
every test. PostgreSQL is the one of ``tests/cluster/postgres_up.sh`` (127.0.0.1:5433, role/password
``mlflow``/``mlflow``; ``HF_PG_PORT`` moves it): without it a test that needs it is skipped, and FAILS when
``CI`` is set.

Fixtures:

- ``mlflow_server_sqlite`` / ``mlflow_server_postgres`` (session): one shared ``mlflow server`` each, in MLflow's
  default artifact configuration (``--serve-artifacts``: runs get ``mlflow-artifacts:/...`` URIs, files land in
  the server's own ``mlartifacts/`` dir). Shared: give each test its own experiment name.
- ``mlflow_server_factory`` (function): ``make("sqlite" | "postgresql", host=..., extra_args=...)`` starts a
  fresh server (on PostgreSQL: in a fresh database); all are stopped, their databases dropped, at teardown.
  ``host`` may be the multi-node cluster's bridge address (10.204.0.1) so that jobs on every node reach it.
- ``postgres_database`` (function): ``make()`` returns the URI of a fresh empty database, dropped at teardown.
- ``refusing_server`` (function): ``make(401)`` / ``make(403)`` starts a loopback HTTP server that answers every
  request with that status (like an auth proxy in front of MLflow) and records the requests it saw.
- ``down_uri`` (function): ``http://127.0.0.1:PORT`` where nothing listens (the port is held by a bound,
  non-listening socket for the test's duration, so nothing else can take it): connections are refused.

Each server runs on a free loopback port, in its own directory under the test's (or session's) tmp dir, in its
own process group: stopping it kills the uvicorn workers too (``mlflow server`` does not pass SIGTERM on to
every child). ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``: MLflow 3's default starts 7 huey job consumers
(~220 MB each) for its GenAI job feature, which the tests do not use.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

PG_HOST = "127.0.0.1"
PG_PORT = int(os.environ.get("HF_PG_PORT", "5433"))
PG_USER = PG_PASSWORD = "mlflow"  # noqa: S105 - the throwaway test database's documented password
HOW_TO_START_PG = "start it with `sudo bash tests/cluster/postgres_up.sh` (nox -s tests does it as root)"
_POSTGRES_FIXTURES = {"mlflow_server_postgres", "postgres_database"}


def pg_uri(database: str, host: str = PG_HOST) -> str:
    """SQLAlchemy/MLflow URI of a database on the test PostgreSQL."""
    return f"postgresql://{PG_USER}:{PG_PASSWORD}@{host}:{PG_PORT}/{database}"


def _pg_connect(database: str = "mlflow") -> Any:
    """A DB-API connection (psycopg 3, else psycopg2) in autocommit mode."""
    try:
        import psycopg

        return psycopg.connect(pg_uri(database), autocommit=True, connect_timeout=5)
    except ImportError:
        import psycopg2

        conn = psycopg2.connect(pg_uri(database), connect_timeout=5)
        conn.autocommit = True
        return conn


def pg_query(database: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on a test database; returns its rows (empty for statements without rows)."""
    conn = _pg_connect(database)
    try:
        cur = conn.cursor()
        cur.execute(sql, params)
        return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()


@functools.cache
def _postgres_problem() -> str | None:
    try:
        pg_query("mlflow", "SELECT 1")
    except ImportError:
        return "neither psycopg nor psycopg2 is installed (pip install -e '.[test]')"
    except Exception as exc:  # noqa: BLE001 - any driver error means "not usable", with its message
        return f"cannot connect to {pg_uri('mlflow')}: {str(exc).strip().splitlines()[0]}"
    return None


def require_postgres() -> None:
    """Skip the test (fail it when ``CI`` is set) unless the test PostgreSQL answers."""
    problem = _postgres_problem()
    if problem is None:
        return
    msg = f"PostgreSQL unavailable: {problem}; {HOW_TO_START_PG}"
    if os.environ.get("CI"):
        pytest.fail(f"{msg} (CI is set: PostgreSQL tests must run)")
    pytest.skip(msg)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _POSTGRES_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres"):
        require_postgres()


def create_database() -> str:
    """Create a fresh empty database owned by ``mlflow``; returns its name."""
    name = f"hf_{uuid.uuid4().hex[:12]}"
    pg_query("mlflow", f'CREATE DATABASE "{name}" OWNER mlflow')
    return name


def drop_database(name: str) -> None:
    pg_query("mlflow", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_database() -> Iterator[Callable[[], str]]:
    names: list[str] = []

    def make() -> str:
        require_postgres()
        names.append(create_database())
        return pg_uri(names[-1])

    yield make
    for name in names:
        drop_database(name)


# -- MLflow servers -------------------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class MlflowServer:
    """A running ``mlflow server``: ``uri`` for clients; artifacts under ``workdir / "mlartifacts"``."""

    uri: str
    backend_store_uri: str
    workdir: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    database: str | None = None  # PostgreSQL database name, when the backend is PostgreSQL

    @property
    def artifacts_dir(self) -> Path:
        return self.workdir / "mlartifacts"

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL what is left after 15 s."""
        _kill_group(self.process, grace=15)


def _kill_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        proc.poll()
        try:
            os.killpg(proc.pid, 0)  # anyone left in the group (workers outlive the parent)?
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _server_env(job_execution: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "true" if job_execution else "false"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _healthy(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as resp:  # noqa: S310 - our own http URI
            return bool(resp.status == 200)
    except OSError:
        return False


def start_mlflow_server(
    workdir: Path,
    backend_store_uri: str,
    *,
    host: str = "127.0.0.1",
    extra_args: tuple[str, ...] = (),
    workers: int = 1,
    job_execution: bool = False,
    timeout: float = 240,
) -> MlflowServer:
    """Start ``mlflow server`` with MLflow's default artifact settings (cwd ``workdir``: ``./mlartifacts``).

    Waits for ``/health``; retries on another port if the chosen one was taken meanwhile. Startup takes
    3-5 s on an idle 2-core machine, 15-40 s under heavy load (two Python processes import MLflow).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        port = free_port(host)
        log_path = workdir / f"server-{port}.log"
        cmd = [sys.executable, "-m", "mlflow", "server", "--host", host, "--port", str(port)]
        cmd += ["--workers", str(workers), "--backend-store-uri", backend_store_uri, *extra_args]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                cmd,
                cwd=workdir,
                env=_server_env(job_execution),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        uri = f"http://{host}:{port}"
        server = MlflowServer(uri, backend_store_uri, workdir, log_path, proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None and not _healthy(uri):
            time.sleep(0.2)
        if proc.poll() is None and _healthy(uri):
            return server
        server.stop()
        if "address already in use" in server.log_tail(50).lower() and attempt < 2:
            continue
        pytest.fail(
            f"mlflow server ({backend_store_uri}) did not come up in {timeout:.0f} s:\n{server.log_tail()}"
        )
    raise AssertionError("unreachable")


@pytest.fixture
def mlflow_server_factory(tmp_path: Path) -> Iterator[Callable[..., MlflowServer]]:
    servers: list[MlflowServer] = []

    def make(
        backend: str = "sqlite",
        *,
        host: str = "127.0.0.1",
        extra_args: tuple[str, ...] = (),
        workers: int = 1,
    ) -> MlflowServer:
        workdir = tmp_path / f"mlflow-server-{len(servers)}"
        database = None
        if backend == "sqlite":
            store = f"sqlite:///{workdir / 'mlflow.db'}"
        elif backend == "postgresql":
            require_postgres()
            database = create_database()
            store = pg_uri(database)
        else:
            raise ValueError(f"backend must be 'sqlite' or 'postgresql', not {backend!r}")
        try:
            server = start_mlflow_server(workdir, store, host=host, extra_args=extra_args, workers=workers)
        except BaseException:
            if database:
                drop_database(database)
            raise
        server.database = database
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
        if server.database:
            drop_database(server.database)


@pytest.fixture(scope="session")
def mlflow_server_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    workdir = tmp_path_factory.mktemp("mlflow-server-sqlite")
    server = start_mlflow_server(workdir, f"sqlite:///{workdir / 'mlflow.db'}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mlflow_server_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    require_postgres()
    database = create_database()
    try:
        server = start_mlflow_server(tmp_path_factory.mktemp("mlflow-server-postgres"), pg_uri(database))
        server.database = database
        yield server
        server.stop()
    finally:
        drop_database(database)


# -- failing endpoints ----------------------------------------------------------------------------------------


@dataclass
class RefusingServer:
    """A loopback HTTP server answering every request with ``status``; ``requests`` lists (method, path)."""

    uri: str
    status: int
    requests: list[tuple[str, str]] = field(default_factory=list)


def _refusing_handler(server: RefusingServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _refuse(self) -> None:
            server.requests.append((self.command, self.path))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            body = json.dumps(
                {
                    "error_code": "UNAUTHENTICATED" if server.status == 401 else "PERMISSION_DENIED",
                    "message": f"refused by the test auth proxy ({server.status})",
                }
            ).encode()
            self.send_response(server.status)
            if server.status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="mlflow"')
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _refuse  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    return Handler


@pytest.fixture
def refusing_server() -> Iterator[Callable[[int], RefusingServer]]:
    running: list[http.server.ThreadingHTTPServer] = []

    def make(status: int = 401) -> RefusingServer:
        info = RefusingServer(uri="", status=status)
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _refusing_handler(info))
        info.uri = f"http://127.0.0.1:{httpd.server_address[1]}"
        threading.Thread(target=httpd.serve_forever, name=f"refusing-{status}", daemon=True).start()
        running.append(httpd)
        return info

    yield make
    for httpd in running:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def down_uri() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(
            ("127.0.0.1", 0)
        )  # bound, never listening: connect() is refused, and no one else gets the port
        yield f"http://127.0.0.1:{s.getsockname()[1]}"
