"""Packed array tasks on the real OpenPBS server (tests/cluster/pbs_up.sh; one node, 2 CPUs, no GPUs).

The same core behaviour as on SLURM (test_slurm_packing.py): jobs per task, per-job runs and failures,
affinity, the walltime warning requeueing only unfinished jobs, a rerun that queues nothing, Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from .conftest import APP, FAST, TRACKED_APP, Packed, make_packed, overlapping

pytestmark = [
    pytest.mark.pbs,
    pytest.mark.filterwarnings("ignore:Future Hydra versions will no longer change:UserWarning"),
]

PBS = "hydraflow_pbs"
PBS_BIN = Path(os.environ.get("HF_PBS_PREFIX", "/opt/pbs")) / "bin"


@pytest.fixture
def packed(tmp_path: Path) -> Packed:
    return make_packed(tmp_path, APP, extra_path=str(PBS_BIN))


@pytest.fixture
def tracked(tmp_path: Path) -> Packed:
    return make_packed(tmp_path, TRACKED_APP, extra_path=str(PBS_BIN))


def _qstat(*ids: str) -> dict:
    out = subprocess.run(
        [str(PBS_BIN / "qstat"), "-f", "-F", "json", "-x", "-t", *ids],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return json.loads(out or "{}").get("Jobs", {})


def test_48_jobs_in_4_tasks_make_48_runs_and_a_rerun_queues_nothing(tracked: Packed) -> None:
    args = [*FAST, "hydra.launcher.jobs_per_task=12", "a=range(48)"]
    proc = tracked.run(PBS, *args, timeout=1200)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert tracked.count("qsub") == 1
    (script,) = tracked.scripts()
    assert "#PBS -J 0-3" in script
    assert "submitting 48 jobs in 4 tasks of up to 12 as 1 job array" in out
    with contextlib.closing(sqlite3.connect(tracked.tmp / "mlflow.db")) as con:
        rows = con.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall()
    assert rows == [("FINISHED", 48)]
    assert len(list(tracked.marks.iterdir())) == 48
    tracked.reset_calls()
    proc = tracked.run(PBS, *args, sweep="rerun", timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert tracked.count("qsub") == 0
    assert tracked.count("qstat") <= 1  # qstat -B once: the server's max_array_size, no job polled
    assert "48 of 48 jobs already have a FINISHED MLflow run: not launched" in out


def test_concurrent_jobs_get_their_own_cpus(packed: Packed) -> None:
    args = [
        *FAST,
        "hydra.launcher.jobs_per_task=6",
        "hydra.launcher.cpus_per_task=2",
        "+a=range(6)",
        "+hold=1.5",
    ]
    proc = packed.run(PBS, *args)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    jobs = packed.done()
    assert len(jobs) == 6
    logs = packed.task_logs()
    (mask,) = re.findall(r"runs 6 of its 6 jobs, 2 at a time, on CPUs ([\d,]+)", logs)
    assert all(len(j["cpus"]) == 1 and str(j["cpus"][0]) in mask.split(",") for j in jobs)
    pairs = overlapping(jobs)
    assert pairs
    if len(mask.split(",")) >= 2:
        assert all(not set(x["cpus"]) & set(y["cpus"]) for x, y in pairs)


def test_a_job_that_exits_fails_alone(packed: Packed) -> None:
    proc = packed.run(PBS, *FAST, "hydra.launcher.jobs_per_task=3", "+a=range(6)", "+mode=exit")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    log_path = packed.tmp / "sweep" / "1" / "stderr.log"
    assert (
        f"#1 FAILED: JobFailedError: job #1 (+a=1 +mode=exit) died without returning a result: exit code 1 "
        f"(log: {log_path})"
    ) in out
    assert "6/6 done, 1 failed" in out
    assert sorted(j["a"] for j in packed.done()) == [0, 2, 3, 4, 5]


def test_a_task_at_its_walltime_is_requeued_with_its_unfinished_jobs(packed: Packed) -> None:
    # 1-minute walltime, the job's own USR2 45 s before it: the task keeps its unfinished job and is requeued
    # with qrerun (same sub-job id); the second run runs that job only
    args = [
        *FAST,
        "hydra.launcher.jobs_per_task=4",
        "hydra.launcher.timeout_min=1",
        "hydra.launcher.signal_delay_s=45",
        "hydra.launcher.max_num_timeout=1",
        "+a=range(4)",
        "+mode=slowlast",
        "+last=3",
    ]
    proc = packed.run(PBS, *args)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    runs = Counter(s["a"] for s in packed.starts())
    assert runs == {0: 1, 1: 1, 2: 1, 3: 2}, runs
    first, second = (s for s in packed.starts() if s["a"] == 3)
    assert first["job_id"] == second["job_id"]  # qrerun: the same job, run again
    assert packed.count("qrerun") == 1
    assert "checkpoint: 3 of 4 jobs of this task finished; requeued with the other 1" in packed.task_logs()
    assert _qstat(first["job_id"])[first["job_id"]]["run_count"] == 2


def test_ctrl_c_cancels_every_packed_task(packed: Packed) -> None:
    with packed.popen(
        PBS,
        *FAST,
        "hydra.launcher.jobs_per_task=3",
        "hydra.launcher.array_parallelism=1",
        "+a=range(6)",
        "+hold=120",
    ) as proc:
        deadline = time.monotonic() + 180
        while not packed.starts() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert packed.starts(), "no job started"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=180)
    assert proc.returncode != 0
    assert re.search(r"cancelled 6 outstanding jobs in 2 tasks of this sweep \(job array \S+\)", out), out[
        -3000:
    ]
    assert not packed.done()
