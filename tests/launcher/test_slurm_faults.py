"""Faults of tracked jobs on the real SLURM cluster: stopped runs end KILLED, errors say where and why (issue 13).

A ``@hydraflow.main`` app on ``hydraflow_slurm`` writes to a real sqlite store in ``tmp_path``; each test has
its own submitit folder. What is checked: ``scancel``, Ctrl-C of the controller and a preemption (SIGTERM then
USR2, submitit's requeue) leave the runs KILLED with an end time (the requeued job resumes its run); a job that
raises is reported with its traceback (the app's own file and lines, not ``<dynamic-code>``) and its log
paths; progress counts are current; a refused ``sbatch`` is one line and leaves nothing queued.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.filterwarnings("ignore:Future Hydra versions will no longer change:UserWarning"),
]

APP = textwrap.dedent(
    """
    import os, time
    from dataclasses import dataclass
    from pathlib import Path

    import hydraflow


    @dataclass
    class Config:
        a: int = 0


    def check(a):
        if a == 13:
            raise ValueError(f"a is {a}")


    @hydraflow.main(Config, tracking_uri=os.environ["HF_URI"])
    def app(run, cfg):
        marks = Path(os.environ["HF_MARKS"])
        starts = len(list(marks.glob(f"{cfg.a}.*")))
        array = os.environ.get("SLURM_ARRAY_JOB_ID")  # a sweep of one job is not an array
        job = f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}" if array else os.environ["SLURM_JOB_ID"]
        (marks / f"{cfg.a}.{starts}").write_text(f"{run.info.run_id} {job}")
        check(cfg.a)
        if cfg.a >= 100 and not (starts and cfg.a >= 200):  # 2xx: only the first start sleeps
            time.sleep(600)
    """
)
FAST = [
    "hydra.launcher.poll_interval_s=0.25",
    "hydra.launcher.max_poll_interval_s=2",
    "hydra.launcher.timeout_min=10",
]


class Sweep:
    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path
        (tmp_path / "app.py").write_text(APP + "\n\nif __name__ == '__main__':\n    app()\n")
        self.marks = tmp_path / "marks"
        self.marks.mkdir()
        self.uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        self.env = {**os.environ, "HF_URI": self.uri, "HF_MARKS": str(self.marks), "PYTHONUNBUFFERED": "1"}

    def argv(self, *args: str) -> list[str]:
        return [
            sys.executable,
            "app.py",
            "-m",
            "hydra/launcher=hydraflow_slurm",
            f"hydra.launcher.submitit_folder={self.root}/submitit/%j",
            "hydra.launcher.progress=log",
            *FAST,
            *args,
        ]

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            cwd=self.root,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def started(self, a: int, start: int = 0, timeout: float = 240) -> tuple[str, str]:
        """(run id, SLURM job id) of start number ``start`` of job ``a=...``, waiting for it."""
        mark = self.marks / f"{a}.{start}"
        deadline = time.monotonic() + timeout
        while not mark.exists() or not mark.read_text():
            assert time.monotonic() < deadline, f"job a={a} did not start"
            time.sleep(0.2)
        time.sleep(1.0)  # in time.sleep() now, with submitit's and hydraflow's signal handlers installed
        run_id, job_id = mark.read_text().split()
        return run_id, job_id

    def runs(self) -> dict[str, Any]:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(self.uri)
        exp = client.get_experiment_by_name("app")
        return {r.info.run_id: r for r in client.search_runs([exp.experiment_id], max_results=1000)}

    def wait_status(self, run_ids: list[str], status: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            runs = self.runs()
            if all(runs[r].info.status == status for r in run_ids):
                return runs
            assert time.monotonic() < deadline, {r: runs[r].info.status for r in run_ids}
            time.sleep(0.5)


def _array_gone(array: str) -> bool:
    out = subprocess.run(["squeue", "-h", "-j", array], capture_output=True, text=True, check=False)
    return out.stdout.strip() == ""


def test_scancel_ends_the_runs_killed_and_the_sweep_reports_it(tmp_path: Path) -> None:
    sweep = Sweep(tmp_path)
    with sweep.start("a=101,102") as proc:
        (run1, job1), (run2, _) = sweep.started(101), sweep.started(102)
        stopped = time.time() * 1000
        subprocess.run(["scancel", job1.split("_")[0]], check=True)
        out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1, out
    assert re.search(
        rf"scheduler job {job1}, ended in state CANCELLED without a result( \(on [^)]*\))?; logs: ", out
    ), out
    runs = sweep.wait_status([run1, run2], "KILLED")
    assert all(runs[r].info.end_time >= stopped for r in (run1, run2))


def test_double_ctrl_c_of_the_controller_cancels_once_exits_130_and_kills_the_runs(tmp_path: Path) -> None:
    sweep = Sweep(tmp_path)
    with sweep.start("a=103,104") as proc:
        (run1, job1), (run2, _) = sweep.started(103), sweep.started(104)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C at the terminal, twice (an impatient user)
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    array = job1.split("_")[0]
    assert proc.returncode == 130, out
    assert "Traceback" not in out
    message = f"hydraflow_slurm: SIGINT: cancelled 2 outstanding jobs of this sweep (job array {array})"
    assert out.count(message) == 1, out
    sweep.wait_status([run1, run2], "KILLED")
    deadline = time.monotonic() + 60
    while not _array_gone(array):
        assert time.monotonic() < deadline
        time.sleep(0.5)


def test_a_preempted_job_is_killed_then_requeued_and_its_run_resumed(tmp_path: Path) -> None:
    sweep = Sweep(tmp_path)
    with sweep.start("a=201", "hydra.launcher.max_num_timeout=1") as proc:  # submitit may call it a timeout
        run_id, job_id = sweep.started(201)
        # what SLURM does to a preempted job: SIGTERM (submitit ignores it), then the USR2 of --signal
        subprocess.run(["scancel", "--signal=SIGTERM", job_id], check=True)
        sweep.wait_status([run_id], "KILLED", timeout=30)  # marked at once, the job still running
        subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
        out, _ = proc.communicate(timeout=400)
    assert proc.returncode == 0, out
    second_run, second_job = (sweep.marks / "201.1").read_text().split()
    assert (second_run, second_job) == (run_id, job_id)  # the same SLURM job, requeued, resumed the run
    runs = sweep.runs()
    assert len(runs) == 1
    assert runs[run_id].info.status == "FINISHED"


def test_a_raising_job_is_reported_with_its_traceback_and_logs(tmp_path: Path) -> None:
    sweep = Sweep(tmp_path)
    out = sweep.run("a=12,13,14", "hydra/sweeper=hydraflow")
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    _, job_id = (sweep.marks / "13.0").read_text().split()
    folder = tmp_path / "submitit" / job_id
    logs = f"{folder}/{job_id}_0_log.out {folder}/{job_id}_0_log.err"
    assert "#1 FAILED: ValueError: a is 13 (log: " in text
    # the job's own traceback, in the app's file, with its source lines
    line = APP.splitlines().index("    check(cfg.a)") + 1
    assert f'File "{tmp_path / "app.py"}", line {line}, in app\n    check(cfg.a)' in text, text
    assert 'raise ValueError(f"a is {a}")\nValueError: a is 13' in text
    assert "<dynamic-code>" not in text
    assert f"logs of the job: {logs}" in text
    # the progress line at the end counts what is true now, not at the last query
    assert "hydraflow_slurm: 3/3 done, 1 failed, 0 running" in text
    assert "<dynamic-code>" not in (folder / f"{job_id}_0_log.err").read_text()


SBATCH_REFUSES = """#!/bin/sh
n=$(cat "{count}" 2>/dev/null || echo 0); echo $((n + 1)) > "{count}"
if [ "$n" -ge {accepted} ]; then echo "sbatch: error: Batch job submission failed: QOSMaxSubmitJobPerUserLimit" >&2; exit 1; fi
exec {real} "$@"
"""
REFUSAL = (
    "hydraflow_slurm: sbatch refused the job array: Batch job submission failed: QOSMaxSubmitJobPerUserLimit"
)


def _refusing_sbatch(tmp_path: Path, accepted: int) -> dict[str, str]:
    """PATH with an ``sbatch`` that passes its first ``accepted`` calls to the real one, then refuses."""
    bindir = tmp_path / f"bin{accepted}"
    bindir.mkdir()
    real = subprocess.run(["which", "sbatch"], capture_output=True, text=True, check=True).stdout.strip()
    wrapper = bindir / "sbatch"
    wrapper.write_text(SBATCH_REFUSES.format(count=bindir / "count", real=real, accepted=accepted))
    wrapper.chmod(0o755)
    return {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}


def _leftovers(folder: Path) -> list[str]:
    """Files of a submission that never happened: shared pickles, job pickles, submission scripts.

    (submitit links the script of an array it did submit there: a symlink, not counted.)
    """
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.is_symlink())


def test_a_refused_sbatch_is_one_line_and_leaves_nothing_queued_or_written(tmp_path: Path) -> None:
    sweep = Sweep(tmp_path)
    # refused at once: nothing submitted, nothing left in the submitit folder
    refusing = _refusing_sbatch(tmp_path, accepted=0)
    out = sweep.run("a=105,106", env=refusing)
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert text.count(REFUSAL) == 1, text
    assert "Traceback" not in text
    assert "sbatch: error:" not in text
    assert _leftovers(tmp_path / "submitit") == []
    assert not list(sweep.marks.iterdir())
    # the hydraflow sweeper also takes back the sweep directory of a sweep that ran nothing
    out = sweep.run("hydra/sweeper=hydraflow", "a=105,106", f"hydra.sweep.dir={tmp_path}/swept", env=refusing)
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert text.count(REFUSAL) == 1, text
    assert not (tmp_path / "swept").exists()
    assert _leftovers(tmp_path / "submitit") == []
    # two arrays of 2 (max_array_size=2): the first is queued, the second refused, the first cancelled
    out = sweep.run("a=105,106,107", "hydra.launcher.max_array_size=2", env=_refusing_sbatch(tmp_path, 1))
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert text.count(REFUSAL) == 1, text
    assert "Traceback" not in text
    assert "sbatch: error:" not in text
    array = re.search(r"job array (\d+): jobs #0-#1", text)
    assert array is not None, text
    assert f"cancelled 2 outstanding jobs of this sweep (job array {array[1]})" in text
    assert _leftovers(tmp_path / "submitit") == []  # the shared pickle too
    deadline = time.monotonic() + 60
    while not _array_gone(array[1]):
        assert time.monotonic() < deadline, f"array {array[1]} still queued"
        time.sleep(0.5)
