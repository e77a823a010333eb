"""``@hydraflow.main`` end to end: real Hydra apps as subprocesses against real MLflow stores.

Each subprocess pays MLflow's import cost, so the scenarios are chained inside a few tests instead of one
subprocess per assertion.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest
import yaml

from hydraflow.tracking import fingerprint

from .conftest import RETURNS_CALLBACK

if TYPE_CHECKING:
    from pathlib import Path

    from .conftest import Store

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _artifact_dir(run) -> Path:
    from hydraflow.store.uri import local_path

    path = local_path(run.info.artifact_uri)
    assert path is not None, run.info.artifact_uri
    return path


def _by_seed(runs) -> dict[int, object]:
    return {int(r.data.params["seed"]): r for r in runs}


@pytest.mark.slow
def test_sqlite_run_rerun_fail_resume_delete(  # noqa: PLR0915
    tracking_store: Store,
) -> None:
    s = tracking_store
    # 1. a two-job multirun: two FINISHED runs with params, tags and artifacts; return values reach Hydra
    s.run("-m", "seed=1,2", RETURNS_CALLBACK)
    runs = _by_seed(s.runs())
    assert sorted(runs) == [1, 2]
    assert len(s.calls()) == 2
    run = runs[1]
    assert run.info.status == "FINISHED"
    assert run.data.params["model.depth"] == "2"
    assert run.data.params["model.width"] == "0.5"
    assert run.data.params["note"] == "x"
    expected_id = fingerprint({"model": {"depth": 2, "width": 0.5}, "seed": 1}, "model", "seed", length=16)
    assert run.data.params["target_id"] == expected_id
    assert run.data.tags["hydraflow.job_name"] == "app"
    assert run.data.tags["hydraflow.version"]
    cfg = {"model": {"depth": 2, "width": 0.5}, "seed": 1, "note": "x", "target_id": expected_id}
    assert run.data.tags["hydraflow.fingerprint"] == fingerprint(cfg)
    assert run.data.tags["hydraflow.overrides_fingerprint"] == fingerprint(["seed=1"])
    art = _artifact_dir(run)
    assert yaml.safe_load((art / ".hydra" / "config.yaml").read_text())["seed"] == 1
    assert yaml.safe_load((art / ".hydra" / "overrides.yaml").read_text()) == ["seed=1"]
    assert (art / ".hydra" / "hydra.yaml").is_file()
    assert (art / "app.log").is_file()
    # run dir layout <artifact_root>/<experiment_id>/<run_id>/artifacts
    assert art.name == "artifacts"
    assert art.parent.name == run.info.run_id
    assert art.parent.parent.name == run.info.experiment_id
    assert sorted((r["seed"], r["value"]) for r in s.returns()) == [(1, 10), (2, 20)]
    # the (key, value) index that keeps the fingerprint lookup flat was added to the sqlite store
    with contextlib.closing(sqlite3.connect(s.root / "mlflow.db")) as con:
        names = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "hydraflow_tags_key_value" in names

    # 2. the same sweep again: the function is not called, no new run, Hydra gets the stored return values
    s.returns_file.unlink()
    proc = s.run("-m", "seed=1,2", RETURNS_CALLBACK)
    assert len(s.calls()) == 2
    assert len(s.runs()) == 2
    assert "is FINISHED" in proc.stdout + proc.stderr
    assert sorted((r["seed"], r["value"]) for r in s.returns()) == [(1, 10), (2, 20)]

    # 3. a failing job: run FAILED, exception re-raised (non-zero exit), config already logged
    proc = s.run("seed=3", env={"HF_FAIL": "3"}, check=False)
    assert proc.returncode != 0
    assert "failing on purpose" in proc.stderr
    failed = _by_seed(s.runs())[3]
    assert failed.info.status == "FAILED"
    assert (_artifact_dir(failed) / ".hydra" / "config.yaml").is_file()
    # ... is resumed under the same run id
    s.run("seed=3")
    resumed = _by_seed(s.runs())[3]
    assert resumed.info.run_id == failed.info.run_id
    assert resumed.info.status == "FINISHED"
    assert [c["run_id"] for c in s.calls() if c["seed"] == 3] == [failed.info.run_id] * 2
    assert len(s.runs()) == 3

    # 4. a deleted run does not block: a new run is made
    s.client().delete_run(runs[2].info.run_id)
    s.run("seed=2")
    active = _by_seed(s.runs())
    assert active[2].info.run_id != runs[2].info.run_id
    assert active[2].info.status == "FINISHED"
    assert len(s.runs(all_runs=True)) == 4

    # 5. rerun_finished: the function runs again into the same run; force_new_run: always a new run
    s.run("-m", "seed=1", env={"HF_RERUN": "1"})
    assert _by_seed(s.runs())[1].info.run_id == runs[1].info.run_id
    assert [c["run_id"] for c in s.calls() if c["seed"] == 1] == [runs[1].info.run_id] * 2
    s.run("seed=1", env={"HF_FORCE": "1"})
    seed1 = [r for r in s.runs() if r.data.params["seed"] == "1"]
    assert len(seed1) == 2
    assert len([c for c in s.calls() if c["seed"] == 1]) == 3


@pytest.mark.slow
def test_match_overrides_and_dry_run(tracking_store: Store) -> None:
    s = tracking_store
    s.run("seed=5")
    assert len(s.calls()) == 1
    # a changed default changes the resolved config: a new run by fingerprint ...
    # ... but with match_overrides the same command line finds the existing run
    s.run("seed=5", env={"HF_WIDTH": "0.75", "HF_MATCH": "1"})
    assert len(s.calls()) == 1
    assert len(s.runs()) == 1
    s.run("seed=5", env={"HF_WIDTH": "0.75"})
    assert len(s.calls()) == 2
    assert len(s.runs()) == 2

    # --dry-run: config and fingerprint printed, no run, no call, nothing in the store
    proc = s.run("--dry-run", "seed=9")
    out = proc.stdout + proc.stderr
    assert "hydraflow dry run" in out
    assert "seed: 9" in out
    assert len(s.calls()) == 2
    assert len(s.runs()) == 2
    proc = s.run("-m", "seed=10,11", "--dry-run")
    assert (proc.stdout + proc.stderr).count("hydraflow dry run") == 2
    assert len(s.runs()) == 2
    # forked workers get the choice with the task, not through the environment; the app's process keeps its
    # own command line and environment
    after = s.root / "after.json"
    local = ("hydra/launcher=hydraflow_local", "hydra.sweep.dir=dry_local")
    s.run("-m", "seed=12,13", *local, "--dry-run", env={"HF_AFTER": str(after)})
    logs = [p.read_text() for p in (s.root / "dry_local").rglob("app.log")]
    assert len(logs) == 2
    assert all("hydraflow dry run" in text for text in logs)
    assert len(s.runs()) == 2
    assert len(s.calls()) == 2
    assert json.loads(after.read_text()) == {"argv_kept": True, "dry_env": None}
    # the environment setting, read by each job
    proc = s.run("seed=14", env={"HYDRAFLOW_DRY_RUN": "1"})
    assert "hydraflow dry run" in proc.stdout + proc.stderr
    assert len(s.runs()) == 2
    assert len(s.calls()) == 2

    # MLflow's default store (sqlite:///mlflow.db, ./mlruns) while Hydra changes into the job's output
    # directory: still the store of the directory the app was started from
    s.run("seed=6", "hydra.job.chdir=True", env={"HF_URI": ""})
    assert len(s.runs()) == 3
    assert not list((s.root / "outputs").rglob("mlflow.db"))
    assert not list((s.root / "outputs").rglob("mlruns"))


@pytest.mark.parametrize(
    "tracking_store", ["file", pytest.param("server", marks=pytest.mark.slow)], indirect=True
)
def test_other_stores(tracking_store: Store) -> None:
    s = tracking_store
    s.run("-m", "seed=1,2")
    runs = s.runs()
    assert len(runs) == 2
    assert {r.info.status for r in runs} == {"FINISHED"}
    s.run("-m", "seed=1,2")
    assert len(s.calls()) == 2
    assert len(s.runs()) == 2
    client = s.client()
    names = {f.path for f in client.list_artifacts(runs[0].info.run_id)}
    assert names == {".hydra", "app.log"}
    hydra_files = {f.path for f in client.list_artifacts(runs[0].info.run_id, ".hydra")}
    assert hydra_files == {".hydra/config.yaml", ".hydra/overrides.yaml", ".hydra/hydra.yaml"}
    if s.kind == "file":
        run = runs[0]
        assert (_artifact_dir(run) / ".hydra" / "config.yaml").is_file()
        # the lock files live beside the store, never inside it
        assert not any(p.name.endswith(".lock") for p in (s.root / "mlruns").rglob("*"))


@pytest.mark.slow
def test_chdir_and_yaml_config_path(tracking_store: Store) -> None:
    s = tracking_store
    s.run("seed=4", env={"HF_CHDIR": "1"})
    (run,) = s.runs()
    art = _artifact_dir(run)
    assert (art / "made_in_cwd.txt").read_text() == "hello"
    assert s.calls()[0]["cwd"] == str(art)

    # a YAML config directory works as with hydra.main; the schema is stored as <name>_schema; update() runs
    # before the fingerprint and its result is what is logged and saved
    (s.root / "conf").mkdir()
    (s.root / "conf" / "config.yaml").write_text("defaults:\n  - config_schema\n  - _self_\nseed: 7\n")
    (s.root / "yaml_app.py").write_text(
        textwrap.dedent(
            """
            import json, os
            from dataclasses import dataclass
            import hydraflow

            @dataclass
            class Schema:
                seed: int = 0
                lr: float = 0.1

            def double_lr(cfg):
                cfg.lr = cfg.lr * 2

            @hydraflow.main(Schema, config_path="conf", tracking_uri=os.environ["HF_URI"], update=double_lr)
            def job(run, cfg):
                with open(os.environ["HF_SIDE"], "a") as f:
                    f.write(json.dumps({"seed": cfg.seed, "lr": cfg.lr}) + "\\n")

            if __name__ == "__main__":
                job()
            """
        )
    )
    env = {**os.environ, "HF_URI": s.uri, "HF_SIDE": str(s.side)}
    proc = subprocess.run(
        [sys.executable, "yaml_app.py", "lr=0.5"],
        cwd=s.root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert s.calls()[-1] == {"seed": 7, "lr": 1.0}
    (yaml_run,) = s.runs("yaml_app")
    assert yaml_run.data.params == {"seed": "7", "lr": "1.0"}
    saved = yaml.safe_load((_artifact_dir(yaml_run) / ".hydra" / "config.yaml").read_text())
    assert saved["lr"] == 1.0
    assert yaml_run.data.tags["hydraflow.fingerprint"] == fingerprint({"seed": 7, "lr": 1.0})
