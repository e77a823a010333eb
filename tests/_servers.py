"""Pytest plugin: real MLflow tracking servers, a PostgreSQL backend, an auth-refusing proxy and a "down" URI.

The one implementation of the test servers. ``tests/conftest.py`` registers this module as the plugin
``hydraflow_test_servers`` (so the fixtures are visible to every test, and test modules may
``import hydraflow_test_servers`` for the helpers ``pg_query``, ``pg_uri``, ``start_mlflow_server``...).
PostgreSQL is the one of ``tests/cluster/postgres_up.sh`` (127.0.0.1:5433, role/password ``mlflow``/``mlflow``;
``HF_PG_PORT`` moves it): without it a test that needs it is skipped, and FAILS when ``CI`` is set.

Fixtures:

- ``mlflow_server`` (session): ``mlflow_server(artifacts="proxied"|"local", backend="sqlite"|"postgresql",
  backend_store_uri=None)`` returns the session's server for that :class:`ServerSpec` (one per distinct spec).
  Tests declare theirs with the marker ``@pytest.mark.mlflow_server(...)`` (same arguments; a conftest can add
  it in ``pytest_collection_modifyitems``): the declared servers boot in the background when collection
  ends, while the first tests run.
- ``mlflow_server_sqlite`` / ``mlflow_server_postgres`` (session): the shared servers of
  ``ServerSpec("sqlite")`` / ``ServerSpec("postgresql")``, MLflow's default artifact configuration
  (``--serve-artifacts``: runs get ``mlflow-artifacts:/...`` URIs, files land in the server's own
  ``./mlartifacts``); booted in the background too. Shared: give each test its own experiment name.
- ``mlflow_server_factory`` (function): ``make("sqlite" | "postgresql", host=..., artifacts=...,
  extra_args=...)`` starts a fresh server (on PostgreSQL: in a fresh database); all are stopped, their
  databases dropped, at teardown. ``host`` may be the multi-node cluster's bridge address (10.204.0.1).
- ``postgres_database`` (function): ``make()`` returns the URI of a fresh empty database, dropped at teardown.
- ``refusing_server`` (function): ``make(401)`` / ``make(403)`` / ``make(503)`` starts a loopback HTTP server
  that answers every request with that status (like an auth proxy, or a proxy whose backend is down) and
  records the requests it saw.
- ``down_uri`` (function): ``http://127.0.0.1:PORT`` where nothing listens (the port is held by a bound,
  non-listening socket for the test's duration, so nothing else can take it): connections are refused.

Each server runs on a free port, in its own directory, in its own process group: stopping it kills the
uvicorn workers too (``mlflow server`` does not pass SIGTERM on to every child).
``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``: MLflow 3's default starts 7 huey job consumers (~220 MB each) for
its GenAI job feature, which the tests do not use.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

PG_HOST = "127.0.0.1"
PG_PORT = int(os.environ.get("HF_PG_PORT", "5433"))
PG_USER = PG_PASSWORD = "mlflow"  # noqa: S105 - the throwaway test database's documented password
HOW_TO_START_PG = "start it with `sudo bash tests/cluster/postgres_up.sh` (nox -s tests does it as root)"
_POSTGRES_FIXTURES = {"mlflow_server_postgres", "postgres_database"}

Backend = Literal["sqlite", "postgresql"]
Artifacts = Literal["proxied", "local"]


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


def create_database() -> str:
    """Create a fresh empty database owned by ``mlflow``; returns its name."""
    name = f"hf_{uuid.uuid4().hex[:12]}"
    pg_query("mlflow", f'CREATE DATABASE "{name}" OWNER mlflow')
    return name


def drop_database(name: str, attempts: int = 30) -> None:
    """Drop a test database; retried while a superuser's process (autovacuum after a bulk insert) holds it.

    ``WITH (FORCE)`` ends the ``mlflow`` role's connections but may not end an autovacuum worker's, which
    ends by itself within seconds. A database that still cannot be dropped is left behind with a warning
    (``tests/cluster/postgres_down.sh`` removes the whole cluster), never a test error.
    """
    for attempt in range(attempts):
        try:
            pg_query("mlflow", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception as exc:  # noqa: BLE001, PERF203 - psycopg or psycopg2; a retry loop
            if attempt == attempts - 1:
                warnings.warn(f"test database {name} left behind: {exc}", stacklevel=2)
                return
            time.sleep(1)
        else:
            return


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
    """A TCP port on ``host`` that nothing listens on (call it once per server)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


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


@dataclass
class MlflowServer:
    """An ``mlflow server`` process: ``uri`` (also ``url``) for clients, ``artifacts_dir`` for its files.

    Started by :func:`launch_mlflow_server`; :meth:`wait_ready` blocks until ``/health`` answers (and starts
    it again on another port if the first one was taken meanwhile).
    """

    uri: str
    backend_store_uri: str
    workdir: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    artifacts: Artifacts = "proxied"
    database: str | None = None  # PostgreSQL database name, when the backend is PostgreSQL
    command: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    env: dict[str, str] = field(default_factory=dict)
    remove_workdir: bool = False  # at stop(): the session servers live in a temp dir of their own
    _ready: bool = False

    @property
    def url(self) -> str:
        """The tracking URI (same as :attr:`uri`)."""
        return self.uri

    @property
    def port(self) -> int:
        return int(self.uri.rsplit(":", 1)[1])

    @property
    def artifacts_dir(self) -> Path:
        """Where the runs' artifact files are: ``./mlartifacts`` (proxied) or ``./artifacts`` (local)."""
        return self.workdir / ("mlartifacts" if self.artifacts == "proxied" else "artifacts")

    artifact_root = artifacts_dir

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float = 240) -> MlflowServer:
        """Block until ``/health`` answers 200; fail the test with the server's log if it does not start.

        A server starts in 3-5 s on an idle 2-core machine, 15-40 s under heavy load.
        """
        attempts = 0
        while not self._ready:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None and not _healthy(self.uri):
                time.sleep(0.2)
            if self.process.poll() is None and _healthy(self.uri):
                self._ready = True
                break
            _kill_group(self.process, grace=15)
            attempts += 1
            if "address already in use" in self.log_tail(50).lower() and attempts < 3:
                self._spawn(free_port(self.host))  # the port was taken between free_port() and bind()
                continue
            pytest.fail(
                f"mlflow server ({self.backend_store_uri}) did not come up in {timeout:.0f} s:\n{self.log_tail()}"
            )
        return self

    def _spawn(self, port: int) -> None:
        self.uri = f"http://{self.host}:{port}"
        self.log_path = self.workdir / f"server-{port}.log"
        port_at = self.command.index("--port") + 1
        self.command[port_at] = str(port)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL what is left after 15 s."""
        _kill_group(self.process, grace=15)
        if self.remove_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def launch_mlflow_server(
    workdir: Path,
    backend_store_uri: str,
    *,
    host: str = "127.0.0.1",
    artifacts: Artifacts = "proxied",
    extra_args: tuple[str, ...] = (),
    workers: int = 1,
    job_execution: bool = False,
) -> MlflowServer:
    """Start ``mlflow server`` in ``workdir`` without waiting for it (see :meth:`MlflowServer.wait_ready`).

    ``artifacts="proxied"`` passes no artifact option at all: MLflow's default (``--serve-artifacts``, files in
    ``./mlartifacts``, runs get ``mlflow-artifacts:/`` URIs). ``"local"`` passes ``--default-artifact-root
    ./artifacts --no-serve-artifacts``: runs get local paths as artifact URIs, clients read and write them.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", host, "--port", "0"]
    cmd += ["--workers", str(workers), "--backend-store-uri", backend_store_uri]
    if artifacts == "local":
        cmd += ["--default-artifact-root", str(workdir / "artifacts"), "--no-serve-artifacts"]
    cmd += list(extra_args)
    server = MlflowServer(
        uri="",
        backend_store_uri=backend_store_uri,
        workdir=workdir,
        log_path=workdir / "server.log",
        process=None,  # type: ignore[arg-type] - set by _spawn
        artifacts=artifacts,
        command=cmd,
        host=host,
        env=_server_env(job_execution),
    )
    server._spawn(free_port(host))
    return server


def start_mlflow_server(
    workdir: Path,
    backend_store_uri: str,
    *,
    host: str = "127.0.0.1",
    artifacts: Artifacts = "proxied",
    extra_args: tuple[str, ...] = (),
    workers: int = 1,
    job_execution: bool = False,
    timeout: float = 240,
) -> MlflowServer:
    """:func:`launch_mlflow_server`, then wait until it answers."""
    server = launch_mlflow_server(
        workdir,
        backend_store_uri,
        host=host,
        artifacts=artifacts,
        extra_args=extra_args,
        workers=workers,
        job_execution=job_execution,
    )
    return server.wait_ready(timeout)


# -- session servers, booted in the background ------------------------------------------------------------------


@dataclass(frozen=True)
class ServerSpec:
    """How a session server is started; one server per distinct spec per test session (per xdist worker).

    ``backend``: ``"sqlite"`` (a fresh database file in the server's directory) or ``"postgresql"`` (a fresh
    database on the test PostgreSQL); ``backend_store_uri`` overrides both with any URI ``mlflow server
    --backend-store-uri`` accepts. ``artifacts``: see :func:`launch_mlflow_server`.
    """

    backend: Backend = "sqlite"
    artifacts: Artifacts = "proxied"
    backend_store_uri: str | None = None


_SESSION_SERVERS: dict[ServerSpec, MlflowServer] = {}
_FIXTURE_SPECS = {
    "mlflow_server_sqlite": ServerSpec("sqlite"),
    "mlflow_server_postgres": ServerSpec("postgresql"),
}


def _session_server(spec: ServerSpec) -> MlflowServer:
    """The session's server for ``spec``, launched (not yet waited for) on first use."""
    server = _SESSION_SERVERS.get(spec)
    if server is None:
        workdir = Path(tempfile.mkdtemp(prefix=f"hf-mlflow-{spec.backend}-{spec.artifacts}-"))
        database = None
        store = spec.backend_store_uri
        if store is None and spec.backend == "postgresql":
            database = create_database()
            store = pg_uri(database)
        elif store is None:
            store = f"sqlite:///{workdir / 'mlflow.db'}"
        server = launch_mlflow_server(workdir, store, artifacts=spec.artifacts)
        server.database = database
        server.remove_workdir = True
        _SESSION_SERVERS[spec] = server
    return server


def _specs_of(item: pytest.Item) -> list[ServerSpec]:
    specs = [ServerSpec(**mark.kwargs) for mark in item.iter_markers("mlflow_server")]
    specs += [spec for name, spec in _FIXTURE_SPECS.items() if name in getattr(item, "fixturenames", ())]
    return specs


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _POSTGRES_FIXTURES & set(getattr(item, "fixturenames", ())) or any(
            s.backend == "postgresql" and s.backend_store_uri is None for s in _specs_of(item)
        ):
            item.add_marker(pytest.mark.postgres)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Launch the session servers the selected tests use, so that they boot while other tests run.

    Not in a pytest-xdist worker: each worker collects every test but runs only some, so it launches a server
    when a test first asks for one. A PostgreSQL server is launched only when PostgreSQL answers.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    for item in session.items:
        for spec in _specs_of(item):
            if spec.backend == "postgresql" and spec.backend_store_uri is None and _postgres_problem():
                continue
            _session_server(spec)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres"):
        require_postgres()


def pytest_sessionfinish(session: pytest.Session) -> None:
    while _SESSION_SERVERS:
        server = _SESSION_SERVERS.popitem()[1]
        server.stop()
        if server.database:
            with contextlib.suppress(Exception):  # PostgreSQL gone meanwhile: nothing left to drop
                drop_database(server.database)


def _ready_session_server(spec: ServerSpec) -> MlflowServer:
    if spec.backend == "postgresql" and spec.backend_store_uri is None:
        require_postgres()
    return _session_server(spec).wait_ready()


@pytest.fixture(scope="session")
def mlflow_server() -> Callable[..., MlflowServer]:
    """``mlflow_server(artifacts="proxied"|"local", backend="sqlite"|"postgresql", backend_store_uri=None)``.

    Returns the session's ready :class:`MlflowServer` for that :class:`ServerSpec`; tests that share one use
    experiment names of their own. Mark a test ``@pytest.mark.mlflow_server(...)`` with the same arguments and
    the server boots while other tests run.
    """

    def get(**kwargs: Any) -> MlflowServer:
        return _ready_session_server(ServerSpec(**kwargs))

    return get


@pytest.fixture(scope="session")
def mlflow_server_sqlite() -> MlflowServer:
    """The session's sqlite-backed server in MLflow's default (proxied) artifact configuration."""
    return _ready_session_server(_FIXTURE_SPECS["mlflow_server_sqlite"])


@pytest.fixture(scope="session")
def mlflow_server_postgres() -> MlflowServer:
    """The session's PostgreSQL-backed server in MLflow's default (proxied) artifact configuration."""
    return _ready_session_server(_FIXTURE_SPECS["mlflow_server_postgres"])


@pytest.fixture
def mlflow_server_factory(tmp_path: Path) -> Iterator[Callable[..., MlflowServer]]:
    servers: list[MlflowServer] = []

    def make(
        backend: Backend = "sqlite",
        *,
        host: str = "127.0.0.1",
        artifacts: Artifacts = "proxied",
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
            msg = f"backend must be 'sqlite' or 'postgresql', not {backend!r}"
            raise ValueError(msg)
        try:
            server = launch_mlflow_server(
                workdir, store, host=host, artifacts=artifacts, extra_args=extra_args, workers=workers
            )
        except BaseException:
            if database:
                drop_database(database)
            raise
        server.database = database
        servers.append(server)  # stopped (and its database dropped) at teardown, even if it never came up
        return server.wait_ready()

    yield make
    for server in servers:
        server.stop()
        if server.database:
            drop_database(server.database)


# -- failing endpoints ----------------------------------------------------------------------------------------


@dataclass
class RefusingServer:
    """A loopback HTTP server answering every request with ``status``; ``requests`` lists (method, path)."""

    uri: str
    status: int
    requests: list[tuple[str, str]] = field(default_factory=list)


_ERROR_CODES = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 503: "TEMPORARILY_UNAVAILABLE"}


def _refusing_handler(server: RefusingServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _refuse(self) -> None:
            server.requests.append((self.command, self.path))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            body = json.dumps(
                {
                    "error_code": _ERROR_CODES.get(server.status, "INTERNAL_ERROR"),
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
