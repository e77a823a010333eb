"""Packed array tasks on the real single-node SLURM cluster (tests/cluster/slurm_up.sh: the packing node, 8 CPUs
advertised on the machine's cores, 4 fake GPUs as GRES, task/affinity).

What each job got is recorded by the job itself (``conftest.APP``): its affinity mask, its GPU variables, its
task, its restart count. Controllers are real subprocesses; ``sbatch`` calls are counted with PATH wrappers.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sqlite3
import subprocess
import time
from collections import Counter

import pytest

from .conftest import FAST, Packed, overlapping

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.filterwarnings("ignore:Future Hydra versions will no longer change:UserWarning"),
]

SLURM = "hydraflow_slurm"


def _task_cpus(logs: str) -> dict[str, list[int]]:
    """Each packed task's affinity mask, from its log line ``task ID runs N of its M jobs, W at a time, on CPUs``."""
    out = {}
    for task, cpus in re.findall(
        r"task (\S+) runs \d+ of its \d+ jobs, \d+ at a time, on CPUs ([\d,]+)", logs
    ):
        out[task] = [int(c) for c in cpus.split(",")]
    return out


def _gpu_node() -> int:
    node = subprocess.run(
        ["scontrol", "-o", "show", "node", "localhost"], capture_output=True, text=True, check=True
    ).stdout
    gres = dict(w.split("=", 1) for w in node.split() if "=" in w).get("Gres", "(null)")
    return int(gres.split(":")[-1].split("(")[0]) if gres.startswith("gpu:") else 0


def test_200_jobs_in_4_tasks_make_200_runs_and_a_rerun_submits_nothing(tracked: Packed) -> None:
    args = [*FAST, "hydra.launcher.jobs_per_task=50", "hydra.launcher.cpus_per_task=2", "a=range(200)"]
    proc = tracked.run(SLURM, *args, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert tracked.count("sbatch") == 1
    (script,) = tracked.scripts()
    assert "#SBATCH --array=0-3\n" in script  # 4 array tasks of 50 jobs
    assert "submitting 200 jobs in 4 tasks of up to 50 as 1 job array" in out
    assert "hydraflow_slurm: 200/200 done, 0 failed" in out
    with contextlib.closing(sqlite3.connect(tracked.tmp / "mlflow.db")) as con:
        rows = con.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall()
    assert rows == [("FINISHED", 200)]
    pids = {p.name.split(".")[0]: p.read_text() for p in tracked.marks.iterdir()}
    assert sorted(map(int, pids)) == list(range(200))
    # each job ran in its own forked process
    assert len(set(pids.values())) == 200
    # the rerun: every job is FINISHED, nothing is submitted, each job returns its stored value
    tracked.reset_calls()
    proc = tracked.run(SLURM, *args, sweep="rerun", timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert tracked.count("sbatch") == 0
    assert tracked.count("sacct") == 0
    assert "200 of 200 jobs already have a FINISHED MLflow run: not launched" in out
    assert "nothing to submit" in out
    assert len(list(tracked.marks.iterdir())) == 200
    assert not any((tracked.tmp / "rerun").glob("*/.hydra"))  # no job directory for a job not launched


def test_rerun_submits_only_the_missing_jobs(tracked: Packed) -> None:
    base = [*FAST, "hydra.launcher.jobs_per_task=10", "hydra.launcher.cpus_per_task=2"]
    proc = tracked.run(SLURM, *base, "a=range(20)")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    assert tracked.count("sbatch") == 1
    tracked.reset_calls()
    proc = tracked.run(SLURM, *base, "a=range(20)", sweep="again")
    assert proc.returncode == 0
    assert tracked.count("sbatch") == 0  # a rerun of a finished 20-job sweep submits nothing
    proc = tracked.run(SLURM, *base, "a=range(25)", sweep="more")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert tracked.count("sbatch") == 1
    assert "20 of 25 jobs already have a FINISHED MLflow run" in out
    assert "submitting 5 jobs in 1 task of up to 5" in out
    assert len(list(tracked.marks.iterdir())) == 25


@pytest.mark.parametrize(("cpus_per_task", "workers"), [(2, 2), (4, 4)])
def test_concurrent_jobs_get_their_own_cpus(packed: Packed, cpus_per_task: int, workers: int) -> None:
    """Each running job is pinned to its own CPU of the task's mask; a mask smaller than the workers (this node
    advertises more CPUs than the machine has) is shared round-robin, evenly."""
    args = [
        *FAST,
        "hydra.launcher.jobs_per_task=8",
        f"hydra.launcher.cpus_per_task={cpus_per_task}",
        "+a=range(16)",
        "+hold=1.5",
    ]
    proc = packed.run(SLURM, *args)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    jobs = packed.done()
    assert len(jobs) == 16
    masks = _task_cpus(packed.task_logs())
    assert len(masks) == 2, packed.task_logs()[-3000:]
    assert all(len(job["cpus"]) == 1 for job in jobs)
    assert re.search(rf"runs 8 of its 8 jobs, {workers} at a time", packed.task_logs())
    pairs = overlapping(jobs)
    assert pairs, "no two jobs of a task ran at the same time"
    for task, mask in masks.items():
        mine = [j for j in jobs if j["task"] == task]
        assert {c for j in mine for c in j["cpus"]} <= set(mask)
        for x, y in overlapping(mine):
            if len(mask) >= workers:
                assert not set(x["cpus"]) & set(y["cpus"]), (x, y)
        # at any moment a CPU runs at most ceil(workers / len(mask)) jobs of the task
        limit = -(-workers // len(mask))
        for job in mine:
            at_once = [j for j in mine if j["start"] <= job["start"] < j["end"]]
            assert max(Counter(c for j in at_once for c in j["cpus"]).values()) <= limit


@pytest.mark.parametrize(("gres", "cpus_per_task", "gpus_per_job", "workers"), [(2, 2, 1, 2), (2, 4, 0.5, 4)])
def test_jobs_get_their_share_of_the_task_gpus(
    packed: Packed, gres: int, cpus_per_task: int, gpus_per_job: float, workers: int
) -> None:
    if _gpu_node() < gres:
        pytest.fail(
            "the SLURM node has no GPUs (GRES): tests/cluster/slurm_up.sh with HF_SLURM_GPUS>0 (default 4)"
        )
    args = [
        *FAST,
        "hydra.launcher.jobs_per_task=8",
        f"hydra.launcher.cpus_per_task={cpus_per_task}",
        f"hydra.launcher.gres=gpu:{gres}",
        f"hydra.launcher.gpus_per_job={gpus_per_job}",
        "+a=range(8)",
        "+hold=1.5",
    ]
    proc = packed.run(SLURM, *args)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    jobs = packed.done()
    assert len(jobs) == 8
    logs = packed.task_logs()
    (task_gpus,) = re.findall(
        rf"runs 8 of its 8 jobs, {workers} at a time, on CPUs [\d,]+, GPUs ([\d,]+)", logs
    )
    allocated = task_gpus.split(",")
    assert len(allocated) == gres
    for job in jobs:
        devices = job["cuda"].split(",")
        assert len(devices) == max(1, int(gpus_per_job))
        assert set(devices) <= set(allocated)
        if job["job_gpus"] == task_gpus:  # no device cgroup: SLURM's own variables name the same GPUs
            assert job["rocr"] == job["cuda"]  # the mirrored variables are narrowed too
    pairs = overlapping(jobs)
    assert pairs
    sharing = round(1 / gpus_per_job) if gpus_per_job < 1 else 1
    for job in jobs:
        at_once = [j for j in jobs if j["start"] <= job["start"] < j["end"]]
        assert max(Counter(j["cuda"] for j in at_once).values()) <= sharing
    if sharing > 1:  # a fraction really packs jobs onto one GPU
        assert any(x["cuda"] == y["cuda"] for x, y in pairs)


def test_a_job_that_exits_fails_alone(packed: Packed) -> None:
    proc = packed.run(SLURM, *FAST, "hydra.launcher.jobs_per_task=3", "+a=range(6)", "+mode=exit")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    log_path = packed.tmp / "sweep" / "1" / "stderr.log"
    assert (
        f"#1 FAILED: JobFailedError: job #1 (+a=1 +mode=exit) died without returning a result: exit code 1 (log: {log_path})"
        in out
    )
    # the last progress line counts the failed job (an earlier one may show 5 done while #1 is unresolved)
    assert "6/6 done, 1 failed" in out
    assert sorted(j["a"] for j in packed.done()) == [0, 2, 3, 4, 5]
    assert log_path.is_file()
    assert "job says a=1" in (log_path.parent / "stdout.log").read_text()


def test_a_job_over_its_own_timeout_fails_alone(packed: Packed) -> None:
    proc = packed.run(
        SLURM,
        *FAST,
        "hydra.launcher.jobs_per_task=3",
        "hydra.launcher.timeout_s=3",
        "+a=range(3)",
        "+mode=slow1",
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert (
        "#1 FAILED: JobFailedError: job #1 (+a=1 +mode=slow1) timed out after 3 s (hydra.launcher.timeout_s)"
        in out
    )
    assert sorted(j["a"] for j in packed.done()) == [0, 2]


def test_a_task_at_its_time_limit_is_requeued_with_its_unfinished_jobs(packed: Packed) -> None:
    """A real time limit: SLURM sends USR2 ``signal_delay_s`` before it (give or take its 60 s resolution); the task
    keeps the jobs without a result and is requeued; the requeued task runs only those."""
    args = [
        *FAST,
        "hydra.launcher.jobs_per_task=4",
        "hydra.launcher.timeout_min=2",
        "hydra.launcher.signal_delay_s=30",
        "hydra.launcher.max_num_timeout=1",
        "+a=range(8)",
        "+mode=slowlast",
        "+last=3",
    ]
    proc = packed.run(SLURM, *args)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    starts = packed.starts()
    runs = Counter(s["a"] for s in starts)
    assert runs == {0: 1, 1: 1, 2: 1, 3: 2, 4: 1, 5: 1, 6: 1, 7: 1}, runs
    (first, second) = sorted((s for s in starts if s["a"] == 3), key=lambda s: s["start"])
    assert first["task"] == second["task"]
    assert (first["restart"], second["restart"]) == ("0", "1")  # the same array task, requeued by SLURM
    assert "checkpoint: 3 of 4 jobs of this task finished; requeued with the other 1" in packed.task_logs()
    assert re.search(r"task \S+ runs 1 of its 1 jobs", packed.task_logs())
    assert "8/8 done, 0 failed" in out


def test_ctrl_c_cancels_every_packed_task(packed: Packed) -> None:
    with packed.popen(SLURM, *FAST, "hydra.launcher.jobs_per_task=3", "+a=range(6)", "+hold=120") as proc:
        deadline = time.monotonic() + 180
        while len(packed.starts()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        array = next(s["task"].split("_")[0] for s in packed.starts())
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=180)
    assert proc.returncode != 0
    assert f"cancelled 6 outstanding jobs in 2 tasks of this sweep (job array {array})" in out

    def states() -> dict[str, str]:
        text = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", array],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return dict(line.split("|")[:2] for line in text.splitlines() if line)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and {s.split()[0] for s in states().values()} != {"CANCELLED"}:
        time.sleep(0.5)
    assert {s.split()[0] for s in states().values()} == {"CANCELLED"}, states()
    assert not packed.done()


def test_max_tasks_sizes_the_tasks(packed: Packed) -> None:
    proc = packed.run(SLURM, *FAST, "hydra.launcher.max_tasks=3", "+a=range(10)")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert "submitting 10 jobs in 3 tasks of up to 4" in out
    (script,) = packed.scripts()
    assert "#SBATCH --array=0-2\n" in script
    by_task = Counter(j["task"] for j in packed.done())
    assert sorted(by_task.values()) == [2, 4, 4]
    # job ids: each job carries its task's scheduler id
    assert {j["job_id"] for j in packed.done()} == set(by_task)


def test_packed_job_directories_hold_their_own_logs(packed: Packed) -> None:
    proc = packed.run(SLURM, *FAST, "hydra.launcher.jobs_per_task=2", "+a=range(4)", "+mode=raise")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    log_path = packed.tmp / "sweep" / "1" / "stderr.log"
    assert f"#1 FAILED: ValueError: a is one (log: {log_path})" in out
    assert "ValueError: a is one" in log_path.read_text()
    # the job's own traceback, as it happened in its packed task, with its source line and its logs
    assert f'File "{packed.tmp / "app.py"}", line ' in out, out
    assert '    raise ValueError("a is one")\n' in out
    assert f"ValueError: a is one\nlogs of the job: {log_path.with_name('stdout.log')} {log_path}\n" in out
    for a in range(4):
        job_dir = packed.tmp / "sweep" / str(a)
        assert f"job says a={a}" in (job_dir / "stdout.log").read_text()
        assert (job_dir / ".hydra" / "config.yaml").is_file()
    returns = json.loads(json.dumps([j["a"] for j in packed.done()]))
    assert returns == [0, 2, 3]


def test_bad_packing_settings_are_errors_before_anything_is_submitted(packed: Packed) -> None:
    proc = packed.run(SLURM, *FAST, "hydra.launcher.gpus_per_job=0.5", "+a=range(4)")
    assert proc.returncode == 1
    assert "hydra.launcher.gpus_per_job needs GPUs in each task" in proc.stderr
    assert not (packed.tmp / "sweep").exists()  # checked when the launcher is set up
    # a sizing that depends on the batch is checked when the batch comes, before anything of it is written
    proc = packed.run(
        SLURM,
        *FAST,
        "hydra.launcher.max_tasks=1",
        "hydra.launcher.job_duration_s=30",
        "hydra.launcher.timeout_min=3",
        "+a=range(10)",
    )
    assert proc.returncode == 1
    assert "hydra.launcher.max_tasks=1 packs 10 jobs into a task" in proc.stderr
    assert packed.count("sbatch") == 0
    assert [p.name for p in (packed.tmp / "sweep").iterdir()] == ["multirun.yaml"]  # the sweeper's, only
