"""`hydraflow run --submit`: the same job file sent to the real SLURM cluster through hydra/launcher=hydraflow_slurm."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_submit_sends_the_job_to_slurm(tmp_path: Path, tracked_app: str) -> None:
    (tmp_path / "app.py").write_text(tracked_app)
    (tmp_path / "hydraflow.yaml").write_text(
        "jobs:\n  train:\n    run: python app.py\n    sets:\n      - each: x=1:2 y=b\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hydraflow",
            "run",
            "train",
            "--submit",
            "--add",
            "hydra.launcher.poll_interval_s=1",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "hydra/launcher=hydraflow_slurm" in proc.stdout
    assert "hydraflow_slurm: submitting 2 jobs as 1 job array" in out
    assert "summary: 1 ok, 0 failed, 0 skipped" in proc.stdout
    with contextlib.closing(sqlite3.connect(tmp_path / "mlflow.db")) as db:
        rows = db.execute(
            "SELECT r.status, p.value FROM runs r JOIN params p ON p.run_uuid = r.run_uuid AND p.key = 'x'"
        ).fetchall()
    assert sorted(rows) == [("FINISHED", "1"), ("FINISHED", "2")]
