"""``hydraflow run JOB --launcher pbs``: a job file's sweep sent to the real OpenPBS server (hydraflow_pbs)."""

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

pytestmark = [pytest.mark.pbs, pytest.mark.slow]

APP = """\
from dataclasses import dataclass

import mlflow

import hydraflow


@dataclass
class Config:
    x: int = 0
    y: str = "a"


@hydraflow.main(Config)
def app(run, cfg):
    mlflow.log_metric("score", cfg.x * 10)


if __name__ == "__main__":
    app()
"""


def test_run_with_the_pbs_launcher_reaches_the_server(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "hydraflow.yaml").write_text(
        "jobs:\n  train:\n    run: python app.py\n    sets:\n      - each: x=1:3 y=b\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    cmd = [sys.executable, "-m", "hydraflow", "run", "train", "--launcher", "pbs"]
    cmd += ["--add", "hydra.launcher.poll_interval_s=0.5", "--add", "hydra.launcher.progress=log"]
    proc = subprocess.run(
        cmd, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600, check=False
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "hydra/launcher=hydraflow_pbs" in proc.stdout
    assert "hydraflow_pbs: submitting 3 jobs as 1 job array" in out
    assert "summary: 1 ok, 0 failed, 0 skipped" in proc.stdout
    scripts = [p.read_text() for p in tmp_path.rglob("*_submission.sh")]
    assert len(scripts) == 1
    assert "#PBS -J 0-2\n" in scripts[0]
    with contextlib.closing(sqlite3.connect(tmp_path / "mlflow.db")) as db:
        rows = db.execute(
            "SELECT r.status, p.value FROM runs r JOIN params p ON p.run_uuid = r.run_uuid AND p.key = 'x'"
        ).fetchall()
    assert sorted(rows) == [("FINISHED", "1"), ("FINISHED", "2"), ("FINISHED", "3")]
