"""Shared test fixtures and the rules of the markers.

Markers (declared in ``pyproject.toml``):

- ``slurm``: needs the single-node SLURM cluster (``tests/cluster/slurm_up.sh``, started by ``nox -s tests``).
  Without a reachable cluster such a test is skipped on a developer machine and **fails** when ``CI`` is set.
- ``torque``: needs the Torque-style ``qsub``/``qstat``/``qdel`` wrappers of slurm-wlm-torque over that cluster.
- ``pbs``: needs the single-node OpenPBS server (``tests/cluster/pbs_up.sh``, started by ``nox -s tests``). Skipped
  where it is not running; a failure under ``CI`` when it could have been started (its source tarball or a build is
  present).
- ``slow``: takes about 10 s or more on a 2-core machine, **or needs the real cluster**: every ``slurm``,
  ``torque``, ``multinode`` and ``pbs`` test gets ``slow`` automatically (below), so ``nox -s fast`` (everything not slow) needs no cluster.
- ``mlflow_server(artifacts=..., backend=..., backend_store_uri=...)``: uses the ``mlflow_server`` fixture with
  these arguments; the server is booted when collection ends, while the other tests run.

Fixtures here: ``repo_root``, ``run_python``, ``db_group_app``, ``free_port``. The MLflow servers
(``mlflow_server``, ``mlflow_server_sqlite``, ``mlflow_server_postgres``, ``mlflow_server_factory``,
``postgres_database``, ``refusing_server``, ``down_uri``) come from ``tests/_servers.py``, registered below.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parent.parent

# Markers of tests that need a real cluster: each of them is also `slow`, and in its cluster's xdist group.
CLUSTER_MARKERS = ("slurm", "torque", "multinode", "pbs")
# marker -> xdist group: the tests of one cluster run one after the other on one worker (they time requeues and
# cancellations and share the cluster's CPUs); different clusters run side by side. First match wins.
CLUSTER_GROUPS = (("multinode", "multinode"), ("pbs", "pbs"), ("slurm", "slurm"), ("torque", "slurm"))


@functools.cache
def _slurm_problem() -> str | None:
    """Why the SLURM cluster cannot be used, or None when it can."""
    for tool in ("sbatch", "sinfo", "sacct", "scontrol"):
        if shutil.which(tool) is None:
            return f"{tool} not on PATH"
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"sinfo failed: {exc}"
    states = out.stdout.split()
    if out.returncode != 0 or not any(s.rstrip("*~#") in {"idle", "mixed", "allocated"} for s in states):
        return f"no usable SLURM node (sinfo rc={out.returncode}: {out.stdout.strip()} {out.stderr.strip()})"
    acct = subprocess.run(
        ["sacct", "-n", "-X", "-S", "now"], capture_output=True, text=True, check=False, timeout=20
    )
    if acct.returncode != 0:
        return f"sacct does not work (accounting down?): {acct.stderr.strip()}"
    return None


@functools.cache
def _torque_problem() -> str | None:
    for tool in ("qsub", "qstat", "qdel"):
        if shutil.which(tool) is None:
            return f"{tool} not on PATH (install slurm-wlm-torque)"
    return _slurm_problem()


def _require(problem: str | None, what: str) -> None:
    if problem is None:
        return
    msg = f"{what} unavailable: {problem}"
    if os.environ.get("CI"):
        pytest.fail(f"{msg} (CI is set: cluster tests must run, start it with tests/cluster/slurm_up.sh)")
    pytest.skip(msg)


# --- OpenPBS (tests/cluster/pbs_up.sh) ---
PBS_BIN = Path(os.environ.get("HF_PBS_PREFIX", "/opt/pbs")) / "bin"
PBS_TARBALL = Path(
    os.environ.get("HF_OPENPBS_TARBALL") or ROOT.parent / "shared/reference/openpbs/openpbs-src.tar.gz"
)


def _alive(pid: str | None) -> bool:
    """Whether process ``pid`` runs (a zombie, never reaped by its parent nox, does not)."""
    try:
        stat = Path(f"/proc/{int(pid or '')}/stat").read_text()
    except (OSError, ValueError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@functools.cache
def _pbs_problem() -> str | None:
    """Why the OpenPBS server cannot be used, or None; first waits for a bring-up ``nox -s tests`` started."""
    up_log = os.environ.get("HF_PBS_UP_LOG")  # nox builds/starts PBS in the background while tests run
    if up_log:
        rc_file = Path(f"{up_log}.rc")
        deadline = time.monotonic() + 1800
        while (
            not rc_file.exists() and time.monotonic() < deadline and _alive(os.environ.get("HF_PBS_UP_PID"))
        ):
            time.sleep(2)
        rc = (
            rc_file.read_text().strip()
            if rc_file.exists()
            else "ended without an exit status, or still running"
        )
        if rc != "0":
            tail = Path(up_log).read_text(errors="replace").splitlines()[-5:] if Path(up_log).exists() else []
            return f"pbs_up.sh failed ({rc}): " + " | ".join(tail)
    try:
        server = subprocess.run(
            [PBS_BIN / "qstat", "-B"], capture_output=True, text=True, timeout=30, check=False
        )
        nodes = subprocess.run(
            [PBS_BIN / "pbsnodes", "-a"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{PBS_BIN}/qstat: {exc}"
    if server.returncode != 0:
        return f"pbs_server does not answer (qstat -B: {server.stderr.strip()})"
    if not any(s in nodes.stdout for s in ("state = free", "state = job-busy")):
        return f"no usable PBS node (pbsnodes -a: {nodes.stdout.strip()} {nodes.stderr.strip()})"
    return None


def _require_pbs() -> None:
    problem = _pbs_problem()
    if problem is None:
        return
    msg = (
        f"OpenPBS server unavailable: {problem}. Start it with `bash tests/cluster/pbs_up.sh` (as root; builds "
        f"OpenPBS into {PBS_BIN.parent} once, from {PBS_TARBALL} or $HF_OPENPBS_TARBALL)"
    )
    if os.environ.get("CI") and (PBS_TARBALL.is_file() or (PBS_BIN / "qsub").exists()):
        pytest.fail(f"{msg} (CI is set and OpenPBS can be started here: PBS tests must run)")
    pytest.skip(msg)


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker and before xdist reads its groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every cluster test (``CLUSTER_MARKERS``) is also ``slow``: ``nox -s fast`` must run without a cluster.

    The tests of one cluster share one pytest-xdist group (``CLUSTER_GROUPS``), so that ``--dist loadgroup``
    runs them one after the other on one worker, while the other clusters' tests and the rest run beside them.
    """
    for item in items:
        if any(item.get_closest_marker(name) for name in CLUSTER_MARKERS):
            item.add_marker(pytest.mark.slow)
            group = next(g for marker, g in CLUSTER_GROUPS if item.get_closest_marker(marker))
            item.add_marker(pytest.mark.xdist_group(group))


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("slurm"):
        _require(_slurm_problem(), "SLURM cluster")
    if item.get_closest_marker("torque"):
        _require(_torque_problem(), "Torque commands over SLURM")
    if item.get_closest_marker("pbs"):
        _require_pbs()


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@pytest.fixture
def run_python(tmp_path: Path):
    """Run ``python ARGS...`` as a real subprocess in ``tmp_path``; returns the CompletedProcess."""

    def _run(
        *args: str,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "HYDRA_FULL_ERROR": "1", **(env or {})}
        proc = subprocess.run(
            [sys.executable, *args],
            cwd=cwd or tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            pytest.fail(
                f"python {' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    return _run


@pytest.fixture
def db_group_app(tmp_path: Path, run_python):
    """An app in ``tmp_path`` with a ``db`` config group (mysql, postgres) and ``lr: 0.5``.

    ``db_group_app(app_source)`` writes the config and ``app.py``; it returns ``sweep(launcher, *args)``, which
    runs ``app.py -m`` with that launcher, each job in ``${hydra.job.override_dirname}``, and returns the sweep
    directory and the text of every job's ``.hydra/config.yaml`` and ``overrides.yaml`` by relative path.
    """

    def make(app_source: str):
        (tmp_path / "conf" / "db").mkdir(parents=True, exist_ok=True)
        (tmp_path / "conf" / "config.yaml").write_text("defaults:\n  - db: mysql\n  - _self_\nlr: 0.5\n")
        (tmp_path / "conf" / "db" / "mysql.yaml").write_text("driver: mysql\nport: 3306\n")
        (tmp_path / "conf" / "db" / "postgres.yaml").write_text("driver: postgres\nport: 5432\n")
        (tmp_path / "app.py").write_text(app_source)

        def sweep(launcher: str, *args: str) -> tuple[Path, dict[str, str]]:
            out = tmp_path / launcher
            run_python(
                "app.py",
                "-m",
                f"hydra/launcher={launcher}",
                f"hydra.sweep.dir={out}",
                "hydra.sweep.subdir=${hydra.job.override_dirname}",
                *args,
            )
            files = {
                str(p.relative_to(out)): p.read_text()
                for p in sorted(out.glob("*/.hydra/*.yaml"))
                if p.name in {"config.yaml", "overrides.yaml"}
            }
            return out, files

        return sweep

    return make


# --- MLflow servers: the plugin tests/_servers.py -----------------------------------------------------------

SERVERS_PLUGIN = "hydraflow_test_servers"


def _load_helpers() -> None:
    """Load the helper modules of ``tests/`` (not a package) under their names in ``sys.modules``.

    Test modules and the conftest files below this one ``import hydraflow_test_servers`` (tests/_servers.py:
    MLflow servers, PostgreSQL) and ``import hydraflow_test_controller`` (tests/_controller.py: a Hydra app
    run as a subprocess with its scheduler commands counted). Done when this file is imported, which pytest
    does before any conftest file below it.
    """
    for name, filename in ((SERVERS_PLUGIN, "_servers.py"), ("hydraflow_test_controller", "_controller.py")):
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / filename)
            assert spec is not None
            assert spec.loader is not None
            module = sys.modules[name] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)


_load_helpers()


def pytest_configure(config: pytest.Config) -> None:
    """Register tests/_servers.py as the plugin ``hydraflow_test_servers`` (its fixtures serve every test)."""
    if config.pluginmanager.get_plugin(SERVERS_PLUGIN) is None:
        config.pluginmanager.register(sys.modules[SERVERS_PLUGIN], SERVERS_PLUGIN)


@pytest.fixture
def free_port() -> Callable[[], int]:
    """``free_port()`` returns a TCP port on 127.0.0.1 that nothing listens on (call it once per server)."""
    return sys.modules[SERVERS_PLUGIN].free_port  # type: ignore[no-any-return]
