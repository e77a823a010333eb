"""The table of `hydraflow runs` (hydraflow.jobs.runs_table) on real stores: columns, filters, exports."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hydraflow.jobs.runs_table import format_cell, load_table

if TYPE_CHECKING:
    from pathlib import Path


def test_columns_of_a_store(any_store) -> None:
    table = load_table("train", tracking_uri=any_store.uri)
    assert len(table) == 6
    assert table.config_keys == ["model.lr", "model.depth", "layers", "opt.name", "opt.m", "seed"]
    assert table.metric_keys == ["loss"]
    # the same value in every run (opt.*, seed) is not shown by default
    assert table.default_columns() == [
        "run_id",
        "experiment",
        "status",
        "model.lr",
        "model.depth",
        "layers",
        "loss",
    ]
    row = next(r for r in table.rows if r["model.lr"] == 0.01 and r["model.depth"] == 3)
    assert row["status"] == "FAILED"
    assert row["experiment"] == "train"
    assert row["layers"] == [3, 3, 3]
    assert format_cell(row["layers"]) == "[3, 3, 3]"
    assert row["loss"] == pytest.approx(0.03)
    assert row["duration"] >= 0
    everything = load_table("*", tracking_uri=any_store.uri)
    assert sorted(everything.columns["experiment"]) == ["eval"] * 2 + ["train"] * 6
    assert everything.columns["extra"].count(None) == 7  # only one eval run has it


def test_filters(sqlite_store) -> None:
    def ids(*filters: str) -> int:
        return len(load_table(None, tracking_uri=sqlite_store.uri, filters=filters))

    assert ids("model.lr=0.1") == 3
    assert ids("model.lr=0.1", "model.depth=2") == 1
    assert ids("status=FAILED") == 1
    assert ids("layers=[3, 3, 3]") == 2  # a container compares by value
    assert ids("layers=[3,3,3]") == 2
    assert ids("split=val") == 1  # runs without the key never match
    assert ids("loss=0.4") == 1  # a metric column
    with pytest.raises(ValueError, match=r"unknown column 'modle.lr' \(did you mean 'model.lr'\?\)"):
        load_table(None, tracking_uri=sqlite_store.uri, filters=["modle.lr=0.1"])
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        load_table(None, tracking_uri=sqlite_store.uri, filters=["model.lr"])


def test_exports_render_containers_like_the_frames(sqlite_store, tmp_path: Path) -> None:
    """CSV: JSON text (as RunCollection.to_arrow writes containers as text); Parquet: list columns."""
    table = load_table("train", tracking_uri=sqlite_store.uri)
    table.write_csv(tmp_path / "runs.csv")
    table.write_parquet(tmp_path / "runs.parquet")
    with (tmp_path / "runs.csv").open() as f:
        records = list(csv.DictReader(f))
    assert sorted(r["layers"] for r in records) == [
        "[1]",
        "[1]",
        "[2, 2]",
        "[2, 2]",
        "[3, 3, 3]",
        "[3, 3, 3]",
    ]
    parquet = pq.read_table(tmp_path / "runs.parquet")
    assert parquet.schema.field("layers").type == pa.list_(pa.int64())
    assert parquet.schema.field("model.lr").type == pa.float64()
    assert parquet.schema.field("start_time").type == pa.timestamp("us", tz="UTC")
    assert parquet.num_rows == 6


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_server_is_an_error_not_zero_runs(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",  # MLflow's client would otherwise retry for a long while
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    }
    uri = f"http://127.0.0.1:{_closed_port()}"
    proc = subprocess.run(
        [sys.executable, "-m", "hydraflow", "runs", "--tracking-uri", uri],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "0 runs" not in proc.stdout
    assert proc.stderr.startswith("error: ")
    assert uri in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


HOST_APP = """
import hydraflow

@hydraflow.main({"a": 0, "host": "db1"})
def app(run, cfg):
    pass

if __name__ == "__main__":
    app()
"""


@pytest.mark.slow
def test_host_column_names_where_each_run_ran(run_python, tmp_path: Path) -> None:
    """``host`` is the run's ``hydraflow.host`` tag; a config key of that name keeps it (the tag is then the
    ``tags.hydraflow.host`` column)."""
    (tmp_path / "app.py").write_text(HOST_APP)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {"MLFLOW_TRACKING_URI": uri}
    run_python("app.py", "-m", "a=1,2", "~host", "hydra.job.name=plain", env=env)
    run_python("app.py", "-m", "a=3", "hydra.job.name=withhost", env=env)
    plain = load_table("plain", tracking_uri=uri)
    assert plain.columns["host"] == [socket.gethostname()] * 2
    assert "host" not in plain.default_columns()
    assert len(load_table("plain", tracking_uri=uri, filters=[f"host={socket.gethostname()}"])) == 2
    both = load_table("withhost", tracking_uri=uri)
    assert both.columns["host"] == ["db1"]
    assert both.columns["tags.hydraflow.host"] == [socket.gethostname()]
    assert both.all_columns.count("host") == 1
    out = run_python("-m", "hydraflow", "runs", "plain", "--tracking-uri", uri, "--columns", "a,host").stdout
    assert socket.gethostname() in out
    from hydraflow.analysis import Run, iter_run_dirs

    runs = Run.load(iter_run_dirs("plain", tracking_uri=uri), tracking_uri=uri)
    assert runs.values("host") == [socket.gethostname()] * 2 == [run.info.host for run in runs]
    with_host = Run.load(iter_run_dirs("withhost", tracking_uri=uri), tracking_uri=uri)
    assert with_host.values("host") == ["db1"]  # the config first, as for every key
    assert (
        with_host.values("tags.hydraflow.host") == [socket.gethostname()] == [r.info.host for r in with_host]
    )
