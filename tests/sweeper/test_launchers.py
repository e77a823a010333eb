"""``hydra/sweeper=hydraflow`` with every launcher installed here (real subprocesses, real SLURM)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "examples" / "sweeper_app" / "my_app.py")
SWEEP = ["-m", "lr=1:2", "model=cnn,vit"]
BATCHED = "hydra.sweeper.max_batch_size=3"  # two batches: job numbers must continue in the second one
EXPECTED = [
    ["lr=1", "model=cnn"],
    ["lr=1", "model=vit"],
    ["lr=2", "model=cnn"],
    ["lr=2", "model=vit"],
]


def check_jobs(sweep_dir: Path) -> None:
    dirs = sorted(
        (p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)
    )
    assert [d.name for d in dirs] == ["0", "1", "2", "3"]
    for n, d in enumerate(dirs):
        assert yaml.safe_load((d / ".hydra" / "overrides.yaml").read_text()) == EXPECTED[n]
        hydra_cfg = yaml.safe_load((d / ".hydra" / "hydra.yaml").read_text())["hydra"]
        assert hydra_cfg["job"]["num"] == n  # numbering continues into the second batch
        config = yaml.safe_load((d / ".hydra" / "config.yaml").read_text())
        assert config["model"]["name"] == EXPECTED[n][1].split("=")[1]
    assert (sweep_dir / "multirun.yaml").is_file()


@pytest.mark.parametrize(
    "launcher",
    [
        pytest.param(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", BATCHED], id="joblib"),
        pytest.param(
            ["hydra/launcher=hydraflow_local", "hydra.launcher.n_jobs=2", BATCHED], id="hydraflow_local"
        ),
        pytest.param(  # one batch: every submitit_local batch costs seconds of polling
            [
                "hydra/launcher=submitit_local",
                "hydra.launcher.timeout_min=5",
                "hydra.launcher.cpus_per_task=1",
            ],
            id="submitit_local",
        ),
    ],
)
def test_local_launchers(run_python, tmp_path: Path, launcher: list[str]) -> None:
    sweep_dir = tmp_path / "sweep"
    run_python(APP, *SWEEP, *launcher, f"hydra.sweep.dir={sweep_dir}", timeout=240)
    check_jobs(sweep_dir)


@pytest.mark.slurm
@pytest.mark.parametrize(
    "launcher",
    [
        pytest.param(
            [
                "hydra/launcher=submitit_slurm",
                "hydra.launcher.partition=debug",
                "hydra.launcher.timeout_min=5",
                "hydra.launcher.cpus_per_task=1",
                BATCHED,
            ],
            id="submitit_slurm",
        ),
        pytest.param(
            [
                "hydra/launcher=hydraflow_slurm",
                "hydra.launcher.partition=debug",
                "hydra.launcher.timeout_min=5",
                "hydra.launcher.cpus_per_task=1",
                "hydra.launcher.poll_interval_s=1",
                BATCHED,
            ],
            id="hydraflow_slurm",
        ),
    ],
)
def test_slurm_launchers(run_python, tmp_path: Path, launcher: list[str]) -> None:
    sweep_dir = tmp_path / "sweep"
    run_python(
        APP,
        *SWEEP,
        *launcher,
        f"hydra.sweep.dir={sweep_dir}",
        f"hydra.launcher.submitit_folder={tmp_path / 'submitit' / '%j'}",
        timeout=600,
    )
    check_jobs(sweep_dir)


@pytest.mark.torque
def test_hydraflow_pbs_launcher_torque_dialect(run_python, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    run_python(
        APP,
        *SWEEP,
        BATCHED,
        "hydra/launcher=hydraflow_pbs",
        "hydra.launcher.dialect=torque",
        "hydra.launcher.timeout_min=5",
        "hydra.launcher.poll_interval_s=0.5",
        f"hydra.sweep.dir={sweep_dir}",
        f"hydra.launcher.submitit_folder={tmp_path / 'submitit' / '%j'}",
        timeout=600,
    )
    check_jobs(sweep_dir)
