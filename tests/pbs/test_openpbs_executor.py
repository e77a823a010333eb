"""The submitit PBS executor (``dialect=pbspro``) on the real OpenPBS 23.06 server of tests/cluster/pbs_up.sh.

Jobs, job arrays, failures, deletions of running and queued sub-jobs, a job the server forgot, and a
checkpoint + ``qrerun`` requeue: every job runs on the real scheduler. Each test has its own submitit folder.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import TYPE_CHECKING

import pytest
import submitit
from submitit.core.utils import FailedJobError, UncompletedJobError
from submitit.helpers import Checkpointable

from hydraflow.launch.pbs import INCOMPLETE_STATES, PBSExecutor, PBSJob, cancel_jobs, poll_states
from hydraflow.launch.pbs._executor import PBSSubmissionError

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.pbs

TIMEOUT_S = 180


def fails(x: int) -> int:
    raise RuntimeError(f"bad input {x}")


def env_value(name: str) -> str | None:
    return os.environ.get(name)


def sleep_unless(index: int, slow: int) -> int:
    if index == slow:
        time.sleep(150)
    return index


class ResumeOnce(Checkpointable):
    """Sleeps long on its first run; after the checkpoint + requeue it returns at once."""

    def __init__(self) -> None:
        self.resumed = False

    def __call__(self, value: str) -> str:
        if not self.resumed:
            self.resumed = True  # pickled into the checkpoint
            time.sleep(150)
            return "not checkpointed"
        return f"resumed {value}"


def _executor(tmp_path: Path, **params) -> PBSExecutor:
    ex = PBSExecutor(tmp_path / "logs" / "%j", dialect="pbspro")
    ex.update_parameters(timeout_min=5, job_name="hf_pbs_test", **params)
    return ex


def _wait_state(job, states: set[str], timeout: float = TIMEOUT_S) -> str:
    deadline = time.monotonic() + timeout
    state = job.watcher.get_state(job.job_id, mode="force")
    while state not in states and time.monotonic() < deadline:
        time.sleep(0.5)
        state = job.watcher.get_state(job.job_id, mode="force")
    return state


def _wait_started(job, timeout: float = TIMEOUT_S) -> None:
    """Until the job's Python has loaded its pickle (submitit's signal handlers are then installed).

    RUNNING in qstat is not enough: PBS first runs the user's login shell and its profile, which can take
    long (a slow profile delayed every job by 60 s on a shared machine).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if job.paths.stdout.exists() and "Loading pickle" in job.paths.stdout.read_text():
            time.sleep(0.5)
            return
        time.sleep(0.2)
    pytest.fail(f"job {job.job_id} did not start")


def _final_states(jobs, timeout: float = 60) -> dict[str, str]:
    """poll_states until no job is unfinished (a result file comes before PBS records the end)."""
    deadline = time.monotonic() + timeout
    states = poll_states(jobs)
    while any(s in INCOMPLETE_STATES for s in states.values()) and time.monotonic() < deadline:
        time.sleep(0.5)
        states = poll_states(jobs)
    return states


def test_submit_returns_the_result_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # OpenPBS 23.06's qsub -V sends no environment (openpbs#2611): the job restores it from its env file
    monkeypatch.setenv("HF_PBS_PROBE", "it's $HOME, a b")
    job = _executor(tmp_path).submit(env_value, "HF_PBS_PROBE")
    assert job.job_id.endswith(".pbshost")
    assert job.result() == "it's $HOME, a b"
    assert _wait_state(job, {"COMPLETED"}) == "COMPLETED"
    env_files = list((tmp_path / "logs").glob("*.env.sh"))
    assert len(env_files) == 1
    assert env_files[0].stat().st_mode & 0o077 == 0  # may hold secrets: owner only


def test_auto_executor_finds_the_plugin(tmp_path: Path) -> None:
    ex = submitit.AutoExecutor(folder=tmp_path / "%j", cluster="pbs")
    ex.update_parameters(timeout_min=3, name="hf_pbs_auto", cpus_per_task=1)
    job = ex.submit(sorted, [3, 1, 2])
    assert job.result() == [1, 2, 3]
    assert "#PBS -l select=1:ncpus=1\n" in job.paths.submission_file.read_text()


def test_map_array_ids_results_and_failures(tmp_path: Path, pbs_qstat) -> None:
    ex = _executor(tmp_path)
    jobs = ex.map_array(abs, [-1, -2, -3]) + ex.map_array(fails, [1, 2])
    seq = jobs[0].job_id.split(".")[0]
    assert [j.job_id for j in jobs[:3]] == [f"{seq}.pbshost_{i}" for i in range(3)]
    scripts = {p.parent.name: p.read_text() for p in (tmp_path / "logs").rglob("*_submission.sh")}
    assert "#PBS -J 0-2\n" in scripts[f"{seq}.pbshost"]
    assert [j.result() for j in jobs[:3]] == [1, 2, 3]
    with pytest.raises(FailedJobError, match="RuntimeError: bad input 2"):
        jobs[4].result()
    states = [_wait_state(j, {"COMPLETED", "FAILED"}) for j in jobs]
    assert states == ["COMPLETED", "COMPLETED", "COMPLETED", "FAILED", "FAILED"]
    assert jobs[3].get_info(mode="cache")["ExitStatus"] == "1"
    # PBS itself: the sub-jobs ran where the server says, each with its own log redirected by the job
    records = pbs_qstat(f"{seq}[].pbshost")
    assert {records[f"{seq}[{i}].pbshost"]["Exit_status"] for i in range(3)} == {0}
    assert jobs[1].paths.stdout.is_file()  # each sub-job redirects its output to submitit's own log files


def test_one_element_array_is_a_plain_job(tmp_path: Path) -> None:
    # PBS refuses "qsub -J 0-0": a single job is submitted without -J
    (job,) = _executor(tmp_path).map_array(abs, [-7])
    assert "_" not in job.job_id
    assert "#PBS -J" not in job.paths.submission_file.read_text()
    assert job.result() == 7


def test_qdel_of_a_running_and_of_a_queued_subjob(tmp_path: Path, pbs_qstat) -> None:
    jobs = _executor(tmp_path, array_parallelism=1).map_array(sleep_unless, [0, 1, 2], [0, 0, 0])
    _wait_started(jobs[0])
    assert jobs[2].watcher.get_state(jobs[2].job_id, mode="force") == "PENDING"
    start = time.monotonic()
    jobs[0].cancel()
    jobs[2].cancel()
    for job in (jobs[0], jobs[2]):
        job._results_timeout_s = 1
        with pytest.raises(UncompletedJobError, match=r"state: CANCELLED"):
            job.result()
    assert time.monotonic() - start < 60
    assert jobs[1].result() == 1  # the other sub-job still ran
    assert _final_states(jobs) == {
        jobs[0].job_id: "CANCELLED (deleted while running)",
        jobs[1].job_id: "COMPLETED",
        jobs[2].job_id: "CANCELLED (deleted before it started)",
    }
    seq = jobs[0].job_id.split(".")[0]
    records = pbs_qstat(f"{seq}[].pbshost")
    assert "exec_host" in records[f"{seq}[0].pbshost"]
    assert "exec_host" not in records[f"{seq}[2].pbshost"]


def test_cancel_jobs_deletes_the_whole_array_with_one_qdel(tmp_path: Path) -> None:
    jobs = _executor(tmp_path, array_parallelism=1).map_array(sleep_unless, [0, 1, 2], [0, 1, 2])
    _wait_started(jobs[0])
    cancel_jobs(jobs)
    assert _final_states(jobs) == {
        jobs[0].job_id: "CANCELLED (deleted while running)",
        jobs[1].job_id: "CANCELLED (deleted before it started)",
        jobs[2].job_id: "CANCELLED (deleted before it started)",
    }


def test_job_the_server_forgot_is_reported_missing(tmp_path: Path) -> None:
    job = _executor(tmp_path).submit(time.sleep, 150)
    _wait_started(job)
    # qdel -x: delete the job and its history, as if the server had purged it
    assert isinstance(job, PBSJob)
    subprocess.run(["qdel", "-x", job.scheduler_id], check=True)
    job._results_timeout_s = 1
    start = time.monotonic()
    with pytest.raises(UncompletedJobError, match=r"state: MISSING"):
        job.result()
    assert time.monotonic() - start < 180


def test_job_that_can_never_run_is_deleted_not_waited_for(tmp_path: Path, pbs_qstat) -> None:
    jobs = _executor(tmp_path, ncpus=64).map_array(abs, [1, 2])
    states = _final_states(jobs)
    reason = "CANCELLED (the scheduler says it can never run: Insufficient amount of resource: ncpus"
    assert all(s.startswith(reason) for s in states.values()), states
    seq = jobs[0].job_id.split(".")[0]
    assert pbs_qstat(f"{seq}[].pbshost")[f"{seq}[].pbshost"]["job_state"] == "F"


def test_refused_submission_leaves_nothing_behind(tmp_path: Path) -> None:
    ex = _executor(tmp_path, queue="nosuchqueue")
    with pytest.raises(PBSSubmissionError, match=r"^qsub refused the job \(exit \d+\): qsub: Unknown queue$"):
        ex.map_array(abs, [1, 2])
    with pytest.raises(PBSSubmissionError, match=r"Unknown resource Resource_List\.nosuch"):
        _executor(tmp_path, additional_resources={"nosuch": "1"}).submit(abs, 1)
    leftovers = [p.name for p in (tmp_path / "logs").rglob("*") if p.is_file()]
    assert leftovers == []


def test_preemption_by_qrerun_checkpoints_and_resumes(tmp_path: Path, pbs_qstat) -> None:
    # qrerun (what a preemption by requeueing does): SIGTERM -> checkpoint -> PBS queues it again, same id.
    ex = PBSExecutor(tmp_path / "logs" / "%j", dialect="pbspro", max_num_timeout=0)
    ex.update_parameters(timeout_min=60, job_name="hf_pbs_ckpt")
    job = ex.submit(ResumeOnce(), "x")
    _wait_started(job)
    job._interrupt()
    assert job.result() == "resumed x"
    assert pbs_qstat(job.job_id)[job.job_id]["run_count"] == 2
    log = job.paths.stdout.read_text()
    assert (
        log.index("Caught signal SIGTERM")
        < log.index("Calling checkpoint method")
        < log.rindex("Starting with")
    )
    with pytest.raises(NotImplementedError, match="kills the job's login shell"):
        job._interrupt(timeout=True)


def test_poll_states_takes_one_qstat_for_all_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = tmp_path / "calls"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    real = subprocess.run(["which", "qstat"], capture_output=True, text=True, check=True).stdout.strip()
    (bindir / "qstat").write_text(f'#!/bin/sh\necho qstat >> "{calls}"\nexec "{real}" "$@"\n')
    (bindir / "qstat").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    ex = _executor(tmp_path)
    jobs = [*ex.map_array(abs, [1, 2, 3]), ex.submit(abs, 4), *ex.map_array(abs, [5, 6])]
    states = poll_states(jobs)
    assert len(states) == 6
    assert calls.read_text().split() == ["qstat"]
    assert [j.result() for j in jobs] == [1, 2, 3, 4, 5, 6]
