"""End to end through real qsub/qstat/qdel/qrerun: Debian's slurm-wlm-torque wrappers over the SLURM cluster.

Every job runs on the real scheduler; nothing is faked. Each test uses its own submitit folder.
"""

from __future__ import annotations

import subprocess
import time
from typing import TYPE_CHECKING

import pytest
import submitit
from submitit.core.utils import FailedJobError, UncompletedJobError
from submitit.helpers import Checkpointable

from hydraflow.launch.pbs import INCOMPLETE_STATES, PBSExecutor, TorqueJob, cancel_jobs, poll_states

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.torque

TIMEOUT_S = 300  # generous: the 2-CPU cluster is shared with other test runs


@pytest.fixture(autouse=True)
def _fresh_watcher() -> None:
    # SLURM job ids restart when the cluster's state is wiped: drop states cached under reused ids
    TorqueJob.watcher.clear()


def square_or_fail(x: int) -> int:
    if x == 2:
        raise ValueError(f"task {x} refuses")
    return x * x


class ResumeOnce(Checkpointable):
    """Sleeps long on its first run; after the checkpoint + requeue it returns at once."""

    def __init__(self) -> None:
        self.resumed = False

    def __call__(self, value: str) -> str:
        if not self.resumed:
            self.resumed = True  # pickled into the checkpoint
            time.sleep(120)
            return "not checkpointed"
        return f"resumed {value}"


def _executor(folder: Path, **params) -> PBSExecutor:
    ex = PBSExecutor(folder / "%j", dialect="torque")
    ex.update_parameters(timeout_min=3, job_name="hf_pbs_test", **params)
    return ex


def _wait_state(job, states: set[str], timeout: float = TIMEOUT_S) -> str:
    deadline = time.time() + timeout
    state = job.watcher.get_state(job.job_id, mode="force")
    while state not in states and time.time() < deadline:
        time.sleep(1)
        state = job.watcher.get_state(job.job_id, mode="force")
    return state


def test_auto_executor_submit_returns_the_result(tmp_path: Path) -> None:
    ex = submitit.AutoExecutor(folder=tmp_path / "%j", cluster="pbs", pbs_dialect="torque")
    ex.update_parameters(timeout_min=3, name="hf_pbs_auto")
    job = ex.submit(sorted, [3, 1, 2])
    assert job.job_id.isdigit()  # the wrapper's qsub prints the bare SLURM id
    assert job.result() == [1, 2, 3]
    assert "#PBS -t" not in job.paths.submission_file.read_text()
    assert (job.paths.folder / f"{job.job_id}_scheduler_id").read_text().strip() == job.job_id
    # the wrapper's qstat shows finished jobs as C without an exit status
    assert _wait_state(job, {"FINISHED"}) == "FINISHED"


def test_job_submitted_from_inside_an_array_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # qsub -V hands the submitter's SLURM_ARRAY_* to the job: it must still find its own pickle
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "3")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "5")
    assert _executor(tmp_path).submit(len, "abc").result() == 3


def test_map_array_results_and_a_failing_task(tmp_path: Path) -> None:
    ex = _executor(tmp_path, array_parallelism=2)
    jobs = ex.map_array(square_or_fail, range(4))
    base = jobs[0].job_id.split("_")[0]
    assert [j.job_id for j in jobs] == [f"{base}_{i}" for i in range(4)]
    assert "#PBS -t 0-3%2" in (tmp_path / base / f"{base}_submission.sh").read_text()
    assert [jobs[i].result() for i in (0, 1, 3)] == [0, 1, 9]
    with pytest.raises(FailedJobError, match="ValueError: task 2 refuses"):
        jobs[2].result()
    # every sub-job is mapped to its own SLURM job through the id it recorded, and all are finished
    states = {j.job_id: _wait_state(j, {"FINISHED"}) for j in jobs}
    assert set(states.values()) == {"FINISHED"}
    watcher = jobs[0].watcher
    assert set(watcher.query_ids([j.job_id for j in jobs])) >= {base}


def test_failing_job_reports_the_exception(tmp_path: Path) -> None:
    job = _executor(tmp_path).submit(square_or_fail, 2)
    exc = job.exception()
    assert isinstance(exc, FailedJobError)
    assert "ValueError: task 2 refuses" in str(exc)
    with pytest.raises(FailedJobError, match="task 2 refuses"):
        job.result()


def test_qdel_cancels_a_running_job(tmp_path: Path) -> None:
    job = _executor(tmp_path).submit(time.sleep, 300)
    assert _wait_state(job, {"RUNNING"}) == "RUNNING"
    job.cancel()
    job._results_timeout_s = 2  # no result file will come: do not wait submitit's default 15 s for it
    with pytest.raises(UncompletedJobError, match="has not produced any output"):
        job.result()
    squeue = subprocess.run(
        ["squeue", "-h", "-j", job.job_id, "-o", "%T"], capture_output=True, text=True, check=False
    )
    assert squeue.stdout.strip() in {"", "CANCELLED", "COMPLETING"}


def test_cancelling_one_pending_sub_job_keeps_the_others(tmp_path: Path) -> None:
    ex = _executor(tmp_path, array_parallelism=1)
    jobs = ex.map_array(time.sleep, [2, 2, 2])
    jobs[2].cancel()  # still pending behind the %1 limit
    jobs[2]._results_timeout_s = 2
    assert [jobs[0].result(), jobs[1].result()] == [None, None]
    with pytest.raises(UncompletedJobError):
        jobs[2].result()


def test_checkpoint_and_requeue(tmp_path: Path) -> None:
    # walltime 1 min, USR2 55 s before it: after ~5 s the job checkpoints and requeues itself (same id; under the
    # SLURM wrappers with scontrol, their qrerun being broken), and the requeued run resumes from the checkpoint.
    ex = _executor(tmp_path, signal_delay_s=55)
    ex.update_parameters(timeout_min=1)
    job = ex.submit(ResumeOnce(), "ok")
    assert job.result() == "resumed ok"
    out = job.stdout() or ""
    assert "Requeued job" in out
    assert out.count("Starting with JobEnvironment") == 2


def test_poll_states_and_cancel_jobs_for_a_controller(tmp_path: Path) -> None:
    # the helpers a sweep controller uses: one qstat for all jobs per poll, one qdel for the whole array
    ex = _executor(tmp_path, array_parallelism=1)
    jobs = ex.map_array(time.sleep, [300, 300, 300])
    watcher = jobs[0].watcher
    calls = watcher.num_calls
    states = poll_states(jobs)
    assert watcher.num_calls == calls + 1
    assert set(states) == {j.job_id for j in jobs}
    assert set(states.values()) <= {"PENDING", "RUNNING"}
    cancel_jobs(jobs)
    deadline = time.time() + TIMEOUT_S
    while time.time() < deadline and any(s in INCOMPLETE_STATES for s in states.values()):
        time.sleep(1)
        states = poll_states(jobs)
    assert set(states.values()) <= {"FINISHED", "MISSING"}, states
