"""The submitit plugin wiring (entry points, AutoExecutor) and the job side: ids from PBS/Torque/SLURM-wrapper
environment variables, log redirection, and the checkpoint / qrerun / SIGTERM signal paths of a real job process."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest
import submitit
from submitit.core import plugins, utils
from submitit.core.job_environment import JobEnvironment

from hydraflow.launch.pbs import PBSExecutor, PBSJobEnvironment

if TYPE_CHECKING:
    from pathlib import Path

_SCHED_VARS = (
    "PBS_JOBID",
    "PBS_ARRAY_ID",
    "PBS_ARRAY_INDEX",
    "PBS_ARRAYID",
    "PBS_NODEFILE",
    "SLURM_JOB_ID",
    "SLURM_ARRAY_JOB_ID",
    "SLURM_ARRAY_TASK_ID",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in _SCHED_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "pbs")
    return monkeypatch


def test_entry_points_register_the_plugin() -> None:
    assert plugins.get_executors()["pbs"] is PBSExecutor
    assert isinstance(plugins.get_job_environments()["pbs"], PBSJobEnvironment)


def test_auto_executor_cluster_pbs(tmp_path: Path) -> None:
    ex = submitit.AutoExecutor(folder=tmp_path / "%j", cluster="pbs", pbs_dialect="torque")
    assert isinstance(ex._executor, PBSExecutor)
    assert ex._executor.dialect == "torque"
    ex.update_parameters(timeout_min=12, cpus_per_task=3, mem_gb=2, name="auto", pbs_queue="batch")
    assert ex._executor.parameters == {
        "timeout_min": 12,
        "ncpus": 3,
        "mem_gb": 2,
        "job_name": "auto",
        "queue": "batch",
    }
    script = ex._executor.submission_script()
    assert "#PBS -l nodes=1:ppn=3\n" in script
    assert "#PBS -q batch\n" in script


def test_pbspro_ids(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PBS_JOBID", "1001.pbs01")
    env = JobEnvironment()
    assert isinstance(env, PBSJobEnvironment)
    assert (env.job_id, env.raw_job_id, env.array_job_id, env.array_task_id) == (
        "1001.pbs01",
        "1001.pbs01",
        None,
        None,
    )
    clean_env.setenv("PBS_JOBID", "1010[3].pbs01")
    clean_env.setenv("PBS_ARRAY_ID", "1010[].pbs01")
    clean_env.setenv("PBS_ARRAY_INDEX", "3")
    env = PBSJobEnvironment()
    assert (env.job_id, env.raw_job_id, env.array_job_id, env.array_task_id) == (
        "1010.pbs01_3",
        "1010[3].pbs01",
        "1010.pbs01",
        "3",
    )
    assert (env.global_rank, env.local_rank, env.num_tasks, env.node) == (0, 0, 1, 0)


def test_torque_ids(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PBS_JOBID", "2007[1].torque01.example.org")
    clean_env.setenv("PBS_ARRAYID", "1")
    env = PBSJobEnvironment()
    assert env.job_id == "2007.torque01.example.org_1"
    assert env.raw_job_id == "2007[1].torque01.example.org"


def test_slurm_wrapper_ids(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SLURM_JOB_ID", "126")
    env = PBSJobEnvironment()
    assert env.job_id == "126"
    clean_env.setenv("SLURM_ARRAY_JOB_ID", "123")
    clean_env.setenv("SLURM_ARRAY_TASK_ID", "1")
    assert (env.job_id, env.raw_job_id) == ("123_1", "126")
    clean_env.setenv("SUBMITIT_FOLDER", "/shared/logs/%j")
    assert str(env.paths.submitted_pickle) == "/shared/logs/123_1/123_1_submitted.pkl"


def test_inherited_array_variables_are_ignored_in_single_jobs(clean_env: pytest.MonkeyPatch) -> None:
    # qsub -V copies the submitter's environment: a job submitted from inside an array task inherits its
    # array variables. The job script says whether the job is an array (HYDRAFLOW_PBS_ARRAY).
    clean_env.setenv("HYDRAFLOW_PBS_ARRAY", "0")
    clean_env.setenv("SLURM_JOB_ID", "245")
    clean_env.setenv("SLURM_ARRAY_JOB_ID", "3")
    clean_env.setenv("SLURM_ARRAY_TASK_ID", "5")
    assert PBSJobEnvironment().job_id == "245"
    clean_env.setenv("PBS_JOBID", "1001.pbs01")
    clean_env.setenv("PBS_ARRAY_ID", "900[].pbs01")
    clean_env.setenv("PBS_ARRAY_INDEX", "4")
    assert PBSJobEnvironment().job_id == "1001.pbs01"
    clean_env.setenv("HYDRAFLOW_PBS_ARRAY", "1")
    clean_env.setenv("PBS_JOBID", "1010[3].pbs01")
    assert PBSJobEnvironment().job_id == "1010.pbs01_3"


def test_hostnames_from_nodefile(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    nodefile = tmp_path / "nodes"
    nodefile.write_text("cn01\ncn01\ncn02\ncn02\n")
    clean_env.setenv("PBS_JOBID", "5.pbs01")
    clean_env.setenv("PBS_NODEFILE", str(nodefile))
    env = PBSJobEnvironment()
    assert env.hostnames == ["cn01", "cn02"]
    assert env.num_nodes == 2


# --- the job side, run as a real process with a PBS Pro environment ---------------------------------------

TASKS = """
import time
from submitit.helpers import Checkpointable


def add(a, b):
    print("adding", a, b)
    return a + b


class Slow(Checkpointable):
    def __call__(self, seconds, started=None):
        if started:  # signal handlers are installed before the function runs
            open(started, "w").close()
        time.sleep(seconds)
        return "slept"
"""

FAKE_QRERUN = """#!/bin/sh
echo "$@" >> "{log}"
{body}
"""


@pytest.fixture
def job_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A submitit folder with a pickled task and the environment of PBS Pro job 77.pbs01 (no server needed)."""
    (tmp_path / "pbs_tasks_mod.py").write_text(TASKS)
    monkeypatch.syspath_prepend(str(tmp_path))
    import pbs_tasks_mod

    folder = tmp_path / "sub"
    folder.mkdir()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in _SCHED_VARS}
    env.update(
        SUBMITIT_EXECUTOR="pbs",
        PBS_JOBID="77.pbs01",
        PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}",
        HYDRAFLOW_PBS_SIGNAL_DELAY_S="58",
    )

    def prepare(
        fn, *args, timeout_min: int = 5, qrerun_body: str = "exit 0", extra_env: dict | None = None
    ) -> subprocess.Popen[str]:
        delayed = utils.DelayedSubmission(fn, *args)
        delayed.set_timeout(timeout_min, 3)
        delayed.dump(folder / "77.pbs01_submitted.pkl")
        qrerun = bindir / "qrerun"
        qrerun.write_text(FAKE_QRERUN.format(log=tmp_path / "qrerun.log", body=qrerun_body))
        qrerun.chmod(qrerun.stat().st_mode | stat.S_IXUSR)
        return subprocess.Popen(
            [sys.executable, "-u", "-m", "hydraflow.launch.pbs", str(folder)],
            env={**env, **(extra_env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    return pbs_tasks_mod, folder, tmp_path / "qrerun.log", prepare


def _result(folder: Path):
    return utils.pickle_load(folder / "77.pbs01_0_result.pkl")


def test_job_runs_and_redirects_its_logs(job_site) -> None:
    mod, folder, _, prepare = job_site
    proc = prepare(mod.add, 2, 3)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out == err == ""  # everything went to submitit's log files
    assert _result(folder) == ("success", 5)
    assert "adding 2 3" in (folder / "77.pbs01_0_log.out").read_text()
    assert (
        "Job completed successfully" in (folder / "77.pbs01_0_log.out").read_text()
    )  # submitit INFO: stdout
    assert (folder / "77.pbs01_scheduler_id").read_text() == "77.pbs01\n"


def test_stderr_to_stdout(job_site) -> None:
    mod, folder, _, prepare = job_site
    proc = prepare(mod.add, 1, 1, extra_env={"HYDRAFLOW_PBS_STDERR_TO_STDOUT": "1"})
    proc.communicate(timeout=60)
    assert not (folder / "77.pbs01_0_log.err").exists()
    assert "Job completed successfully" in (folder / "77.pbs01_0_log.out").read_text()


def test_missing_qsub_fails_before_writing_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    ex = PBSExecutor(tmp_path / "sub", python=[sys.executable])
    with pytest.raises(utils.FailedSubmissionError, match="qsub is not on PATH"):
        ex.submit(len, "abc")
    assert not (tmp_path / "sub").exists()


def test_refused_submission_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    qsub = bindir / "qsub"
    qsub.write_text('#!/bin/sh\necho "qsub: Unknown queue" >&2\nexit 1\n')
    qsub.chmod(qsub.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    ex = PBSExecutor(tmp_path / "sub", python=[sys.executable])
    ex.update_parameters(queue="nosuchq")
    with pytest.raises(utils.FailedJobError, match="qsub: Unknown queue"):
        ex.submit(len, "abc")
    with pytest.raises(utils.FailedJobError, match="qsub: Unknown queue"):
        ex.map_array(len, ["a", "b"])
    assert list((tmp_path / "sub").iterdir()) == []


def test_timer_signal_checkpoints_and_requeues_with_qrerun(job_site) -> None:
    mod, folder, qrerun_log, prepare = job_site
    # walltime 1 min, signal 58 s before it: the job sends itself USR2 after ~2 s
    proc = prepare(mod.Slow(), 60, timeout_min=1)
    proc.communicate(timeout=60)
    assert qrerun_log.read_text().split() == ["77.pbs01"]
    assert not (folder / "77.pbs01_0_result.pkl").exists()  # requeued, not finished
    resubmitted = utils.DelayedSubmission.load(folder / "77.pbs01_submitted.pkl")
    assert resubmitted._timeout_countdown == 2  # one timeout used up
    assert "this job is timed-out" in (folder / "77.pbs01_0_log.err").read_text()
    assert "Requeued job 77.pbs01" in (folder / "77.pbs01_0_log.out").read_text()


def test_refused_qrerun_ends_the_job_with_a_clear_error(job_site) -> None:
    mod, folder, _, prepare = job_site
    proc = prepare(
        mod.Slow(),
        60,
        timeout_min=1,
        qrerun_body='echo "qrerun: Unauthorized Request 77.pbs01" >&2; exit 159',
    )
    proc.communicate(timeout=60)
    outcome, trace = _result(folder)
    assert outcome == "error"
    assert "qrerun 77.pbs01 failed (exit 159): qrerun: Unauthorized Request 77.pbs01" in trace


def test_sigterm_checkpoints_and_exits(job_site) -> None:
    mod, folder, qrerun_log, prepare = job_site
    started = folder / "started"
    proc = prepare(mod.Slow(), 60, str(started), timeout_min=30)
    deadline = time.time() + 60
    while time.time() < deadline and not started.exists():
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert not qrerun_log.exists()  # qdel/walltime: no requeue
    assert not (folder / "77.pbs01_0_result.pkl").exists()
    assert "Calling checkpoint method" in (folder / "77.pbs01_0_log.out").read_text()
