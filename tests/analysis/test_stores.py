"""Loading runs from real MLflow stores: sqlite, file store and an `mlflow server` over HTTP."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from hydraflow.analysis import CorruptRunWarning, Run, RunCollection, iter_run_dirs
from hydraflow.store import parse_store


def load(store, *names, **kw) -> RunCollection:
    return Run.load(iter_run_dirs(list(names) or None, tracking_uri=store.uri), tracking_uri=store.uri, **kw)


def test_iter_run_dirs_by_name_and_glob(any_store):
    dirs = list(iter_run_dirs("train", tracking_uri=any_store.uri))
    assert sorted(d.name for d in dirs) == sorted(any_store.run_ids["train"])
    assert all((d / "artifacts" / ".hydra" / "config.yaml").is_file() for d in dirs)
    both = {d.name for d in iter_run_dirs(["tr*", "ev?l"], tracking_uri=any_store.uri)}
    assert both == set(any_store.all_ids())
    assert list(iter_run_dirs("nope*", tracking_uri=any_store.uri)) == []
    by_predicate = {
        d.name for d in iter_run_dirs(lambda name: name.startswith("ev"), tracking_uri=any_store.uri)
    }
    assert by_predicate == set(any_store.run_ids["eval"])


def test_deleted_runs_and_experiments_skipped_by_default(any_store):
    ids = {d.name for d in iter_run_dirs(tracking_uri=any_store.uri)}
    assert ids == set(any_store.all_ids())
    with_deleted = {d.name for d in iter_run_dirs(tracking_uri=any_store.uri, include_deleted=True)}
    assert with_deleted == set(any_store.all_ids()) | set(any_store.deleted)


def test_info_from_store(any_store):
    runs = load(any_store, "train")
    assert len(runs) == 6
    run = runs.get(model__lr=0.01, model__depth=3)
    info = run.info
    assert info.run_id == run.run_id
    assert info.status == "FAILED"
    assert info.experiment_name == info.job_name == "train"
    assert info.metrics == {"loss": pytest.approx(0.03)}
    assert info.params["model.lr"] == "0.01"
    assert info.params["layers"] == "[3, 3, 3]"
    assert info.tags["hydraflow.fingerprint"].startswith("fp-")
    assert isinstance(info.start_time, dt.datetime)
    assert info.end_time is not None
    assert info.end_time >= info.start_time
    assert info.duration is not None
    assert info.duration >= 0
    assert sorted(runs.values("status")) == ["FAILED"] + ["FINISHED"] * 5
    assert run.get("metrics.loss") == pytest.approx(0.03)
    assert run.get("tags.hydraflow.job_name") == "train"
    assert run.get("params.model.depth") == "3"


def test_frame_with_info_columns(any_store):
    runs = load(any_store).sort("model.lr", "model.depth")
    table = runs.to_arrow(
        "run_id", "model.lr", "model.depth", "split", "status", "metrics.loss", "experiment_name"
    )
    assert table.num_rows == 8
    d = table.to_pydict()
    assert d["model.lr"][:6] == [0.01, 0.01, 0.01, 0.1, 0.1, 0.1]
    assert d["split"][:6] == [None] * 6
    assert sorted(filter(None, d["split"])) == ["test", "val"]
    assert d["experiment_name"].count("eval") == 2
    assert str(table.schema.field("metrics.loss").type) == "double"


def test_sqlite_batches_in_chunks(sqlite_store, monkeypatch):
    from hydraflow.analysis.readers import sqlite

    monkeypatch.setattr(sqlite, "CHUNK", 4)
    runs = load(sqlite_store)
    assert len(runs) == 8
    assert sorted(runs.values("status")) == ["FAILED"] + ["FINISHED"] * 7
    assert all(r.info.params and r.info.metrics for r in runs)


def test_runs_missing_from_store_warn(sqlite_store, file_store):
    # run dirs of the sqlite store read against another (empty-of-them) sqlite store -> minimal info + warning
    dirs = list(iter_run_dirs("eval", tracking_uri=sqlite_store.uri))
    runs = Run.load(dirs, tracking_uri="sqlite:///" + str(sqlite_store.root / "nope.db"))
    with pytest.warns(CorruptRunWarning, match="tracking store"):
        assert runs[0].info.status is None
    assert runs[0].get("split") in {"val", "test"}


def test_parse_store_kinds(tmp_path):
    assert parse_store(f"sqlite:///{tmp_path}/x.db").path == tmp_path / "x.db"
    assert parse_store("sqlite:///rel.db").path is not None
    assert parse_store(str(tmp_path)).kind == "file"
    assert parse_store(tmp_path.as_uri()).path == tmp_path
    assert parse_store("http://127.0.0.1:5000").kind == "server"


def test_default_tracking_uri_from_env(sqlite_store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", sqlite_store.uri)
    runs = Run.load(iter_run_dirs("eval"))
    assert sorted(runs.values("split")) == ["test", "val"]
    assert set(runs.values("status")) == {"FINISHED"}


def test_store_kinds_beyond_the_fast_readers(tmp_path):
    assert parse_store("postgresql+psycopg2://u:p@db:5432/mlflow").kind == "sql"
    assert parse_store("mysql://u@db/mlflow").kind == "sql"
    assert parse_store("https://mlflow.example.org").kind == "server"
    assert parse_store("databricks").kind == "databricks"
    assert parse_store("databricks://profile").kind == "databricks"
    assert parse_store("sqlite://").path is None  # in memory
    assert parse_store(f"sqlite:///{tmp_path}/a%20b.db?timeout=5").path == tmp_path / "a b.db"


def test_info_from_an_unreachable_server_is_an_error(sqlite_store, monkeypatch):
    """Network and authentication errors surface: they are never taken for "the server has no such runs"."""
    import socket

    from hydraflow.store.errors import StoreUnavailableError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{s.getsockname()[1]}"
    runs = Run.load(iter_run_dirs("eval", tracking_uri=sqlite_store.uri), tracking_uri=uri)
    assert len(runs) == 2
    with pytest.raises(StoreUnavailableError, match=re.escape(uri)):  # hydraflow's one-line error (issue 14)
        _ = runs[0].info
    with pytest.raises(StoreUnavailableError, match=re.escape(uri)):
        list(iter_run_dirs(tracking_uri=uri))
