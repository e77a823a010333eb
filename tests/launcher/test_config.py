"""Launcher settings (``hydraflow.launch.config``): checked when the launcher is set up, before anything is written."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from hydraflow.launch.config import LauncherConfigError, LocalConfig, PBSConfig, SlurmConfig

if TYPE_CHECKING:
    from pathlib import Path

APP = textwrap.dedent(
    """
    import hydra

    @hydra.main(version_base=None, config_path=None)
    def main(cfg):
        raise SystemExit("a job ran")

    if __name__ == "__main__":
        main()
    """
)


@pytest.mark.parametrize(
    ("launcher", "setting", "message"),
    [
        (
            "hydraflow_local",
            "hydra.launcher.n_jobs=0",
            "hydra.launcher.n_jobs must be >= 1 (or null for all cores), got 0",
        ),
        (
            "hydraflow_local",
            "hydra.launcher.timeout_s=-1",
            "hydra.launcher.timeout_s must be > 0 (or null), got -1.0",
        ),
        (
            "hydraflow_local",
            "hydra.launcher.progress=loud",
            "hydra.launcher.progress must be one of auto, bar, log",
        ),
        (
            "hydraflow_slurm",
            "hydra.launcher.poll_interval_s=0",
            "hydra.launcher.poll_interval_s must be > 0, got 0.0",
        ),
        ("hydraflow_slurm", "hydra.launcher.max_array_size=0", "hydra.launcher.max_array_size must be >= 1"),
        (
            "hydraflow_slurm",
            "++hydra.launcher.nosuch=1",
            "hydra.launcher: unknown field(s) ['nosuch'] for hydraflow_slurm",
        ),
        (
            "hydraflow_slurm",
            "hydra.launcher.gpus_per_job=0.5",
            (
                "hydra.launcher.gpus_per_job needs GPUs in each task: request them (hydra.launcher.gpus_per_task, "
                "gpus_per_node or gres=gpu:N), got 0.5"
            ),
        ),
        (
            "hydraflow_slurm",
            "hydra.launcher.jobs_per_task=0",
            "hydra.launcher.jobs_per_task must be >= 1, got 0",
        ),
        (
            "hydraflow_pbs",
            "hydra.launcher.gpus_per_job=0.3",
            "hydra.launcher.gpus_per_job must be a whole number of GPUs or a fraction 1/n such as 0.5 or 0.25",
        ),
        (
            "hydraflow_pbs",
            "hydra.launcher.dialect=sge",
            "hydra.launcher.dialect must be one of pbspro, torque, got 'sge'",
        ),
        (
            "hydraflow_pbs",
            "hydra.launcher.queue='a b'",
            "hydra.launcher (hydraflow_pbs): PBS parameter queue='a b'",
        ),
    ],
)
@pytest.mark.parametrize("sweeper", ["hydraflow", "basic"])
def test_bad_setting_is_a_clear_error_with_nothing_written(
    tmp_path: Path, sweeper: str, launcher: str, setting: str, message: str
) -> None:
    (tmp_path / "app.py").write_text(APP)
    sweep_dir = tmp_path / "sweep"
    cmd = [sys.executable, "app.py", "-m", f"hydra/sweeper={sweeper}", f"hydra/launcher={launcher}"]
    cmd += [f"hydra.sweep.dir={sweep_dir}", setting, "+a=1,2"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr  # Hydra prints the message alone
    assert not sweep_dir.exists()  # no multirun.yaml, no job directory


def test_fields_are_checked_and_named() -> None:
    assert LocalConfig.from_params({"n_jobs": 3, "timeout_s": 1.5}).n_jobs == 3
    with pytest.raises(LauncherConfigError, match=r"hydra\.launcher\.kill_grace_s must be >= 0, got -1"):
        LocalConfig.from_params({"kill_grace_s": -1})
    with pytest.raises(LauncherConfigError, match=r"max_poll_interval_s must be >= poll_interval_s \(5\)"):
        SlurmConfig.from_params({"poll_interval_s": 5, "max_poll_interval_s": 1})
    with pytest.raises(LauncherConfigError, match=r"hydra\.launcher\.array_parallelism must be >= 1"):
        PBSConfig.from_params({"array_parallelism": 0})
    with pytest.raises(LauncherConfigError, match=r"unknown field\(s\) \['partition'\] for hydraflow_pbs"):
        PBSConfig.from_params({"partition": "debug"})


def test_packing_fields_are_checked_and_named() -> None:
    assert SlurmConfig.from_params({"jobs_per_task": 50}).packing
    with pytest.raises(LauncherConfigError, match=r"cpus_per_job must be <= cpus_per_task \(2\) unless"):
        SlurmConfig.from_params({"cpus_per_task": 2, "cpus_per_job": 4})
    with pytest.raises(
        LauncherConfigError, match=r"jobs_per_task packs jobs into single-node, single-process"
    ):
        SlurmConfig.from_params({"jobs_per_task": 4, "nodes": 2})
    with pytest.raises(LauncherConfigError, match=r"gpus_per_job must be <= the GPUs a task requests \(1\)"):
        SlurmConfig.from_params({"gres": "gpu:1", "gpus_per_job": 2})
    with pytest.raises(LauncherConfigError, match=r"job_duration_s must fit in a task: <= .* = 480 s"):
        SlurmConfig.from_params({"timeout_min": 10, "job_duration_s": 600})
    with pytest.raises(LauncherConfigError, match=r"hydra\.launcher\.max_tasks must be >= 1 \(or null\)"):
        PBSConfig.from_params({"max_tasks": 0})
    assert PBSConfig.from_params({"ngpus": 2, "gpus_per_job": 0.25}).workers(gpus=2) == 1  # one CPU per task
    assert PBSConfig.from_params({"ngpus": 2, "gpus_per_job": 0.25, "cpus_per_task": 16}).workers(gpus=2) == 8


@pytest.mark.parametrize(
    ("fields", "jobs", "per_task"),
    [
        ({}, 10, 1),
        ({"jobs_per_task": 50}, 200, 50),
        ({"jobs_per_task": 50}, 20, 20),
        ({"max_tasks": 4}, 201, 51),
        ({"max_tasks": 4, "jobs_per_task": 100}, 201, 100),
        # job_duration_s alone: as many as the workers finish in timeout_min * 60 - signal_delay_s
        ({"job_duration_s": 1, "timeout_min": 10, "signal_delay_s": 120, "cpus_per_task": 4}, 10_000, 1920),
        ({"job_duration_s": 1, "timeout_min": 10, "signal_delay_s": 120}, 100, 100),
        ({"job_duration_s": 10, "max_tasks": 10, "timeout_min": 10, "signal_delay_s": 120}, 400, 40),
    ],
)
def test_jobs_per_task_sizing(fields: dict, jobs: int, per_task: int) -> None:
    assert SlurmConfig.from_params(fields).jobs_per_task_for(jobs) == per_task


def test_each_field_maps_to_its_executor_parameter() -> None:
    slurm = SlurmConfig(name="app", timeout_min=5, cpus_per_task=2, partition="debug", setup=["x"])
    assert slurm.executor_parameters("sbatch") == {
        "time": 5,
        "cpus_per_task": 2,
        "ntasks_per_node": 1,
        "nodes": 1,
        "job_name": "app",
        "stderr_to_stdout": False,
        "setup": ["x"],
        "array_parallelism": 256,
        "partition": "debug",
        "signal_delay_s": 120,
        "additional_parameters": {},
    }
    pbs = PBSConfig(name="app", cpus_per_task=2, queue="q", ngpus=1)
    assert pbs.executor_parameters("pbs") == {
        "timeout_min": 60,
        "ncpus": 2,
        "mpiprocs": 1,
        "nodes": 1,
        "job_name": "app",
        "stderr_to_stdout": False,
        "array_parallelism": 256,
        "queue": "q",
        "ngpus": 1,
        "signal_delay_s": 90,
        "additional_resources": {},
        "additional_directives": [],
    }
