"""Real MLflow stores in hydraflow's layout, built with MLflow's own client.

Each store holds the same runs:

- experiment ``train``: 6 runs, ``model.lr`` in (0.1, 0.01) x ``model.depth`` in (1, 2, 3); ``layers`` is a
  list, ``opt`` a dict; metric ``loss`` logged at 3 steps; the (0.01, 3) run FAILED, the others FINISHED;
- experiment ``eval``: 2 runs (``split`` = val/test), one also has ``extra: 5``;
- a deleted run in ``train`` and a deleted experiment ``old``.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

TRAIN_GRID = [(lr, depth) for lr in (0.1, 0.01) for depth in (1, 2, 3)]


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@dataclass
class Store:
    uri: str
    root: Path  # artifact root
    run_ids: dict[str, list[str]] = field(default_factory=dict)  # experiment -> active run ids
    deleted: list[str] = field(default_factory=list)

    def all_ids(self) -> list[str]:
        return [r for ids in self.run_ids.values() for r in ids]


def log_hydra_run(  # noqa: PLR0917
    client: Any,
    exp_id: str,
    job: str,
    cfg: dict[str, Any],
    overrides: list[str],
    losses: list[float],
    status: str = "FINISHED",
) -> str:
    """One run exactly as hydraflow.main lays it out (CONTRACTS.md store layout)."""
    from mlflow.entities import Metric, Param

    run = client.create_run(
        exp_id,
        tags={
            "hydraflow.fingerprint": f"fp-{'-'.join(overrides)}",
            "hydraflow.job_name": job,
            "hydraflow.version": "0.1.0",
        },
    )
    rid = run.info.run_id
    params = [Param(k, str(v)) for k, v in flatten(cfg).items()]
    now = int(time.time() * 1000)
    metrics = [Metric("loss", v, now + i, i) for i, v in enumerate(losses)]
    client.log_batch(rid, metrics=metrics, params=params)
    client.log_text(rid, yaml.safe_dump(cfg, sort_keys=False), ".hydra/config.yaml")
    client.log_text(rid, yaml.safe_dump(overrides), ".hydra/overrides.yaml")
    client.log_text(
        rid,
        yaml.safe_dump({"hydra": {"job": {"name": job, "override_dirname": ",".join(overrides)}}}),
        ".hydra/hydra.yaml",
    )
    client.log_text(rid, f"[INFO] {job} done\n", f"{job}.log")
    client.set_terminated(rid, status)
    return rid


def populate(uri: str) -> Store:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    store = Store(uri=uri, root=Path())
    train = client.create_experiment("train")
    ids = []
    for lr, depth in TRAIN_GRID:
        cfg = {
            "model": {"lr": lr, "depth": depth},
            "layers": [depth] * depth,
            "opt": {"name": "sgd", "m": 0.9},
            "seed": 0,
        }
        status = "FAILED" if (lr, depth) == (0.01, 3) else "FINISHED"
        losses = [1.0, 0.5, lr * depth]
        ids.append(
            log_hydra_run(
                client, train, "train", cfg, [f"model.lr={lr}", f"model.depth={depth}"], losses, status
            )
        )
    gone = log_hydra_run(client, train, "train", {"model": {"lr": 9.0, "depth": 9}}, ["model.lr=9"], [0.0])
    client.delete_run(gone)
    store.deleted.append(gone)
    store.run_ids["train"] = ids
    ev = client.create_experiment("eval")
    store.run_ids["eval"] = [
        log_hydra_run(client, ev, "eval", {"split": "val"}, ["split=val"], [0.3]),
        log_hydra_run(client, ev, "eval", {"split": "test", "extra": 5}, ["split=test", "+extra=5"], [0.4]),
    ]
    old = client.create_experiment("old")
    store.deleted.append(log_hydra_run(client, old, "old", {"x": 1}, ["x=1"], [0.1]))
    client.delete_experiment(old)
    art = Path(client.get_run(ids[0]).info.artifact_uri.removeprefix("file://"))
    store.root = art.parent.parent.parent
    return store


@pytest.fixture(scope="session")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated MLflow sqlite database (migrations take seconds: done once, copied after)."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("emptydb") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture(scope="session")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory, empty_db: Path) -> Store:
    base = tmp_path_factory.mktemp("sqlite")
    shutil.copy(empty_db, base / "mlflow.db")
    cwd = Path.cwd()
    os.chdir(base)  # MLflow puts a sqlite store's artifacts in ./mlruns
    try:
        return populate(f"sqlite:///{base / 'mlflow.db'}")
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="session")
def file_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    base = tmp_path_factory.mktemp("filestore")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    try:
        return populate(str(base / "mlruns"))
    finally:
        mp.undo()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The HTTP-store tests declare their server, so it boots while the other tests run."""
    here = Path(__file__).parent
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        uses = "http_store" in getattr(item, "fixturenames", ()) or params.get("any_store") == "http"
        if uses and here in item.path.parents:
            item.add_marker(pytest.mark.mlflow_server(artifacts="local"))


@pytest.fixture(scope="session")
def http_store(mlflow_server) -> Store:
    """A real ``mlflow server`` on 127.0.0.1 (tests/conftest.py) with local, not proxied, artifacts."""
    return populate(mlflow_server(artifacts="local").url)


@pytest.fixture(params=["sqlite", "file", "http"])
def any_store(request: pytest.FixtureRequest) -> Store:
    return request.getfixturevalue(f"{request.param}_store")
