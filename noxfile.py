"""Developer sessions: ``tests`` (3.11 whole suite, 3.13 fast tier), ``fast``, ``demo``, ``lint``, ``bench``,
``compat``, ``docs``, ``fuzz``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

# pyenv keeps extra interpreters outside PATH unless they are activated: make them findable.
_extra = sorted(str(p) for p in (Path.home() / ".pyenv" / "versions").glob("3.*/bin"))
if _extra:
    os.environ["PATH"] = os.pathsep.join([*_extra, os.environ.get("PATH", "")])

PYTHONS = ["3.11", "3.13"]

# Tests start hundreds of Python subprocesses that import MLflow, Hydra and submitit: install with compiled
# bytecode (uv does not compile by default) and let the interpreter keep it, or each subprocess recompiles
# MLflow from source (measured: 12.6 s of a 23 s job under load).
os.environ["UV_COMPILE_BYTECODE"] = "1"
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def _can_run_cluster() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "geteuid") and os.geteuid() == 0


def _slurm_up(session: nox.Session) -> None:
    """Bring the single-node SLURM cluster up (idempotent); only possible as root on Linux."""
    if os.environ.get("HYDRAFLOW_NO_CLUSTER"):
        session.log("HYDRAFLOW_NO_CLUSTER set: SLURM not started (cluster tests skip, or fail under CI)")
        return
    if not _can_run_cluster():
        session.log("not root on Linux: not starting SLURM (cluster tests will skip, or fail under CI)")
        return
    session.run("bash", str(ROOT / "tests" / "cluster" / "slurm_up.sh"), external=True)


def _timed_script(session: nox.Session, what: str, script: str) -> None:
    """Run an (idempotent) tests/cluster bring-up script, unless clusters are off or we are not root."""
    if os.environ.get("HYDRAFLOW_NO_CLUSTER"):
        session.log(f"HYDRAFLOW_NO_CLUSTER set: {what} not started (its tests skip, or fail under CI)")
        return
    if not _can_run_cluster():
        session.log(f"not root on Linux: not starting {what} (its tests skip, or fail under CI)")
        return
    t0 = time.monotonic()
    session.run("bash", str(ROOT / "tests" / "cluster" / script), external=True)
    session.log(f"{what} ready in {time.monotonic() - t0:.1f} s")


def _multinode_up(session: nox.Session) -> None:
    """The 3-node SLURM cluster in network namespaces (tests/multinode); needs _slurm_up's MariaDB first."""
    _timed_script(session, "multi-node SLURM cluster", "slurm_mn_up.sh")


def _postgres_up(session: nox.Session) -> None:
    """PostgreSQL on 127.0.0.1:5433 for MLflow servers with a PostgreSQL backend (tests/_servers.py)."""
    _timed_script(session, "PostgreSQL", "postgres_up.sh")


def _pbs_up(session: nox.Session) -> dict[str, str]:
    """Start tests/cluster/pbs_up.sh in the background; the environment that tells pytest to wait for it.

    The first bring-up on a machine builds OpenPBS (~4.5 min on 2 cores, niced) while the other tests run;
    later ones take ~3-20 s. The PBS tests wait for it (tests/conftest.py, ``HF_PBS_UP_LOG``) and run last.
    """
    script = ROOT / "tests" / "cluster" / "pbs_up.sh"
    tarball = Path(
        os.environ.get("HF_OPENPBS_TARBALL") or ROOT.parent / "shared/reference/openpbs/openpbs-src.tar.gz"
    )
    built = Path(os.environ.get("HF_PBS_PREFIX", "/opt/pbs"), "sbin", "pbs_server.bin").exists()
    if os.environ.get("HYDRAFLOW_NO_CLUSTER") or not _can_run_cluster():
        session.log("not starting OpenPBS (HYDRAFLOW_NO_CLUSTER set, or not root on Linux): PBS tests skip")
        return {}
    if not tarball.is_file() and not built:
        session.log(f"no OpenPBS source at {tarball} and no build: PBS tests skip (set HF_OPENPBS_TARBALL)")
        return {}
    log = Path(session.create_tmp()) / "pbs_up.log"
    rc_file = Path(f"{log}.rc")
    rc_file.unlink(missing_ok=True)
    # detached: survives this session; writes its exit status next to its log when done
    proc = subprocess.Popen(
        ["bash", "-c", 'bash "$0" >"$1" 2>&1; echo $? >"$1.rc"', str(script), str(log)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    session.log(f"OpenPBS bring-up started in the background (log: {log})")
    return {"HF_PBS_UP_LOG": str(log), "HF_PBS_UP_PID": str(proc.pid)}


#: The Python that runs the whole suite, clusters included; the others run the fast tier (``-m "not slow"``).
FULL_PYTHON = "3.11"


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole suite on 3.11 (real MLflow stores, SLURM clusters, OpenPBS, servers); the fast tier on 3.13.

    The cluster tests exercise schedulers and subprocesses, not the interpreter: running them on every Python
    would double CI time for little. ``HYDRAFLOW_FULL_SUITE=1`` runs the whole suite on every Python (before
    a release); extra arguments go to pytest.
    """
    session.install(".[test]")
    env = {"PYTHONHASHSEED": "0"}
    full = session.python == FULL_PYTHON or bool(os.environ.get("HYDRAFLOW_FULL_SUITE"))
    if not full:
        session.run("pytest", "-m", "not slow", *(session.posargs or ["-q", "-n", "3"]), env=env)
        return
    _slurm_up(session)
    _multinode_up(session)
    _postgres_up(session)
    pbs_env = _pbs_up(session)  # after the other bring-ups (their apt-get), in the background of the tests
    # 4 workers on 2 cores: most cluster tests wait on a scheduler; each cluster's tests stay on one worker
    # (tests/conftest.py CLUSTER_GROUPS), the three clusters and the other tests run side by side
    args = session.posargs or ["-q", "-n", "4", "--dist", "loadgroup", "--durations=30"]
    session.run("pytest", *args, env={**env, **pbs_env})


@nox.session(python="3.11")
def fast(session: nox.Session) -> None:
    """Everything not marked ``slow`` (no cluster needed, doctests included): under 3 minutes on 2 cores."""
    session.install(".[test]")
    session.run("pytest", "-m", "not slow", *(session.posargs or ["-q"]), env={"PYTHONHASHSEED": "0"})


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """Run the example sweep end to end (local launcher, sqlite MLflow store)."""
    session.install(".[demo]")
    workdir = ROOT / "examples" / "demo"
    session.chdir(str(workdir))
    # --fresh: start from an empty MLflow store each time (other arguments go to run_demo.py instead)
    session.run("python", "run_demo.py", *(session.posargs or ["--fresh"]))


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Ruff (lint + format check), mypy and the import contracts (``[tool.importlinter]`` in pyproject)."""
    session.install(".[lint,test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("lint-imports")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Side-by-side benchmarks against the anchors; prints tables with ratios."""
    session.install(".[test]")
    names = session.posargs or sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py"))
    for name in names:
        session.run("python", str(ROOT / "benchmarks" / f"{Path(name).stem}.py"))


@nox.session(python="3.13")
def compat(session: nox.Session) -> None:
    """HydraFlow 0.23's ``tests/core`` run unchanged against hydraflow (``benchmarks/hydraflow_suite.py``).

    ``nox -s compat -- --source PATH`` (or ``HF023_SRC=PATH``): PATH is a HydraFlow 0.23 source tree.
    """
    session.install(".[test]", "pytest-mock")
    session.run("python", str(ROOT / "benchmarks" / "hydraflow_suite.py"), *session.posargs)


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the documentation site in strict mode (broken links fail)."""
    session.install(".[docs]")
    site = ROOT / "site"
    if site.exists():
        shutil.rmtree(site)
    session.run("mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"))


@nox.session(python="3.11")
def fuzz(session: nox.Session) -> None:
    """Fuzz the sweep grammar: the property tests of tests/sweep/test_fuzz.py with many more examples.

    ``nox -s fuzz`` runs 1,500 examples per property (5 to 12 minutes on 2 cores); ``nox -s fuzz -- N`` runs
    N. Every call must end within 10 s with a valid expansion or a SweepSyntaxError with a caret.
    """
    session.install(".[test]")
    examples = session.posargs[0] if session.posargs else "1500"
    session.run(
        "pytest",
        "tests/sweep/test_fuzz.py",
        "-q",
        "-p",
        "no:cacheprovider",
        "--hypothesis-show-statistics",
        env={"HYDRAFLOW_FUZZ_EXAMPLES": examples},
    )
