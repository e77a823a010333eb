"""``hydraflow_slurm`` sweeps across the 3-node cluster: where each run ran, node loss, partition, the store.

Every sweep is a real controller subprocess (``app.py -m hydra/launcher=hydraflow_slurm``) whose jobs run on
node1..3 and write to one store that every node reaches: an ``mlflow server`` on the bridge address with a
PostgreSQL backend (or a sqlite file on the shared filesystem). The app writes a marker file when a job
attempt starts and ends (``<a>-<host>-<restart>-<pid>.start|end``, holding the run id) and, in its first
attempt, waits until the test releases it (a later attempt, while the test pauses it): so the test knows which
job runs where before it breaks a node, and decides which stale copy finishes and which is killed.

The store is checked by counting runs per fingerprint (``hydraflow.fingerprint`` tag): one each (nothing run
twice), every job's there and FINISHED (nothing lost). The node-loss timeline, as the controller's log shows it,
is printed (``-s`` or ``-rA``).
"""

from __future__ import annotations

import collections
import contextlib
import csv
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.multinode,
    pytest.mark.filterwarnings("ignore:Future Hydra versions will no longer change:UserWarning"),
]

ROOT = Path(__file__).resolve().parents[2]

APP = """
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow

import hydraflow


@dataclass
class Config:
    a: int = 0


@hydraflow.main(Config)
def app(run, cfg):
    marks = Path(os.environ["MARKS"])
    restart = os.environ.get("SLURM_RESTART_COUNT", "0")
    stem = f"{cfg.a}-{socket.gethostname()}-{restart}-{os.getpid()}"
    (marks / f"{stem}.start").write_text(run.info.run_id)
    if restart == "0":  # a first attempt waits until the test releases it
        deadline = time.monotonic() + 600
        while not any((marks / f"release-{x}").exists() for x in (cfg.a, "all")):
            if time.monotonic() > deadline:
                raise TimeoutError("never released")
            time.sleep(0.2)
    while restart != "0" and (marks / f"pause-{cfg.a}").exists():  # a later attempt waits while paused
        time.sleep(0.2)
    mlflow.log_metric("a", cfg.a)
    (marks / f"{stem}.end").write_text(run.info.run_id)
    return cfg.a * 10


if __name__ == "__main__":
    app()
"""

# the controller sees the cluster every 0.5-1 s: the timeline it logs is then SLURM's, not the poll backoff's
FAST = [
    "hydra.launcher.poll_interval_s=0.5",
    "hydra.launcher.max_poll_interval_s=1",
    "hydra.launcher.timeout_min=10",
    "hydra.launcher.progress=log",
]
NO_REQUEUE = "+hydra.launcher.additional_parameters={no_requeue: true}"
STALE_KILLED_S = 30  # a node back in service kills its stale job processes within ~1 s; allow for load


@dataclass(frozen=True)
class Attempt:
    """One attempt of a job, from its marker files."""

    a: int
    host: str
    restart: int
    pid: int
    run_id: str
    ended: bool


@dataclass
class Controller:
    """A sweep's controller process; its output lines are kept with the time each was read."""

    proc: subprocess.Popen[str]
    lines: list[tuple[float, str]] = field(default_factory=list)
    arrays: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))
            found = re.search(r"job array (\d+): jobs", line)
            if found:
                self.arrays.append(found.group(1))

    @property
    def output(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def first(self, pattern: str) -> float | None:
        """When the first line matching ``pattern`` was read (monotonic), or None."""
        regex = re.compile(pattern)
        return next((t for t, line in self.lines if regex.search(line)), None)

    def wait(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the sweep did not end within {timeout:.0f} s; its output:\n{self.output[-6000:]}")
        if self.reader is not None:
            self.reader.join(timeout=10)  # the last lines
        return code


class SweepLab:
    """One test's app, markers and sweeps on the multi-node cluster."""

    def __init__(self, mn: Any, tracking_uri: str, experiment: str) -> None:
        self.mn = mn
        self.uri = tracking_uri
        self.experiment = experiment
        self.marks = mn.workdir / "marks"
        self.marks.mkdir()
        self.app = mn.workdir / "app.py"
        self.app.write_text(APP)
        self.controllers: list[Controller] = []

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> Controller:
        cmd = [
            sys.executable,
            str(self.app),
            "-m",
            "hydra/launcher=hydraflow_slurm",
            f"hydra.job.name={self.experiment}",
            f"hydra.sweep.dir={self.mn.workdir / name}",
            *FAST,
            *args,
        ]
        full_env = {
            **self.mn.env,
            "MARKS": str(self.marks),
            "MLFLOW_TRACKING_URI": self.uri,
            "HYDRA_FULL_ERROR": "1",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        proc = subprocess.Popen(
            cmd,
            cwd=self.mn.workdir,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        controller = Controller(proc)
        controller.reader = threading.Thread(target=controller._read, daemon=True)
        controller.reader.start()
        self.controllers.append(controller)
        return controller

    def close(self) -> None:
        """Interrupt what still runs (the controller cancels its jobs), then cancel its arrays anyway."""
        for c in self.controllers:
            if c.proc.poll() is None:
                c.proc.send_signal(signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    c.proc.wait(timeout=30)
                if c.proc.poll() is None:
                    c.proc.kill()
                    c.proc.wait()
            if c.reader is not None:
                c.reader.join(timeout=10)
            if c.proc.stdout is not None:
                c.proc.stdout.close()
            self.mn.job_ids.extend(c.arrays)

    def release(self, *which: int | str) -> None:
        for a in which:
            (self.marks / f"release-{a}").touch()

    def attempts(self) -> list[Attempt]:
        out = []
        for path in self.marks.glob("*.start"):
            a, host, restart, pid = path.stem.split("-")
            ended = path.with_suffix(".end").exists()
            out.append(Attempt(int(a), host, int(restart), int(pid), path.read_text(), ended))
        return sorted(out, key=lambda x: (x.a, x.restart, x.host))

    def wait_started(self, jobs: set[int], timeout: float = 240) -> dict[int, str]:
        """Wait until every job in ``jobs`` has started its first attempt; returns job -> host."""

        def started() -> dict[int, str] | None:
            for c in self.controllers:
                if c.proc.poll() is not None:
                    pytest.fail(
                        f"a sweep ended (exit {c.proc.returncode}) before its jobs started:\n{c.output[-4000:]}"
                    )
            hosts = {x.a: x.host for x in self.attempts() if x.restart == 0 and x.a in jobs}
            return hosts if set(hosts) == jobs else None

        found = self.mn.wait_for(started, timeout, f"jobs {sorted(jobs)} to start")
        assert found is not None
        return found

    def lock_waiters(self, sweep: str) -> list[str]:
        """The lines of this sweep's job logs (scheduler stderr) that say they wait for a fingerprint lock."""
        return [
            line
            for log in (self.mn.workdir / sweep / ".submitit").glob("*/*_log.*")
            for line in log.read_text(errors="replace").splitlines()
            if "waiting for the lock" in line
        ]

    def store_runs(self) -> list[Any]:
        from mlflow.entities import ViewType
        from mlflow.tracking import MlflowClient

        client = MlflowClient(self.uri)
        exp = client.get_experiment_by_name(self.experiment)
        assert exp is not None, f"no experiment {self.experiment} in {self.uri}"
        return list(client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL, max_results=1000))

    def check_store(self, jobs: set[int], finished: set[int] | None = None) -> dict[int, Any]:
        """One run per fingerprint and per job (none lost, none twice); ``finished`` (default all) FINISHED."""
        runs = self.store_runs()
        per_fingerprint = collections.Counter(r.data.tags["hydraflow.fingerprint"] for r in runs)
        assert max(per_fingerprint.values()) == 1, f"duplicate runs: {per_fingerprint}"
        by_job = {int(r.data.params["a"]): r for r in runs}
        assert len(by_job) == len(runs)
        assert set(by_job) == jobs, f"runs for jobs {sorted(by_job)}, expected {sorted(jobs)}"
        finished = jobs if finished is None else finished
        statuses = {a: r.info.status for a, r in by_job.items()}
        assert {a for a, s in statuses.items() if s == "FINISHED"} == finished, statuses
        return by_job


@pytest.fixture
def lab(request: pytest.FixtureRequest, mn: Any, team_store: Any) -> Any:
    experiment = re.sub(r"\W+", "_", request.node.name)
    lab = SweepLab(mn, team_store.uri, experiment)
    yield lab
    lab.close()


class Timeline:
    """Events as the sweep saw them, in seconds after the fault."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.events: dict[str, float] = {}

    def add(self, event: str, when: float | None) -> None:
        if when is not None:
            self.events[event] = round(when - self.t0, 1)

    def __str__(self) -> str:
        return ", ".join(f"{e} +{t}s" for e, t in sorted(self.events.items(), key=lambda kv: kv[1]))


def _victims(hosts: dict[int, str], node: str) -> list[int]:
    return sorted(a for a, h in hosts.items() if h == node)


def _hold_other_nodes(mn: Any, victim: str) -> str:
    """Hold every node but ``victim`` with one exclusive job, so that the jobs started next all land on
    ``victim`` (2 CPUs: two one-CPU jobs); :func:`_free` lets requeued jobs run elsewhere afterwards."""
    others = [n for n in mn.nodes if n != victim]
    blocker: str = mn.sbatch(
        "-N", str(len(others)), "-x", victim, "--exclusive", "-o", "/dev/null", "--wrap", "sleep 900"
    )
    mn.wait_for(lambda: mn.job(blocker).get("JobState") == "RUNNING", 60, "the blocker job to run")
    return blocker


def _free(mn: Any, blocker: str) -> None:
    mn.run("scancel", blocker)
    mn.wait_for(
        lambda: mn.job(blocker).get("JobState") not in {"RUNNING", "COMPLETING"}, 30, "the blocker to end"
    )


def _stale_copies_gone(mn: Any, mn_nodes: Any, victim: str) -> None:
    mn.wait_for(
        lambda: mn_nodes.job_pids(victim) == [], STALE_KILLED_S, f"stale job processes on {victim} to die"
    )


# --- the store is seen from every node; each run says where it ran ------------------------------------------


@pytest.mark.parametrize("store", ["server-postgres", "sqlite-shared-fs"])
def test_sweep_spreads_over_the_nodes_and_runs_say_where(mn, team_store, store: str, run_python) -> None:
    """Three jobs of two CPUs on the three two-CPU nodes (one per node) write to one store; every run's tags name
    its host and SLURM job; ``hydraflow runs`` and the analysis API show the host."""
    uri = team_store.uri if store == "server-postgres" else f"sqlite:///{mn.workdir / 'mlflow.db'}"
    lab = SweepLab(mn, uri, f"spread_{store.replace('-', '_')}")
    try:
        jobs = set(range(3))
        t = time.monotonic()
        sweep = lab.start("sweep", "a=0,1,2", "hydra.launcher.cpus_per_task=2")
        hosts = lab.wait_started(jobs)
        lab.release("all")
        assert sweep.wait(240) == 0, sweep.output[-4000:]
        took = time.monotonic() - t
    finally:
        lab.close()
    print(f"\n{store}: 3 jobs on {sorted(set(hosts.values()))} in {took:.1f} s")
    assert set(hosts.values()) == set(mn.nodes), hosts
    runs = lab.check_store(jobs)
    (array,) = sweep.arrays
    accounted = mn.wait_for(
        lambda: (
            len(r := {x["JobID"]: x["NodeList"] for x in mn.sacct(array) if x["State"] == "COMPLETED"}) == 3
            and r
        ),
        30,
        "3 COMPLETED tasks in accounting",
    )
    for a, run in runs.items():
        tags = run.data.tags
        assert tags["hydraflow.host"] == hosts[a] == tags["hydraflow.hosts"]
        assert tags["hydraflow.slurm.job_id"] == f"{array}_{a}"  # job a is array task a
        assert tags["hydraflow.slurm.nodelist"] == hosts[a] == accounted[f"{array}_{a}"]
        assert tags["hydraflow.slurm.restarts"] == "0"
    assert "waiting for the lock" not in sweep.output

    # where each run ran, in the CLI table and in the analysis API
    csv_path = mn.workdir / "runs.csv"
    table = run_python(
        "-m",
        "hydraflow",
        "runs",
        lab.experiment,
        "--tracking-uri",
        uri,
        "--columns",
        "a,status,host",
        "--csv",
        str(csv_path),
        cwd=mn.workdir,
    ).stdout
    assert re.search(r"\ba\b.*\bstatus\b.*\bhost\b", table), table
    assert all(node in table for node in mn.nodes), table
    with csv_path.open() as f:
        rows = {int(row["a"]): row["host"] for row in csv.DictReader(f)}
    assert rows == hosts
    check = (
        "import sys; from hydraflow import Run, iter_run_dirs; "
        "runs = Run.load(iter_run_dirs(sys.argv[1], tracking_uri=sys.argv[2]), tracking_uri=sys.argv[2]); "
        "print(sorted(zip(runs.values('a'), runs.values('host'), runs.to_frame('a', 'host')['host'].to_list())))"
    )
    out = run_python("-c", check, lab.experiment, uri, cwd=mn.workdir).stdout
    assert out.strip() == str(sorted((a, h, h) for a, h in hosts.items()))


# --- node loss ------------------------------------------------------------------------------------------------


def test_slurmd_killed_requeued_jobs_finish_elsewhere_once(mn, mn_nodes, mlflow_server_factory) -> None:
    """node2's slurmd dies under two jobs whose processes keep running (SLURM no longer sees them). SLURM requeues
    both; each new copy, on another node, waits for the fingerprint lock its stale copy holds. One stale copy
    finishes its run (the new copy then skips it); the other is killed when node2's slurmd comes back (the new
    copy then resumes the same run). The sweep ends 2/2 FINISHED, exit 0, one run per job.

    The server proxies the artifacts (MLflow's default): no store path on the jobs' filesystem, so the jobs
    keep their fingerprint locks in the app's directory (shared by the nodes), not in each node's /tmp."""
    server = mlflow_server_factory("postgresql", host=mn.controller_ip)
    lab = SweepLab(mn, server.uri, "slurmd_killed")
    try:
        _slurmd_killed(mn, mn_nodes, lab)
    finally:
        lab.close()


def _slurmd_killed(mn: Any, mn_nodes: Any, lab: SweepLab) -> None:
    jobs = {0, 1}
    victim = "node2"
    blocker = _hold_other_nodes(mn, victim)
    sweep = lab.start("sweep", "a=0,1")
    hosts = lab.wait_started(jobs)
    assert set(hosts.values()) == {victim}, hosts
    kept, killed = _victims(hosts, victim)  # both one-CPU jobs on the two-CPU victim
    _free(mn, blocker)

    t0 = time.monotonic()
    mn_nodes.kill_slurmd(victim)
    # both requeued copies start elsewhere and wait for the locks held by their stale copies on node2
    waiting = mn.wait_for(lambda: len(w := lab.lock_waiters("sweep")) == 2 and w, 120, "two lock waiters")
    t_waiting = time.monotonic()
    assert all(f"held by {victim} pid" in text for text in waiting), waiting
    assert all(str(mn.workdir / ".hydraflow-locks") in text for text in waiting), (
        "locks on the shared fs",
        waiting,
    )
    assert mn_nodes.job_pids(victim), "the stale copies still run on the node SLURM gave up on"

    lab.release(kept)  # this stale copy finishes its run: its new copy must skip it
    done = mn.wait_for(
        lambda: next((x for x in lab.attempts() if x.a == kept and x.ended and x.host == victim), None),
        60,
        "the stale copy to end",
    )
    # its function returned; the run is closed (and the lock let go) only when its process is over: the node
    # coming back earlier would kill it in between, and the new copy would then resume the run, not skip it
    mn.wait_for(lambda: not Path(f"/proc/{done.pid}").exists(), 60, "the stale copy's process to exit")
    t_restart = time.monotonic()
    mn_nodes.start(victim)  # the node comes back: SLURM kills the other stale copy, its new copy resumes
    _stale_copies_gone(mn, mn_nodes, victim)
    assert sweep.wait(240) == 0, sweep.output[-6000:]
    t_end = time.monotonic()

    timeline = Timeline(t0)
    timeline.add(
        "controller: node failure / requeue seen", sweep.first(r"requeued by the scheduler|NODE_FAIL")
    )
    timeline.add("controller: running again", sweep.first("running again"))
    timeline.add("both new copies wait for their locks", t_waiting)
    timeline.add("slurmd restarted", t_restart)
    timeline.add("sweep done", t_end)
    print(f"\nslurmd killed, sweep timeline: {timeline}")

    runs = lab.check_store(jobs)
    attempts = lab.attempts()
    # the job whose stale copy finished: one attempt, on the victim; its new copy skipped (started nothing)
    assert [(x.host, x.ended) for x in attempts if x.a == kept] == [(victim, True)]
    assert runs[kept].data.tags["hydraflow.host"] == victim
    # the job whose stale copy was killed: resumed in the same run on another node
    stale, new = (x for x in attempts if x.a == killed)
    assert (stale.host, stale.restart, stale.ended) == (victim, 0, False)
    assert (new.restart, new.ended) == (1, True)
    assert new.host != victim
    assert stale.run_id == new.run_id == runs[killed].info.run_id
    assert runs[killed].data.tags["hydraflow.hosts"] == f"{victim},{new.host}"
    assert runs[killed].data.tags["hydraflow.slurm.restarts"] == "1"
    assert re.search(rf"#{killed} \(\d+_{killed}\): requeued by the scheduler", sweep.output)
    assert "FAILED" not in sweep.output


def test_node_crash_requeue_and_no_requeue(mn, mn_nodes, lab) -> None:
    """Every process of a node dies under two sweeps, one with SLURM's requeue (one job) and one asking for none
    (two jobs, one at a time). The first ends FINISHED (its lost job resumed elsewhere); the second reports its
    lost job FAILED with NODE_FAIL and the node's name, runs its other job elsewhere, exits 1, and a rerun of
    that sweep runs exactly the lost job, in the same run."""
    requeue, no_requeue = {0}, {10, 11}
    lost_r, lost_n = 0, 10
    victim = "node2"
    blocker = _hold_other_nodes(mn, victim)
    sweep_r = lab.start("requeue", "a=0")  # a single job: a plain SLURM job, not an array
    sweep_n = lab.start("no-requeue", "a=10,11", NO_REQUEUE, "hydra.launcher.array_parallelism=1")
    hosts = lab.wait_started({lost_r, lost_n})  # 11 waits for 10 (array throttle %1)
    assert hosts == {lost_r: victim, lost_n: victim}, hosts
    lab.release(11)  # it runs on another node once 10 is over
    _free(mn, blocker)

    t0 = time.monotonic()
    mn_nodes.crash(victim)
    assert sweep_n.wait(120) == 1, sweep_n.output[-6000:]
    t_failed = time.monotonic()
    assert sweep_r.wait(180) == 0, sweep_r.output[-6000:]
    t_end = time.monotonic()
    timeline = Timeline(t0)
    timeline.add("no-requeue sweep: NODE_FAIL seen", sweep_n.first("NODE_FAIL"))
    timeline.add("no-requeue sweep: FAILED reported", sweep_n.first(rf"#{lost_n - 10} FAILED"))
    timeline.add("no-requeue sweep: exit 1", t_failed)
    timeline.add("requeue sweep: requeue seen", sweep_r.first("requeued by the scheduler"))
    timeline.add("requeue sweep: running again", sweep_r.first("running again"))
    timeline.add("requeue sweep: done", t_end)
    print(f"\nnode crash, sweep timeline: {timeline}")

    failure = re.search(
        rf"#{lost_n - 10} FAILED: JobFailedError: job #{lost_n - 10} \(.*\), scheduler job \S+, ended in state (\S+) without a result \(on (\S+)\);",
        sweep_n.output,
    )
    assert failure is not None, sweep_n.output[-4000:]
    assert failure.groups() == ("NODE_FAIL", victim)
    assert f"node failure on {victim} (NODE_FAIL)" in sweep_n.output
    assert "FAILED" not in sweep_r.output
    runs = lab.check_store(requeue | no_requeue, finished=(requeue | no_requeue) - {lost_n})
    assert runs[lost_n].info.status == "RUNNING"  # its process died with the node: nobody closed the run
    stale, new = (x for x in lab.attempts() if x.a == lost_r)
    assert (stale.host, stale.ended, new.restart, new.ended) == (victim, False, 1, True)
    assert stale.run_id == new.run_id
    assert "waiting for the lock" not in "".join(lab.lock_waiters("requeue")), "a crashed copy holds no lock"

    # the node comes back; the no-requeue sweep run again finishes exactly what is missing
    mn_nodes.start(victim)
    before = lab.attempts()
    lab.release("all")
    rerun = lab.start("no-requeue-rerun", "a=10,11", NO_REQUEUE)
    assert rerun.wait(180) == 0, rerun.output[-4000:]
    new_attempts = [x for x in lab.attempts() if x not in before]
    assert [(x.a, x.ended, x.run_id) for x in new_attempts] == [(lost_n, True, runs[lost_n].info.run_id)]
    lab.check_store(requeue | no_requeue)


def test_node_crash_packed_task_reruns_only_its_unfinished_jobs(mn, mn_nodes, lab) -> None:
    """A packed task (two jobs, one at a time: ``jobs_per_task=2``, ``workers_per_task=1``) loses its node after
    its first job finished and while its second runs. SLURM requeues the task on another node, where the finished
    job is not run again and the unfinished one resumes its run. 2/2 FINISHED, exit 0, one run per job."""
    victim = "node2"
    blocker = _hold_other_nodes(mn, victim)
    sweep = lab.start(
        "packed", "a=0,1", "hydra.launcher.jobs_per_task=2", "hydra.launcher.workers_per_task=1"
    )
    assert lab.wait_started({0}) == {0: victim}
    lab.release(0)
    assert lab.wait_started({1}) == {1: victim}  # job 0 is over: the task's one worker runs job 1
    assert [(x.host, x.ended) for x in lab.attempts() if x.a == 0] == [(victim, True)]
    _free(mn, blocker)

    t0 = time.monotonic()
    mn_nodes.crash(victim)
    assert sweep.wait(180) == 0, sweep.output[-6000:]
    timeline = Timeline(t0)
    timeline.add("requeue seen", sweep.first("requeued by the scheduler"))
    timeline.add("running again", sweep.first("running again"))
    timeline.add("sweep done", time.monotonic())
    print(f"\npacked task, node crash, sweep timeline: {timeline}")

    runs = lab.check_store({0, 1})
    attempts = lab.attempts()
    assert [(x.host, x.restart) for x in attempts if x.a == 0] == [(victim, 0)], "the finished job ran again"
    stale, new = (x for x in attempts if x.a == 1)
    assert (stale.host, stale.restart, stale.ended) == (victim, 0, False)
    assert (new.restart, new.ended) == (1, True)
    assert new.host != victim
    assert stale.run_id == new.run_id == runs[1].info.run_id
    assert "FAILED" not in sweep.output, sweep.output[-4000:]


# --- partition ------------------------------------------------------------------------------------------------


def test_partition_stale_copies_cannot_make_a_second_run(mn, mn_nodes, lab) -> None:
    """node3's link goes down under two jobs. Behind the partition their copies keep running but cannot reach the
    MLflow server; SLURM requeues both elsewhere, where they wait for the locks (the shared filesystem still
    works). One stale copy is released: its MLflow calls fail (no route to host), its job fails and writes a
    FAILED result, which the controller must not take for the job's (the new copy then resumes the run and
    finishes it). The link comes back: SLURM kills the other stale copy, whose new copy resumes. 2/2 FINISHED."""
    jobs = {0, 1}
    # a partition longer than MLflow's patience, compressed: behind it a request on a kept-alive connection
    # hangs until its read timeout (120 s by default), then new connections fail ("no route to host" after
    # ~3 s) through 7 retries with backoff: many minutes. Here: 10 s, one retry after 1 s.
    quick = {
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    }
    victim = "node3"
    blocker = _hold_other_nodes(mn, victim)
    sweep = lab.start("sweep", "a=0,1", env=quick)
    hosts = lab.wait_started(jobs)
    assert set(hosts.values()) == {victim}, hosts
    failing, killed = _victims(hosts, victim)
    _free(mn, blocker)

    t0 = time.monotonic()
    mn_nodes.link_down(victim)
    mn.wait_for(lambda: len(lab.lock_waiters("sweep")) == 2, 150, "two lock waiters")
    t_waiting = time.monotonic()
    (lab.marks / f"pause-{failing}").touch()  # its new copy will wait once it has the lock
    lab.release(failing)  # behind the partition: its MLflow calls fail, the job writes a FAILED result
    held = rf"#{failing} \(\S+\): a failed result, but the job is RUNNING: waiting for the scheduler"
    mn.wait_for(lambda: re.search(held, sweep.output), 120, "the controller to hold the stale copy's failure")
    assert "FAILED" not in sweep.output
    (lab.marks / f"pause-{failing}").unlink()
    result = mn.wait_for(
        lambda: next((x for x in lab.attempts() if x.a == failing and x.restart == 1 and x.ended), None),
        120,
        "the new copy of the failing job to finish its run",
    )
    assert result.host != victim
    t_link = time.monotonic()
    mn_nodes.link_up(victim)
    _stale_copies_gone(mn, mn_nodes, victim)
    assert sweep.wait(240) == 0, sweep.output[-6000:]
    t_end = time.monotonic()
    timeline = Timeline(t0)
    timeline.add("controller: requeue seen", sweep.first("requeued by the scheduler"))
    timeline.add("controller: running again", sweep.first("running again"))
    timeline.add("both new copies wait for their locks", t_waiting)
    timeline.add("link up", t_link)
    timeline.add("sweep done", t_end)
    print(f"\npartition, sweep timeline: {timeline}")

    runs = lab.check_store(jobs)
    stale_fail = next(x for x in lab.attempts() if x.a == failing and x.restart == 0)
    assert (stale_fail.host, stale_fail.ended) == (victim, False)  # it failed at log_metric
    assert stale_fail.run_id == runs[failing].info.run_id
    job_logs = "".join(p.read_text(errors="replace") for p in (mn.workdir / "sweep").rglob("*_log.*"))
    assert "No route to host" in job_logs or "Max retries exceeded" in job_logs, (
        "the stale copy's MLflow error"
    )
    stale, new = (x for x in lab.attempts() if x.a == killed)
    assert (stale.host, stale.ended, new.restart, new.ended) == (victim, False, 1, True)
    assert stale.run_id == new.run_id == runs[killed].info.run_id
    assert "FAILED" not in sweep.output, sweep.output[-4000:]
