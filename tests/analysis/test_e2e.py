"""End to end: a real Hydra app using ``@hydraflow.main`` runs as a subprocess, then the analysis API loads it."""

from __future__ import annotations

import shutil
import textwrap

import pytest

from hydraflow.analysis import Run, iter_run_dirs

APP = textwrap.dedent(
    """
    from dataclasses import dataclass, field
    import os

    import mlflow
    import hydraflow


    @dataclass
    class Model:
        lr: float = 0.1
        depth: int = 2


    @dataclass
    class Config:
        model: Model = field(default_factory=Model)
        seed: int = 0
        tags: list = field(default_factory=lambda: ["a", "b"])


    @hydraflow.main(Config)
    def app(run, cfg):
        if cfg.seed == 99:
            raise RuntimeError("failing on purpose")
        mlflow.log_metric("loss", cfg.model.lr * cfg.model.depth + cfg.seed, step=0)
        mlflow.log_metric("loss", cfg.model.lr * cfg.model.depth, step=1)
        with open("result.txt", "w") as f:
            f.write(str(cfg.seed))
        mlflow.log_artifact("result.txt")


    if __name__ == "__main__":
        app()
    """
)


@pytest.mark.slow
def test_hydra_app_runs_load_back(tmp_path, empty_db, run_python):
    (tmp_path / "app.py").write_text(APP)
    shutil.copy(empty_db, tmp_path / "mlflow.db")  # skip MLflow's slow schema migrations
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {"MLFLOW_TRACKING_URI": uri}
    # one multirun (one interpreter: MLflow's import is slow); the seed=99 jobs fail, Hydra exits non-zero
    proc = run_python("app.py", "-m", "model.lr=0.1,0.01", "seed=1,99", env=env, check=False)
    assert proc.returncode != 0
    assert "failing on purpose" in proc.stderr

    runs = Run.load(iter_run_dirs("app", tracking_uri=uri), tracking_uri=uri)
    assert len(runs) == 4
    assert runs.n_unique("model.lr") == 2
    done = runs.filter(status="FINISHED")
    assert len(done) == 2
    assert runs.filter(seed=99).values("status") == ["FAILED", "FAILED"]
    run = done.get(model__lr=0.01, seed=1)
    assert run.get("metrics.loss") == pytest.approx(0.02)  # latest step
    assert run.info.experiment_name == "app"
    assert run.info.params["model.depth"] == "2"
    assert run.get("tags.hydraflow.fingerprint")
    assert run.get("tags") == ["a", "b"]  # config before info: the config key "tags" wins
    assert run.path("result.txt").read_text() == "1"
    assert run.path(".hydra/overrides.yaml").is_file()

    table = runs.sort("model.lr", "seed").to_arrow("model.lr", "seed", "metrics.loss", "status")
    assert table.column("seed").to_pylist() == [1, 99, 1, 99]
    losses = table.column("metrics.loss").to_pylist()
    assert losses[1] is None  # failed before logging: null in the frame
    assert losses[3] is None
    assert losses[0::2] == pytest.approx([0.02, 0.2])
    assert table.column("status").to_pylist() == ["FINISHED", "FAILED", "FINISHED", "FAILED"]
    agg = runs.group_by("status").agg(n=len, backend="polars")
    assert sorted(agg["n"].to_list()) == [2, 2]
