"""The N x M example end to end: `hydraflow run sample` builds the targets (needs: build-target), samples each
target with every sampler, and does nothing new the second time. Real subprocesses, real sqlite MLflow store."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hydraflow.jobs import load_job_file, plan

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "nxm"


def hydraflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "hydraflow", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )


def runs(db: Path) -> dict[str, list[dict[str, str]]]:
    """experiment name -> runs (run id, status, end time, params and tags)."""
    with contextlib.closing(sqlite3.connect(db)) as con:
        out: dict[str, list[dict[str, str]]] = {}
        for run_id, status, end, exp in con.execute(
            "SELECT r.run_uuid, r.status, r.end_time, e.name FROM runs r "
            "JOIN experiments e ON e.experiment_id = r.experiment_id"
        ):
            row = {"run_id": run_id, "status": status, "end_time": str(end)}
            row |= dict(con.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,)).fetchall())
            row |= {
                f"tag:{k}": v
                for k, v in con.execute(
                    "SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,)
                ).fetchall()
            }
            out.setdefault(exp, []).append(row)
    return out


def test_nxm_example_runs_once_and_resumes_to_nothing(tmp_path: Path) -> None:
    project = tmp_path / "nxm"
    shutil.copytree(
        EXAMPLE, project, ignore=shutil.ignore_patterns("mlruns", "multirun", "mlflow.db*", "__pycache__")
    )
    # the example's grid trimmed for test time: N = 2 targets, M = 2 samplers
    jobs = (project / "hydraflow.yaml").read_text()
    jobs = jobs.replace("data=sine,step", "data=sine").replace(
        "sampler=uniform,grid,antithetic", "sampler=uniform,grid"
    )
    (project / "hydraflow.yaml").write_text(jobs)

    planned = plan(load_job_file(project / "hydraflow.yaml"), ["sample"])
    assert [(job.name, [step.count for step in steps]) for job, steps in planned] == [
        ("build-target", [2]),
        ("sample", [4]),
    ]

    first = hydraflow("run", "sample", cwd=project)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "summary: 2 ok, 0 failed, 0 skipped" in first.stdout
    store = runs(project / "mlflow.db")
    builds, samples = store["build"], store["sample"]
    assert len(builds) == 2
    assert len(samples) == 4
    assert {r["status"] for r in builds + samples} == {"FINISHED"}
    # every sample run found the build run of its own (model, data, seed) through the id resolver
    by_id = {r["run_id"]: r for r in builds}
    assert len({r["target_id"] for r in builds}) == 2
    for s in samples:
        target = by_id[s["tag:target_run_id"]]
        assert (target["model"], target["data"], target["seed"]) == (s["model"], s["data"], s["seed"])
        assert target["target_id"] == s["target_id"]
    assert sorted((s["model"], s["sampler"]) for s in samples) == [
        ("cubic", "grid"),
        ("cubic", "uniform"),
        ("linear", "grid"),
        ("linear", "uniform"),
    ]

    second = hydraflow("run", "sample", cwd=project)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "summary: 2 ok, 0 failed, 0 skipped" in second.stdout
    again = runs(project / "mlflow.db")
    # nothing new: the same runs, untouched
    assert sorted((r["run_id"], r["end_time"]) for r in again["build"]) == sorted(
        (r["run_id"], r["end_time"]) for r in builds
    )
    assert sorted((r["run_id"], r["end_time"]) for r in again["sample"]) == sorted(
        (r["run_id"], r["end_time"]) for r in samples
    )
