"""Fixtures of the packing tests: a Hydra app that reports what each job got, run as a real controller process.

``packed(tmp_path)`` (fixture ``packed``) writes the app and runs it with any launcher as a subprocess, with
``sbatch``/``sacct``/``squeue``/``scancel`` (and PBS's ``qsub``/``qstat``/``qdel``) counted through wrapper
scripts first on ``PATH``. Each job writes ``marks/<a>.start.<run>`` when it starts and ``<a>.done.<run>``
when it ends: JSON with its CPU affinity, GPU variables, task id, restart count and times.
"""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING, Any

import pytest
from hydraflow_test_controller import AppController

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

FAST = ["hydra.launcher.poll_interval_s=0.25", "hydra.launcher.progress=log"]
TOOLS = ("sbatch", "sacct", "squeue", "scancel", "qsub", "qstat", "qdel", "qsig", "qrerun")

APP = textwrap.dedent(
    """
    import json, os, time
    from pathlib import Path
    import hydra
    from hydra.core.hydra_config import HydraConfig

    @hydra.main(version_base=None, config_path=None)
    def main(cfg):
        a = int(cfg.get("a", 0))
        mode = cfg.get("mode", "ok")
        marks = Path(os.environ["MARKS"])
        runs = len(list(marks.glob(f"{a}.start.*")))
        task = os.environ.get("SLURM_ARRAY_JOB_ID", os.environ.get("PBS_ARRAY_ID", "")) + "_" + os.environ.get(
            "SLURM_ARRAY_TASK_ID", os.environ.get("PBS_ARRAY_INDEX", "")
        )
        info = {
            "a": a,
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "cpus": sorted(os.sched_getaffinity(0)),
            "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "rocr": os.environ.get("ROCR_VISIBLE_DEVICES"),
            "job_gpus": os.environ.get("SLURM_JOB_GPUS"),
            "task": task,
            "job_id": str(HydraConfig.get().job.id),
            "restart": os.environ.get("SLURM_RESTART_COUNT", "0"),
            "start": time.time(),
        }
        (marks / f"{a}.start.{runs}").write_text(json.dumps(info))
        print(f"job says a={a}", flush=True)
        if mode == "exit" and a == 1:
            os._exit(1)
        if mode == "raise" and a == 1:
            raise ValueError("a is one")
        if mode == "slow1" and a == 1:
            time.sleep(60)
        if mode == "slowlast" and a == int(cfg.last) and runs == 0:
            time.sleep(300)
        time.sleep(float(cfg.get("hold", 0)))
        info["end"] = time.time()
        (marks / f"{a}.done.{runs}").write_text(json.dumps(info))
        return a * 10

    if __name__ == "__main__":
        main()
    """
)

TRACKED_APP = textwrap.dedent(
    """
    import os
    from dataclasses import dataclass
    from pathlib import Path
    import hydraflow

    @dataclass
    class Config:
        a: int = 0
        b: float = 0.5

    @hydraflow.main(Config)
    def main(run, cfg):
        Path(os.environ["MARKS"], f"{cfg.a}.{run.info.run_id}").write_text(str(os.getpid()))
        return cfg.a * 10

    if __name__ == "__main__":
        main()
    """
)


class Packed(AppController):
    """The app in ``tmp``; :meth:`run` / :meth:`popen` run it with a launcher (its name) and its arguments."""

    def run(
        self, launcher: str, *args: str, sweep: str = "sweep", timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        return super().run(f"hydra/launcher={launcher}", *args, sweep=sweep, timeout=timeout)

    def popen(self, launcher: str, *args: str) -> subprocess.Popen[str]:
        return super().popen(f"hydra/launcher={launcher}", *args)

    def starts(self) -> list[dict[str, Any]]:
        """Every job start recorded, in (a, run) order."""
        return [json.loads(p.read_text()) for p in sorted(self.marks.glob("*.start.*"), key=_mark_key)]

    def done(self) -> list[dict[str, Any]]:
        """Every job end recorded (with start and end times), in (a, run) order."""
        return [json.loads(p.read_text()) for p in sorted(self.marks.glob("*.done.*"), key=_mark_key)]

    def task_logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted((self.tmp / "sweep").rglob("*_log.err")))


def _mark_key(path: Path) -> tuple[int, int]:
    a, _, run = path.name.split(".")
    return int(a), int(run)


def make_packed(tmp_path: Path, source: str = APP, extra_path: str = "") -> Packed:
    """The app ``source`` in ``tmp_path`` with counting wrappers (``extra_path``: where PBS's commands are)."""
    env: dict[str, str | None] = {
        "HYDRA_FULL_ERROR": "1",
        "PYTHONUNBUFFERED": "1",
        "MLFLOW_TRACKING_URI": None,
    }
    return Packed(tmp_path, source, tools=TOOLS, extra_path=extra_path, env=env)


@pytest.fixture
def packed(tmp_path: Path) -> Packed:
    return make_packed(tmp_path)


@pytest.fixture
def tracked(tmp_path: Path) -> Packed:
    """The ``@hydraflow.main`` app (sqlite store ``mlflow.db`` in ``tmp_path``)."""
    return make_packed(tmp_path, TRACKED_APP)


def overlapping(jobs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Pairs of jobs of the same task that ran at the same time (by their start/end times)."""
    return [
        (x, y)
        for i, x in enumerate(jobs)
        for y in jobs[i + 1 :]
        if x["task"] == y["task"] and x["start"] < y["end"] and y["start"] < x["end"]
    ]
