"""``hydra/launcher=hydraflow_pbs`` (``dialect=pbspro``) on the real OpenPBS server of tests/cluster/pbs_up.sh.

Controllers run as real subprocesses (``pbs_controller``, PBS client calls counted through PATH wrappers); job
states are checked with the server's own ``qstat -x``. Each test has its own sweep and submitit folders.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.pbs,
    pytest.mark.filterwarnings("ignore:Future Hydra versions will no longer change:UserWarning"),
]

FAST = ["hydra.launcher.poll_interval_s=0.25", "hydra.launcher.timeout_min=5", "hydra.launcher.progress=log"]


def _array(job_id: str) -> str:
    """``12[].pbshost`` for a sub-job id ``12[3].pbshost`` (PBS_JOBID inside the job)."""
    return re.sub(r"\[\d+\]", "[]", job_id)


def test_sweep_is_one_array_with_outputs_and_return_values(
    hydra_sweep_runner, tmp_path: Path, pbs_qstat, pbs_wait
) -> None:
    def task(cfg):
        print(f"hello from a={cfg.a}")
        return {"a": cfg.a, "job": os.environ["PBS_JOBID"]}

    sweep = hydra_sweep_runner(
        calling_file=None,
        calling_module="hydra.test_utils.a_module",
        task_function=task,
        config_path=None,
        config_name=None,
        overrides=["hydra/launcher=hydraflow_pbs", *FAST, "+a=0,1,2"],
        temp_dir=tmp_path / "sweep",
    )
    with sweep:
        returns = sweep.returns[0]
        assert [r.return_value["a"] for r in returns] == [0, 1, 2]
        ids = [str(r.hydra_cfg.hydra.job.id) for r in returns]
        seq = ids[0].split(".")[0]
        assert ids == [f"{seq}.pbshost_{k}" for k in range(3)]
        assert [r.return_value["job"] for r in returns] == [f"{seq}[{k}].pbshost" for k in range(3)]
        for k, r in enumerate(returns):
            job_dir = Path(r.hydra_cfg.hydra.runtime.output_dir)
            assert (job_dir / ".hydra" / "config.yaml").is_file()
            assert f"hello from a={k}" in (job_dir / "stdout.log").read_text()
        (script,) = [p.read_text() for p in (tmp_path / "sweep").rglob("*_submission.sh")]
        # the results come before PBS records the end of the array; wait for it before the runner deletes the
        # sweep folder (PBS would retry copying the scheduler's log into it)
        records = pbs_wait(
            lambda: (r := pbs_qstat(f"{seq}[].pbshost")) and r[f"{seq}[].pbshost"]["job_state"] == "F" and r,
            60,
            "the array to end",
        )
    assert "#PBS -J 0-2\n" in script
    assert {records[f"{seq}[{k}].pbshost"]["Exit_status"] for k in range(3)} == {0}


def test_failing_job_is_reported_and_the_others_finish(pbs_controller) -> None:
    ctl = pbs_controller
    proc = ctl.run("+a=0,1,2,3", "+mode=raise")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "#1 FAILED: ValueError: a is one" in out
    assert sorted(p.name for p in ctl.marks.glob("*.done")) == ["0.done", "2.done", "3.done"]
    assert ctl.count("qsub") == 1  # the whole batch is one job array
    # one qstat per poll for the whole array, backing off: a handful, not one per job
    assert 1 <= ctl.count("qstat") <= 15, ctl.count("qstat")
    assert ctl.count("qdel") == 0


def test_job_killed_inside_is_reported_with_its_logs(pbs_controller) -> None:
    ctl = pbs_controller
    proc = ctl.run("+a=0,1", "+mode=exit")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    match = re.search(r"#1 FAILED: .*scheduler job (\S+), ended in state (\w+)", out)
    assert match, out
    assert match[2] == "FAILED"
    assert (ctl.marks / "0.done").exists()


def test_one_job_batch_is_a_plain_job(pbs_controller) -> None:
    # PBS refuses "qsub -J 0-0": a one-job batch is submitted as a plain job
    ctl = pbs_controller
    proc = ctl.run("+a=5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (ctl.marks / "5.done").read_text() == "50"
    (script,) = ctl.scripts()
    assert "#PBS -J" not in script
    assert re.fullmatch(r"\d+\.pbshost", ctl.job_id(5))
    assert ctl.count("qsub") == 1


def test_batch_larger_than_max_array_size_is_split(pbs_controller) -> None:
    ctl = pbs_controller
    proc = ctl.run("+a=0,1,2,3,4", "hydra.launcher.max_array_size=2")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "submitting 5 jobs as 3 job arrays (at most 2 tasks each)" in out
    assert ctl.count("qsub") == 3
    ids = [ctl.job_id(a) for a in range(5)]
    arrays = [_array(i) for i in ids]
    assert arrays[0] == arrays[1] != arrays[2] == arrays[3] != arrays[4]
    assert "[" not in ids[4]  # the leftover job is a plain job
    assert sorted(s.count("#PBS -J 0-1\n") for s in ctl.scripts()) == [0, 1, 1]


@pytest.fixture
def server_max_array_size_3():
    """The server's max_array_size lowered to 3 for one test (restored afterwards)."""
    qmgr = [os.environ.get("HF_PBS_PREFIX", "/opt/pbs") + "/bin/qmgr", "-c"]
    before = subprocess.run(["qstat", "-Bf"], capture_output=True, text=True, check=True).stdout
    old = re.search(r"max_array_size = (\d+)", before)
    subprocess.run([*qmgr, "set server max_array_size = 3"], check=True)
    try:
        yield
    finally:
        subprocess.run([*qmgr, f"set server max_array_size = {old[1] if old else 10000}"], check=True)


def test_batch_is_split_at_the_servers_max_array_size(pbs_controller, server_max_array_size_3) -> None:
    ctl = pbs_controller
    proc = ctl.run("+a=0,1,2,3,4")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "submitting 5 jobs as 2 job arrays (at most 3 tasks each)" in out
    arrays = [_array(ctl.job_id(a)) for a in range(5)]
    assert arrays[0] == arrays[1] == arrays[2] != arrays[3] == arrays[4]


def test_qdel_of_a_running_and_of_a_queued_subjob_is_reported(pbs_controller) -> None:
    ctl = pbs_controller
    start = time.monotonic()
    with ctl.popen("+a=0,1,2", "+mode=sleep0", "hydra.launcher.array_parallelism=1") as proc:
        running = ctl.job_id(0)
        queued = running.replace("[0]", "[2]")
        subprocess.run(["qdel", running, queued], check=True)
        out, _ = proc.communicate(timeout=180)
    assert proc.returncode != 0
    assert time.monotonic() - start < 120
    assert re.search(
        r"#0 FAILED: .*ended in state CANCELLED \(deleted while running\) without a result", out
    ), out
    assert re.search(
        r"#2 FAILED: .*ended in state CANCELLED \(deleted before it started\) without a result", out
    ), out
    assert (ctl.marks / "1.done").exists()
    assert not list(ctl.marks.glob("2.start.*"))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_the_controller_cancels_the_sweep(
    pbs_controller, pbs_qstat, pbs_wait, signum: int
) -> None:
    ctl = pbs_controller
    with ctl.popen("+a=0,1,2,3", "+mode=sleepall", "hydra.launcher.array_parallelism=2") as proc:
        array = _array(ctl.job_id(0))
        ctl.job_id(1)  # -J 0-3%2: jobs 0 and 1 run, 2 and 3 wait
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    seq = array.split("[")[0]
    assert f"cancelled 4 outstanding jobs of this sweep (job array {seq}.pbshost)" in out
    assert ctl.count("qdel") == 1

    def all_ended():
        records = pbs_qstat(array)
        return len(records) == 5 and all(r["job_state"] == "F" for r in records.values()) and records

    records = pbs_wait(all_ended, 60, f"array {array} to end")
    subjobs = {k: v for k, v in records.items() if "[]" not in k}
    assert {v["substate"] for v in subjobs.values()} == {91}  # every one deleted by the qdel
    ran = sorted(k for k, v in subjobs.items() if "exec_host" in v)
    assert ran == [f"{seq}[0].pbshost", f"{seq}[1].pbshost"]  # the other two never started


def test_walltime_warning_requeues(pbs_controller, pbs_qstat) -> None:
    # 1-minute walltime, USR2 sent by the job itself 45 s before it: the job that sleeps is checkpointed and
    # requeued with qrerun (same id), and its second run finishes.
    ctl = pbs_controller
    args = ["+a=0,1", "+mode=preempt", "hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=45"]
    proc = ctl.run(*args, "hydra.launcher.max_num_timeout=1", timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert (ctl.marks / "1.done").read_text() == "10"
    starts = sorted(ctl.marks.glob("1.start.*"))
    assert len(starts) == 2
    job_id = starts[0].read_text()
    assert starts[1].read_text() == job_id  # qrerun: the same sub-job, run again
    assert pbs_qstat(job_id)[job_id]["run_count"] == 2
    assert ctl.count("qrerun") == 1


def test_requeue_stops_at_max_num_timeout(pbs_controller) -> None:
    # a job that always overruns: requeued once (max_num_timeout=1), then ends as timed out too many times
    # (the SIGTERM of its own qrerun must not overwrite the checkpoint's decremented countdown)
    ctl = pbs_controller
    args = ["+a=0", "+mode=sleepall", "hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=50"]
    proc = ctl.run(*args, "hydra.launcher.max_num_timeout=1", timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "#0 FAILED: UncompletedJobError: Job not requeued because: timed-out too many times" in out
    assert len(list(ctl.marks.glob("0.start.*"))) == 2
    assert ctl.count("qrerun") == 1


def test_setup_additional_resources_and_directives(pbs_controller, pbs_qstat) -> None:
    ctl = pbs_controller
    setup_mark = ctl.tmp / "setup_ran"
    proc = ctl.run(
        "+a=0,1",
        f"hydra.launcher.setup=['export HF_FROM_SETUP=yes','touch {setup_mark}']",
        "+hydra.launcher.additional_resources={place: pack}",
        "hydra.launcher.additional_directives=[-p 7,-m n]",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert setup_mark.exists()
    (script,) = ctl.scripts()
    assert "#PBS -l place=pack\n#PBS" in script
    assert script.index("#PBS -p 7") < script.index("# setup") < script.index("export HF_FROM_SETUP=yes")
    array = _array(ctl.job_id(0))
    record = pbs_qstat(array)[array]
    assert record["Resource_List"]["place"] == "pack"
    assert record["Priority"] == 7
    assert record["Mail_Points"] == "n"


def test_refused_submissions_are_one_line_errors_and_leave_nothing_queued(pbs_controller, pbs_qstat) -> None:
    ctl = pbs_controller
    cases = {
        "hydra.launcher.queue=nosuchqueue": "qsub refused the job (exit ",
        "+hydra.launcher.additional_resources={nosuch: x}": "qsub: Unknown resource Resource_List.nosuch",
        f"hydra.launcher.submitit_folder='{ctl.tmp}/a b/%j'": "PBS parameter folder='",
        "hydra.launcher.name='bad name'": "PBS parameter job_name='bad name'",
    }
    for setting, message in cases.items():
        proc = ctl.run("+a=0,1", setting)
        assert proc.returncode == 1, (setting, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        # qsub's refusals come from the batch ("hydraflow_pbs: ..."), bad parameters from the launcher's
        # settings check before anything is written ("hydra.launcher (hydraflow_pbs): ...")
        assert lines[0].startswith(("hydraflow_pbs: ", "hydra.launcher (hydraflow_pbs): ")), (
            setting,
            proc.stderr,
        )
        assert message in lines[0], (setting, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert not list(ctl.marks.glob("*")), setting
    assert ctl.count("qsub") == 2  # the two parameter errors are found before qsub
    # nothing of the refused arrays is left: no job pickles, scripts or environment files
    left = [p.name for p in (ctl.tmp / "sweep" / ".submitit").rglob("*") if p.is_file()]
    assert left == []


def test_request_that_can_never_run_fails_instead_of_waiting(pbs_controller, pbs_qstat) -> None:
    ctl = pbs_controller
    start = time.monotonic()
    proc = ctl.run("+a=0,1", "hydra.launcher.cpus_per_task=64", timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert time.monotonic() - start < 90
    assert re.search(
        r"#0 FAILED: .*the scheduler says it can never run: Insufficient amount of resource: ncpus", out
    )
    assert ctl.count("qdel") == 1
    (array,) = {
        re.search(r"scheduler job (\d+)\.pbshost_\d", line)[1]
        for line in out.splitlines()
        if "#0 FAILED" in line
    }
    assert pbs_qstat(f"{array}[].pbshost")[f"{array}[].pbshost"]["job_state"] == "F"


TRACKED_APP = textwrap.dedent(
    """
    import os
    from dataclasses import dataclass
    from pathlib import Path

    import hydraflow


    @dataclass
    class Config:
        x: int = 0


    @hydraflow.main(Config)
    def app(run, cfg):
        Path(os.environ["MARKS"], f"ran.{cfg.x}.{os.getpid()}").touch()


    if __name__ == "__main__":
        app()
    """
)


@pytest.mark.slow
def test_rerun_of_a_tracked_sweep_skips_every_job(pbs_controller) -> None:
    ctl = pbs_controller
    ctl.app.write_text(TRACKED_APP)
    env = {k: v for k, v in ctl.env.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{ctl.tmp}/mlflow.db"
    ctl.env = env
    first = ctl.run("x=1,2,3")
    assert first.returncode == 0, first.stdout + first.stderr
    assert len(list(ctl.marks.glob("ran.*"))) == 3
    qsubs = ctl.count("qsub")
    second = ctl.run("x=1,2,3", "hydra.sweep.dir=" + str(ctl.tmp / "sweep2"))
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(list(ctl.marks.glob("ran.*"))) == 3  # no job ran the function again
    # the controller found the FINISHED runs before submitting (docs/many-short-jobs.md): nothing was queued
    assert "3 of 3 jobs already have a FINISHED MLflow run: not launched" in second.stdout + second.stderr
    assert ctl.count("qsub") == qsubs


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


def test_job_configs_from_controller_bases_equal_the_basic_launchers(db_group_app) -> None:
    sweep = db_group_app(GROUP_APP)
    args = ["db=mysql,postgres", "lr=1,2,3", "db.port=7", "hydra.job.chdir=true"]
    out, pbs = sweep("hydraflow_pbs", *FAST, *args)
    used = {p.parent.name: p.read_text() for p in out.glob("*/used_base_*")}
    assert len(used) == 6
    assert set(used.values()) == {"True"}, used
    _, basic = sweep("basic", *args)
    assert len(basic) == 12
    assert pbs == basic
