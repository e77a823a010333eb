"""Fixtures for tests on the 3-node SLURM cluster of ``tests/cluster/slurm_mn_up.sh``.

The cluster: slurmctld on the bridge address 10.204.0.1 (hostname ``ctl``), one slurmd per network + UTS
namespace (``node1..node3`` = 10.204.0.11..13), a filesystem shared by all nodes (any tmp dir works as a job
folder), its own slurmdbd (so ``sacct`` and submitit's polling work). Clients need
``SLURM_CONF=/etc/slurm-mn/slurm.conf``: run them with ``mn.env``. A server the jobs must reach (e.g.
``mlflow server``) has to listen on ``mn.controller_ip``, not on 127.0.0.1 (each node has its own loopback).

Fixtures:
- ``multinode_cluster`` (session): the cluster, checked usable once; skips the test (FAILS it when ``CI`` is
  set) with a message telling how to start it.
- ``mn`` (function): the cluster plus this test's own folder (``mn.workdir``); ``mn.sbatch(...)`` submits from
  it and the job is cancelled at teardown if still alive.
- ``mn_nodes`` (function): node control (kill a slurmd, crash a node, start it again, take its link down/up).
  Holds a machine-wide lock while the test runs (two test processes must not break nodes under each other)
  and restores every node (link up, slurmd running, back in service) after the test.
- ``team_store`` (session): one ``mlflow server`` on the bridge address with a PostgreSQL backend and its
  artifacts on the shared filesystem (clients write them directly); tests use experiment names of their own.

Tests using any of these are marked ``multinode`` automatically.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hydraflow_test_controller import wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_DIR = ROOT / "tests" / "cluster"
MN_CONF = "/etc/slurm-mn/slurm.conf"
MN_RUN = Path("/run/slurm-mn")
NODE_SCRIPT = CLUSTER_DIR / "slurm_mn_node.sh"
HOW_TO_START = "start it with `sudo bash tests/cluster/slurm_mn_up.sh` (nox -s tests does it as root)"
_FIXTURES = {"multinode_cluster", "mn", "mn_nodes"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.multinode)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("multinode"):
        _require_cluster()


@dataclass
class MultiNodeCluster:
    """The running multi-node cluster, as the tests see it."""

    nodes: list[str]
    controller_ip: str = "10.204.0.1"
    conf: str = MN_CONF
    env: dict[str, str] = field(default_factory=dict)

    wait_for = staticmethod(wait_for)

    def node_ip(self, node: str) -> str:
        return f"10.204.0.{10 + int(node.removeprefix('node'))}"

    def run(self, *cmd: str, cwd: Path | None = None, check: bool = True) -> str:
        """Run a SLURM client command against this cluster; returns its stdout."""
        proc = subprocess.run(
            cmd, env=self.env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
        )
        if check and proc.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    def job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job`` as a dict (JobState, NodeList, Restarts, Reason, ...); {} once it is gone."""
        out = self.run("scontrol", "-o", "show", "job", job_id, check=False)
        return _key_values(out.splitlines()[0]) if out.strip() else {}

    def node_state(self, node: str) -> str:
        """slurmctld's state of a node: IDLE, MIXED, DOWN+NOT_RESPONDING, ..."""
        return _key_values(self.run("scontrol", "-o", "show", "node", node)).get("State", "")

    def sacct(self, job_id: str, *, duplicates: bool = False) -> list[dict[str, str]]:
        """Accounting records of a job (with ``duplicates``, also the earlier runs of a requeued job)."""
        fields = ["JobID", "State", "NodeList", "ExitCode"]
        cmd = ["sacct", "-X", "-n", "-P", "-o", ",".join(fields), "-j", job_id]
        if duplicates:
            cmd.append("-D")
        rows = [line.split("|") for line in self.run(*cmd).splitlines() if line]
        return [dict(zip(fields, row, strict=True)) for row in rows]


def _key_values(line: str) -> dict[str, str]:
    pairs = (word.split("=", 1) for word in line.split() if "=" in word)
    return dict(pairs)  # type: ignore[arg-type]


def _cluster_problem(env: dict[str, str]) -> tuple[list[str], str | None]:  # noqa: PLR0911
    if not Path(MN_CONF).exists():
        return [], f"{MN_CONF} does not exist"
    for tool in ("sbatch", "sinfo", "scontrol", "sacct", "ip"):
        if shutil.which(tool) is None:
            return [], f"{tool} not on PATH"
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%N %T"],
            env=env,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], f"sinfo failed: {exc}"
    if out.returncode != 0:
        return [], f"sinfo rc={out.returncode}: {out.stderr.strip()}"
    nodes = sorted({line.split()[0] for line in out.stdout.splitlines() if line.strip()})
    if len(nodes) < 3:
        return nodes, f"3 nodes needed, the cluster has {nodes}"
    acct = subprocess.run(
        ["sacct", "-n", "-X", "-S", "now"], env=env, capture_output=True, text=True, timeout=20, check=False
    )
    if acct.returncode != 0:
        return nodes, f"sacct does not work (HF_MN_ACCOUNTING=0 or slurmdbd down?): {acct.stderr.strip()}"
    if os.geteuid() != 0:
        return nodes, "node control needs root (network namespaces, SIGKILL of slurmd)"
    return nodes, None


@functools.cache
def _probe() -> tuple[MultiNodeCluster | None, str | None]:
    env = {**os.environ, "SLURM_CONF": MN_CONF}
    nodes, problem = _cluster_problem(env)
    if problem is not None:
        return None, problem
    # nodes left broken by an interrupted earlier run come back before the first test
    restore = subprocess.run(
        ["bash", str(NODE_SCRIPT), "restore", "60"], capture_output=True, text=True, timeout=90, check=False
    )
    if restore.returncode != 0:
        return None, f"nodes could not be restored: {restore.stderr.strip()}"
    return MultiNodeCluster(nodes=nodes, env=env), None


def _require_cluster() -> MultiNodeCluster:
    cluster, problem = _probe()
    if cluster is None:
        msg = f"multi-node SLURM cluster unavailable: {problem}; {HOW_TO_START}"
        if os.environ.get("CI"):
            pytest.fail(f"{msg} (CI is set: multinode tests must run)")
        pytest.skip(msg)
    return cluster


@pytest.fixture(scope="session")
def multinode_cluster() -> MultiNodeCluster:
    return _require_cluster()


@dataclass
class MultiNodeTest:
    """One test's view of the cluster: its own folder, and the jobs it submitted (cancelled at teardown)."""

    cluster: MultiNodeCluster
    workdir: Path
    job_ids: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cluster, name)

    def sbatch(self, *args: str) -> str:
        """``sbatch --parsable ARGS`` from ``workdir``; returns the job id."""
        job_id = self.cluster.run("sbatch", "--parsable", *args, cwd=self.workdir).strip().split(";")[0]
        self.job_ids.append(job_id)
        return job_id


@pytest.fixture
def mn(multinode_cluster: MultiNodeCluster, tmp_path: Path) -> Iterator[MultiNodeTest]:
    workdir = tmp_path / "mn"
    workdir.mkdir()
    test = MultiNodeTest(multinode_cluster, workdir)
    yield test
    if test.job_ids:
        multinode_cluster.run("scancel", *test.job_ids, check=False)


@dataclass
class NodeControl:
    """Break and mend nodes through tests/cluster/slurm_mn_node.sh (every call logs what it did)."""

    log: list[str] = field(default_factory=list)

    def _do(self, *args: str, timeout: float = 30) -> str:
        proc = subprocess.run(
            ["bash", str(NODE_SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        self.log.append(
            f"{time.strftime('%T')} {' '.join(args)}: {proc.stdout.strip()} {proc.stderr.strip()}"
        )
        if proc.returncode != 0:
            pytest.fail(f"slurm_mn_node.sh {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    def kill_slurmd(self, node: str) -> None:
        """SIGKILL the node's slurmd only; its jobs' processes keep running."""
        self._do("kill-slurmd", node)

    def crash(self, node: str) -> None:
        """SIGKILL every process in the node's network namespace."""
        self._do("crash", node)

    def start(self, node: str, wait: float | None = 60) -> None:
        """Start the node's slurmd; with ``wait``, until slurmctld has the node back in service."""
        args = ["start", node] if wait is None else ["start", node, str(int(wait))]
        self._do(*args, timeout=(wait or 0) + 30)

    def link_down(self, node: str) -> None:
        self._do("link-down", node)

    def link_up(self, node: str) -> None:
        self._do("link-up", node)

    def pids(self, node: str) -> list[int]:
        """Processes in the node's network namespace (slurmd, slurmstepd, jobs)."""
        return [int(p) for p in self._do("pids", node).split()]

    def job_pids(self, node: str) -> list[int]:
        """Processes in the node's namespace other than its slurmd."""
        return [p for p in self.pids(node) if _comm(p) not in {"slurmd", ""}]

    def restore(self, wait: float = 90) -> None:
        """Every node: link up, slurmd running, back in service."""
        self._do("restore", str(int(wait)), timeout=wait + 30)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@contextlib.contextmanager
def _disruption_lock(timeout: float = 900) -> Iterator[None]:
    """Machine-wide: one test at a time may break nodes (other pytest processes wait here)."""
    with (MN_RUN / "disrupt.lock").open("a") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail("another test process held the multi-node disruption lock for 15 min")
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture
def mn_nodes(mn: MultiNodeTest) -> Iterator[NodeControl]:
    with _disruption_lock():
        control = NodeControl()
        try:
            yield control
        finally:
            # the test's jobs go first: a node coming back must not find them still queued for it
            if mn.job_ids:
                mn.cluster.run("scancel", *mn.job_ids, check=False)
            control.restore()


@pytest.fixture(scope="session")
def team_store(
    tmp_path_factory: pytest.TempPathFactory, multinode_cluster: MultiNodeCluster
) -> Iterator[Any]:
    """One ``mlflow server`` on the bridge address with a PostgreSQL backend, shared by the session's tests.

    Its artifact root is a directory of the shared filesystem that clients write to directly
    (``--no-serve-artifacts``), as hydraflow's analysis reads run configs from local files.
    """
    servers = sys.modules["hydraflow_test_servers"]
    servers.require_postgres()
    database = servers.create_database()
    workdir = tmp_path_factory.mktemp("mn-server")
    try:
        server = servers.start_mlflow_server(
            workdir,
            servers.pg_uri(database),
            host=multinode_cluster.controller_ip,
            extra_args=("--no-serve-artifacts", "--default-artifact-root", str(workdir / "artifacts")),
            workers=2,
        )
    except BaseException:
        servers.drop_database(database)
        raise
    yield server
    server.stop()
    servers.drop_database(database)
