"""``hydra/launcher=hydraflow_slurm`` on the real single-node cluster (tests/cluster/slurm_up.sh).

Controllers run as real subprocesses; job states are checked with sacct/squeue. Each test has its own sweep
and submitit folder under tmp_path (job ids restart when the cluster state is wiped).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hydraflow_test_controller import AppController, wait_for

from hydraflow.launch.config import SlurmConfig
from hydraflow.launch.slurm.queries import (
    cluster_max_array_size,
    effective_max_array_size,
    parse_job_states,
    parse_max_array_size,
)

pytestmark = pytest.mark.filterwarnings("ignore:Future Hydra versions will no longer change:UserWarning")

FAST = ["hydra.launcher.poll_interval_s=0.25", "hydra.launcher.timeout_min=5", "hydra.launcher.progress=log"]

APP = textwrap.dedent(
    """
    import os, time
    from pathlib import Path
    import hydra

    @hydra.main(version_base=None, config_path=None)
    def main(cfg):
        a = int(cfg.get("a", 0))
        mode = cfg.get("mode", "ok")
        marks = Path(os.environ["MARKS"])
        job_id = os.environ["SLURM_JOB_ID"]
        if "SLURM_ARRAY_JOB_ID" in os.environ:
            job_id = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
        runs = len(list(marks.glob(f"{a}.start.*")))
        (marks / f"{a}.start.{runs}").write_text(job_id + " " + os.environ.get("SLURM_RESTART_COUNT", "0"))
        print(f"job says a={a}")
        if mode == "raise" and a == 1:
            raise ValueError("a is one")
        if (mode == "sleep" and a == 1) or mode == "sleepall" or (mode == "preempt" and a == 1 and runs == 0):
            time.sleep(120)
        (marks / f"{a}.done").write_text(str(a * 10))
        return a * 10

    if __name__ == "__main__":
        main()
    """
)


def _sacct_states(array: str) -> dict[str, str]:
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", array],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return parse_job_states(out)


class Controller(AppController):
    """A Hydra app using hydraflow_slurm, run as a real subprocess; sbatch/sacct calls counted via PATH."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(
            tmp_path,
            APP,
            tools=("sbatch", "sacct", "squeue", "scancel"),
            fixed=["hydra/launcher=hydraflow_slurm", *FAST],
            env={"HYDRA_FULL_ERROR": "1"},
        )

    def job_id(self, a: int, run: int = 0) -> str:
        """The SLURM id of job ``a`` once it has started (its ``run``-th start)."""
        return self.started(a, run).split()[0]


@pytest.mark.slurm
def test_sweep_is_one_array_with_outputs_and_return_values(hydra_sweep_runner, tmp_path: Path) -> None:
    def task(cfg):
        print(f"hello from a={cfg.a}")
        return {"a": cfg.a, "job": os.environ["SLURM_JOB_ID"]}

    sweep = hydra_sweep_runner(
        calling_file=None,
        calling_module="hydra.test_utils.a_module",
        task_function=task,
        config_path=None,
        config_name=None,
        overrides=["hydra/launcher=hydraflow_slurm", *FAST, "+a=0,1,2"],
        temp_dir=tmp_path / "sweep",
    )
    with sweep:
        returns = sweep.returns[0]
        assert [r.return_value["a"] for r in returns] == [0, 1, 2]
        ids = [str(r.hydra_cfg.hydra.job.id) for r in returns]
        arrays = {i.split("_")[0] for i in ids}
        assert len(arrays) == 1, ids
        assert ids == [f"{next(iter(arrays))}_{k}" for k in range(3)]
        for k, r in enumerate(returns):
            job_dir = Path(r.hydra_cfg.hydra.runtime.output_dir)
            assert (job_dir / ".hydra" / "config.yaml").is_file()
            assert f"hello from a={k}" in (job_dir / "stdout.log").read_text()
        (script_file,) = (tmp_path / "sweep").rglob("*_submission.sh")  # read before the runner cleans up
        script = script_file.read_text()
    (array,) = arrays
    # no "%3" throttle: SLURM starts a throttled array's tasks only on its periodic pass, not when one ends
    assert "#SBATCH --array=0-2\n" in script
    expected = {f"{array}_{k}": "COMPLETED" for k in range(3)}
    wait_for(lambda: _sacct_states(array) == expected, 30, "sacct to record 3 completed tasks of one array")


@pytest.mark.slurm
def test_failing_job_is_reported_and_the_others_finish(tmp_path: Path) -> None:
    ctl = Controller(tmp_path)
    proc = ctl.run("+a=0,1,2", "+mode=raise")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "#1 FAILED: ValueError: a is one" in out
    assert sorted(p.name for p in ctl.marks.glob("*.done")) == ["0.done", "2.done"]
    assert ctl.count("sbatch") == 1  # the whole batch is one job array
    # one sacct per poll for the whole array, backing off (0.25, 0.5, 1, 2, 4 ... s): a handful, not per job
    assert 1 <= ctl.count("sacct") <= 15
    assert ctl.count("squeue") == 0


@pytest.mark.slurm
def test_cancelled_job_is_reported_not_waited_for(tmp_path: Path) -> None:
    ctl = Controller(tmp_path)
    with ctl.popen("+a=0,1", "+mode=sleep") as proc:
        job_id = ctl.job_id(1)
        subprocess.run(["scancel", job_id], check=True)
        out, _ = proc.communicate(timeout=180)
    assert proc.returncode != 0
    assert re.search(rf"scheduler job {job_id}, ended in state CANCELLED without a result", out), out
    assert (ctl.marks / "0.done").exists()


@pytest.mark.slurm
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_the_controller_cancels_the_sweep(tmp_path: Path, signum: int) -> None:
    ctl = Controller(tmp_path)
    with ctl.popen("+a=0,1,2", "+mode=sleepall") as proc:
        job_id = ctl.job_id(0)
        array = job_id.split("_")[0]
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=180)
    assert proc.returncode != 0
    assert f"cancelled 3 outstanding jobs of this sweep (job array {array})" in out

    def left_queue() -> bool:
        squeue = subprocess.run(["squeue", "-h", "-j", array], capture_output=True, text=True, check=False)
        return squeue.stdout.strip() == ""

    wait_for(left_queue, 30, f"array {array} to leave the queue")
    states = wait_for(lambda: (s := _sacct_states(array)) and len(s) == 3 and s, 30, "sacct to list 3 tasks")
    assert set(states.values()) == {"CANCELLED"}, states


@pytest.mark.slurm
@pytest.mark.parametrize(
    ("timeout_min", "max_num_timeout", "requeued"),
    [
        pytest.param(60, 0, True, id="preemption-requeues"),
        # submitit counts a USR2 as a time-out when the limit is < 10 min: requeued within max_num_timeout
        pytest.param(5, 1, True, id="timeout-requeues-within-max_num_timeout"),
        pytest.param(5, 0, False, id="timeout-beyond-max_num_timeout-fails"),
    ],
)
def test_interrupted_job_is_requeued(
    tmp_path: Path, timeout_min: int, max_num_timeout: int, requeued: bool
) -> None:
    """Simulated preemption/time-out, the ``job._interrupt(timeout=True)`` form (USR2 only)."""
    import submitit

    ctl = Controller(tmp_path)
    folder = tmp_path / "submitit"
    args = [
        "+a=0,1",
        "+mode=preempt",
        f"hydra.launcher.submitit_folder={folder}/%j",
        f"hydra.launcher.timeout_min={timeout_min}",
        f"hydra.launcher.max_num_timeout={max_num_timeout}",
    ]
    with ctl.popen(*args) as proc:
        job_id = ctl.job_id(1)
        time.sleep(1.0)  # let submitit install its signal handlers in the job
        submitit.SlurmJob(folder=folder / job_id, job_id=job_id)._interrupt(timeout=True)
        out, _ = proc.communicate(timeout=300)
    if not requeued:
        assert proc.returncode != 0
        assert "#1 FAILED: UncompletedJobError: Job not requeued because: timed-out too many times" in out
        assert len(list(ctl.marks.glob("1.start.*"))) == 1
        return
    assert proc.returncode == 0, out
    assert (ctl.marks / "1.done").read_text() == "10"
    starts = sorted(ctl.marks.glob("1.start.*"))
    assert len(starts) == 2
    assert starts[1].read_text().split() == [job_id, "1"]  # same job, SLURM_RESTART_COUNT=1


@pytest.mark.slurm
def test_batch_larger_than_max_array_size_is_split(hydra_sweep_runner, tmp_path: Path) -> None:
    sweep = hydra_sweep_runner(
        calling_file=None,
        calling_module="hydra.test_utils.a_module",
        task_function=lambda cfg: cfg.a,
        config_path=None,
        config_name=None,
        overrides=[
            "hydra/launcher=hydraflow_slurm",
            *FAST,
            "hydra.launcher.max_array_size=2",
            "hydra.launcher.array_parallelism=1",
            "+a=range(3)",
        ],
        temp_dir=tmp_path / "sweep",
    )
    with sweep:
        returns = sweep.returns[0]
        assert [r.return_value for r in returns] == [0, 1, 2]
        ids = [str(r.hydra_cfg.hydra.job.id) for r in returns]
        scripts = [p.read_text() for p in (tmp_path / "sweep").rglob("*_submission.sh")]
    arrays = [i.split("_")[0] for i in ids]
    assert arrays[0] == arrays[1] != arrays[2]
    # an array of two tasks; the single leftover job is submitted as a plain job (submitit makes no 1-task array)
    assert [i.partition("_")[2] for i in ids] == ["0", "1", ""]
    assert sum("#SBATCH --array=0-1%1\n" in text for text in scripts) == 1  # a throttle that limits is kept


@pytest.mark.slurm
def test_max_array_size_is_read_from_the_cluster() -> None:
    text = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=True).stdout
    expected = int(re.search(r"^MaxArraySize\s*=\s*(\d+)", text, re.MULTILINE).group(1))
    assert cluster_max_array_size() == expected
    # the launcher field can only lower the cluster's limit
    assert effective_max_array_size(None) == expected
    assert effective_max_array_size(expected + 1000) == expected
    assert effective_max_array_size(3) == 3
    with pytest.raises(ValueError, match="max_array_size must be >= 1"):  # checked with the other settings
        SlurmConfig.from_params({"max_array_size": 0})


@pytest.mark.slurm
def test_stock_submitit_slurm_runs_with_hydraflow_sweeper(tmp_path: Path) -> None:
    ctl = Controller(tmp_path)
    cmd = [
        sys.executable,
        str(ctl.app),
        "-m",
        "hydra/launcher=submitit_slurm",
        "hydra/sweeper=hydraflow",
        f"hydra.sweep.dir={tmp_path}/sweep",
        "hydra.launcher.timeout_min=5",
        "+a=0,1",
    ]
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=ctl.env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in ctl.marks.glob("*.done")) == ["0.done", "1.done"]


def test_parse_max_array_size() -> None:
    assert parse_max_array_size("MaxArraySize            = 1001\n") == 1001
    assert parse_max_array_size("MaxJobCount = 5\n") is None


def test_parse_job_states() -> None:
    text = (
        "7_0|COMPLETED\n7_1|CANCELLED by 0\n7_[2-4%2]|PENDING\n7_5|RUNNING\n7.batch|COMPLETED\n8|NODE_FAIL\n"
    )
    assert parse_job_states(text) == {
        "7_0": "COMPLETED",
        "7_1": "CANCELLED",
        "7_2": "PENDING",
        "7_3": "PENDING",
        "7_4": "PENDING",
        "7_5": "RUNNING",
        "8": "NODE_FAIL",
    }


GROUP_APP = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import hydra

    @hydra.main(version_base=None, config_path="conf", config_name="config")
    def main(cfg):
        # the job's config came from the controller's base of its combination (the module is only imported then)
        used_base = "hydraflow.hydra_adapter.compose" in sys.modules
        Path(f"used_base_{cfg.db.driver}_{cfg.lr}").write_text(str(used_base))

    if __name__ == "__main__":
        main()
    """
)


@pytest.mark.slurm
def test_job_configs_from_controller_bases_equal_the_basic_launchers(db_group_app) -> None:
    sweep = db_group_app(GROUP_APP)
    args = ["db=mysql,postgres", "lr=1,2,3", "db.port=7", "hydra.job.chdir=true"]
    out, slurm = sweep("hydraflow_slurm", *FAST, *args)
    used = {p.parent.name: p.read_text() for p in out.glob("*/used_base_*")}
    assert len(used) == 6
    assert set(used.values()) == {"True"}, used
    _, basic = sweep("basic", *args)
    assert len(basic) == 12
    assert slurm == basic
