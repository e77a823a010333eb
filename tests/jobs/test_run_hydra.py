"""A real `hydraflow run` of a Hydra app (hydraflow sweeper, local launcher, @hydraflow.main, sqlite MLflow store),
then `hydraflow runs` with its table and CSV/Parquet export, all as subprocesses in tmp_path."""

from __future__ import annotations

import contextlib
import csv
import os
import shlex
import sqlite3
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
import pytest

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


JOBS = """
jobs:
  train:
    run: python app.py
    add: hydra.launcher.n_jobs=2
    sets:
      - each: x=1,2,9 y=a,b sub.z/m=5
  after:
    run: python app.py
    needs: train
"""


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    out["PYTHONUNBUFFERED"] = "1"
    return out


def hydraflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hydraflow", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env(),
        timeout=600,
        check=False,
    )


def test_run_a_real_hydra_app_then_list_the_runs(tmp_path: Path, tracked_app: str) -> None:
    (tmp_path / "app.py").write_text(tracked_app)
    (tmp_path / "hydraflow.yaml").write_text(textwrap.dedent(JOBS).lstrip())

    proc = hydraflow("run", "after", cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "summary: 0 ok, 1 failed, 1 skipped" in proc.stdout, out
    assert "failed   train  set 1 exited with code 1" in proc.stdout
    # sub.z/m=5 is rejected by Hydra's command-line grammar: the set went through hydra.sweeper.params
    train_command = shlex.split(next(line for line in proc.stdout.splitlines() if line.startswith("$ "))[2:])
    assert train_command[-1] == "++hydra.sweeper={params:{x:'1,2,9', y:'a,b', sub.z/m:'5'}}"

    with contextlib.closing(sqlite3.connect(tmp_path / "mlflow.db")) as db:
        rows = db.execute(
            "SELECT r.status, p1.value, p2.value, p3.value FROM runs r "
            "JOIN params p1 ON p1.run_uuid = r.run_uuid AND p1.key = 'x' "
            "JOIN params p2 ON p2.run_uuid = r.run_uuid AND p2.key = 'y' "
            "JOIN params p3 ON p3.run_uuid = r.run_uuid AND p3.key = 'sub.z'"
        ).fetchall()
    assert sorted(rows) == [
        ("FAILED", "9", "a", "0.005"),
        ("FAILED", "9", "b", "0.005"),
        ("FINISHED", "1", "a", "0.005"),
        ("FINISHED", "1", "b", "0.005"),
        ("FINISHED", "2", "a", "0.005"),
        ("FINISHED", "2", "b", "0.005"),
    ]

    csv_path = tmp_path / "out" / "runs.csv"
    parquet_path = tmp_path / "out" / "runs.parquet"
    listed = hydraflow(
        "runs",
        "app",
        "--filter",
        "status=FINISHED",
        "--csv",
        str(csv_path),
        "--parquet",
        str(parquet_path),
        cwd=tmp_path,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    table = listed.stdout
    assert "4 runs of app" in table
    header = next(line for line in table.splitlines() if "run_id" in line)
    for column in ("run_id", "experiment", "status", "x", "y", "score"):
        assert column in header
    assert "fail" not in header  # the same in every finished run: not shown by default
    assert table.count("FINISHED") == 4
    assert "FAILED" not in table

    with csv_path.open() as f:
        records = list(csv.DictReader(f))
    assert sorted((r["x"], r["y"], r["score"]) for r in records) == [
        ("1", "a", "10"),
        ("1", "b", "11"),
        ("2", "a", "20"),
        ("2", "b", "21"),
    ]
    frame = pq.read_table(parquet_path).to_pydict()
    assert sorted(frame["score"]) == [10.0, 11.0, 20.0, 21.0]
    assert set(frame["status"]) == {"FINISHED"}
    assert "sub.z" in frame

    picked = hydraflow("runs", "-F", "x=2", "-F", "y=b", "-c", "x,y,score", cwd=tmp_path)
    assert picked.returncode == 0, picked.stderr
    assert "1 runs" in picked.stdout
    assert "21" in picked.stdout

    bad = hydraflow("runs", "-c", "scroe", cwd=tmp_path)
    assert bad.returncode == 2
    assert "unknown column 'scroe' (did you mean 'score'?)" in bad.stderr
