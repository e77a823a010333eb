"""The multi-node test cluster itself: jobs spread over the nodes, node loss, partition.

These prove the fixtures work and measure what SLURM does when a node is lost (the timeline is printed: run
with ``-rA`` or ``-s`` to see it). Each node-loss test takes 30-60 s.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.multinode

LONG = "300"  # seconds a victim job would run: the tests cancel it long before


def test_array_spreads_over_the_nodes(mn) -> None:
    job = mn.sbatch(
        "--array=0-5",
        "--exclusive",  # one task per node at a time: 6 tasks must use all 3 nodes
        "-o",
        "task-%a.out",
        "--wrap",
        'echo "$(hostname) $SLURMD_NODENAME $SLURM_ARRAY_TASK_ID"; sleep 1',
    )
    mn.wait_for(lambda: not mn.run("squeue", "-h", "-j", job).strip(), 90, f"array {job} to finish")
    seen = {}
    for i in range(6):
        host, node, task = (mn.workdir / f"task-{i}.out").read_text().split()
        assert host == node, "each slurmd runs in its own UTS namespace: hostname == SLURMD_NODENAME"
        seen[int(task)] = host
    assert set(seen) == set(range(6))
    assert set(seen.values()) == set(mn.nodes)
    # accounting lags the queue by a moment
    rows = mn.wait_for(
        lambda: len(r := {x["JobID"]: x for x in mn.sacct(job) if x["State"] == "COMPLETED"}) == 6 and r,
        30,
        "6 COMPLETED accounting records",
    )
    assert {rows[f"{job}_{i}"]["NodeList"] for i in range(6)} == set(mn.nodes)


def _two_jobs_on(mn, victim: str, *, no_requeue_job: bool = True) -> tuple[str, str | None]:
    """Start A (--requeue, unpinned) and B (--no-requeue, pinned) on ``victim``; every other node is held by a
    blocker until both run, so that A lands on the victim and can later run on another node."""
    others = [n for n in mn.nodes if n != victim]
    blocker = mn.sbatch(
        "-N", str(len(others)), "-x", victim, "--exclusive", "-o", "/dev/null", "--wrap", "sleep 300"
    )
    mn.wait_for(lambda: mn.job(blocker).get("JobState") == "RUNNING", 60, "the blocker job")
    script = 'echo "$SLURM_RESTART_COUNT $(hostname)"; sleep ' + LONG
    a = mn.sbatch(
        "--requeue",
        "-o",
        "A.out",
        "--open-mode=append",
        "--wrap",
        "export SLURM_RESTART_COUNT=${SLURM_RESTART_COUNT:-0}; " + script,
    )
    b = None
    if no_requeue_job:
        b = mn.sbatch("--no-requeue", "-w", victim, "-o", "B.out", "--wrap", script)
    for job in filter(None, (a, b)):
        mn.wait_for(
            lambda job=job: (
                mn.job(job).get("JobState") == "RUNNING" and mn.job(job).get("NodeList") == victim
            ),
            60,
            f"job {job} running on {victim}",
        )
    mn.run("scancel", blocker)
    mn.wait_for(
        lambda: mn.job(blocker).get("JobState") in {None, "CANCELLED", "COMPLETED"}, 30, "blocker gone"
    )
    mn.wait_for(
        lambda: (mn.workdir / "A.out").exists() and (mn.workdir / "A.out").read_text(), 30, "A's output"
    )
    return a, b


class Timeline:
    """First time (s after the fault) each event was seen."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.events: dict[str, float] = {}

    def see(self, event: str, happened: bool) -> None:
        if happened and event not in self.events:
            self.events[event] = round(time.monotonic() - self.t0, 1)

    def __str__(self) -> str:
        return ", ".join(f"{e} +{t}s" for e, t in sorted(self.events.items(), key=lambda kv: kv[1]))


def _watch(mn, victim: str, a: str, b: str | None, timeline: Timeline, *, timeout: float) -> None:
    """Poll node and job states until A runs again on another node (and B, if any, has ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        node = mn.node_state(victim)
        timeline.see("node NOT_RESPONDING", "NOT_RESPONDING" in node)
        timeline.see("node DOWN", node.startswith("DOWN"))
        ja = mn.job(a)
        requeued = int(ja.get("Restarts", "0")) >= 1
        timeline.see("A requeued", requeued)
        timeline.see(
            "A running elsewhere",
            requeued and ja.get("JobState") == "RUNNING" and ja.get("NodeList") != victim,
        )
        b_done = True
        if b is not None:
            state = mn.job(b).get("JobState")
            timeline.see(f"B {state}", state not in {None, "RUNNING"})
            b_done = state not in {None, "RUNNING"}
        if "A running elsewhere" in timeline.events and b_done:
            return
        time.sleep(0.25)
    pytest.fail(f"after {timeout:.0f} s: {timeline} (node {mn.node_state(victim)}, A {mn.job(a)})")


@pytest.mark.parametrize("fault", ["kill_slurmd", "crash"])
def test_node_loss(mn, mn_nodes, fault: str) -> None:
    """A node's slurmd (or every process of the node) dies under two jobs: the --requeue one runs again on another
    node, the --no-requeue one ends NODE_FAIL; the node comes back into service when its slurmd restarts."""
    victim = "node2"
    a, b = _two_jobs_on(mn, victim)
    assert b is not None
    orphans_before = mn_nodes.job_pids(victim)
    assert orphans_before, "the jobs' processes run in the victim's namespace"

    timeline = Timeline()
    getattr(mn_nodes, fault)(victim)
    _watch(mn, victim, a, b, timeline, timeout=120)
    print(f"\nnode loss ({fault}) timeline: {timeline}")

    assert "node DOWN" in timeline.events
    assert mn.job(b)["JobState"] == "NODE_FAIL"
    _assert_order(timeline)
    final_b = mn.wait_for(
        lambda: [r for r in mn.sacct(b) if r["State"] != "RUNNING"], 30, "B's accounting record"
    )
    assert [(r["State"], r["NodeList"]) for r in final_b] == [("NODE_FAIL", victim)]
    runs = mn.wait_for(lambda: _lines(mn.workdir / "A.out", 2), 30, "A's second run to print")
    assert runs[0] == f"0 {victim}"
    restart, host = runs[1].split()
    assert restart == "1"
    assert host in set(mn.nodes) - {victim}
    history = mn.wait_for(lambda: _states(mn, a, 2), 30, "A's two accounting records")
    assert ("NODE_FAIL", victim) in history
    assert ("RUNNING", host) in history

    survivors = mn_nodes.job_pids(victim)
    if fault == "kill_slurmd":  # the jobs' processes outlive a dead slurmd...
        assert survivors, "a dead slurmd leaves its jobs' processes running"
    else:
        assert survivors == []
    t = time.monotonic()
    mn_nodes.start(victim, wait=60)
    back = time.monotonic() - t
    # ... until the node's new slurmd registers and slurmctld has the stale jobs killed
    mn.wait_for(lambda: mn_nodes.job_pids(victim) == [], 30, f"stale job processes on {victim} to be killed")
    print(
        f"{victim} back in service {back:.1f} s after its slurmd was started; stale processes gone "
        f"{time.monotonic() - t:.1f} s after"
    )


def test_partition(mn, mn_nodes) -> None:
    """A node's link goes down under a --requeue job: the job runs again elsewhere while the first copy keeps
    running behind the partition; when the link is back the node returns and the stale copy is killed."""
    victim = "node3"
    a, _ = _two_jobs_on(mn, victim, no_requeue_job=False)
    timeline = Timeline()
    mn_nodes.link_down(victim)
    _watch(mn, victim, a, None, timeline, timeout=150)
    print(f"\npartition timeline: {timeline}")
    _assert_order(timeline)
    assert mn_nodes.job_pids(victim), "behind the partition, the first copy of A still runs"
    runs = mn.wait_for(lambda: _lines(mn.workdir / "A.out", 2), 30, "A's second run to print")
    assert runs[1].split()[1] != victim

    t = time.monotonic()
    mn_nodes.link_up(victim)
    mn.wait_for(lambda: mn_nodes.job_pids(victim) == [], 60, f"the stale copy of A on {victim} to be killed")
    killed = time.monotonic() - t
    mn.wait_for(
        lambda: mn.node_state(victim) in {"IDLE", "MIXED", "ALLOCATED"}, 60, f"{victim} back in service"
    )
    print(
        f"link up: stale copy killed after {killed:.1f} s, {victim} back in service after {time.monotonic() - t:.1f} s"
    )
    assert len(_lines(mn.workdir / "A.out", 2) or []) == 2, "A ran exactly twice"


def _assert_order(timeline: Timeline) -> None:
    """Not responding first; DOWN and the requeue are one step of slurmctld (polled, they may be seen in either
    order within a poll interval); then the job runs again."""
    ev = timeline.events
    assert ev["node NOT_RESPONDING"] < ev["node DOWN"]
    assert ev["node NOT_RESPONDING"] < ev["A requeued"] < ev["A running elsewhere"]
    assert abs(ev["node DOWN"] - ev["A requeued"]) < 1.5


def _lines(path: Path, n: int) -> list[str] | None:
    lines = path.read_text().splitlines() if path.exists() else []
    return lines if len(lines) >= n else None


def _states(mn, job: str, n: int) -> list[tuple[str, str]] | None:
    rows = [(r["State"], r["NodeList"]) for r in mn.sacct(job, duplicates=True)]
    return rows if len(rows) >= n else None


def test_jobs_on_every_node_reach_a_server_on_the_bridge(mn, team_store) -> None:
    """Each node has its own loopback: a server for the jobs listens on the controller's bridge address (the
    session's team store: no server start of its own)."""
    server = team_store
    probe = (
        "import socket, sys, urllib.request; "
        "r = urllib.request.urlopen(sys.argv[1] + '/health', timeout=10); "
        "print(socket.gethostname(), r.status)"
    )
    job = mn.sbatch(
        "--array=0-2", "--exclusive", "-o", "probe-%a.out", "--wrap", f'python3 -c "{probe}" {server.uri}'
    )
    mn.wait_for(lambda: not mn.run("squeue", "-h", "-j", job).strip(), 90, f"array {job} to finish")
    seen = {}
    for i in range(3):
        host, status = (mn.workdir / f"probe-{i}.out").read_text().split()
        seen[host] = status
    assert seen == dict.fromkeys(mn.nodes, "200")
