"""Sweeps, dedup, analysis and ``hydraflow runs`` on a real ``mlflow server`` in MLflow's default configuration
(proxied artifacts), backed by sqlite and by PostgreSQL."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import yaml

from hydraflow.analysis import CorruptRunWarning, Run, get_experiment_names, iter_experiments, iter_run_dirs

GRID = ["model.lr=0.1,0.01", "seed=0,1,2"]


def _load(app, **kw):
    return Run.load(iter_run_dirs(app.name, tracking_uri=app.uri), **kw)


@pytest.mark.slow  # two sweeps of six jobs
def test_sweep_dedup_analysis_and_runs_command(server, app, artifact_cache: Path) -> None:
    a = app(server.uri)
    a.run("-m", *GRID)
    runs = _load(a)
    assert len(runs) == 6
    assert sorted((r.get("model.lr"), r.get("seed")) for r in runs) == sorted(
        (lr, s) for lr in (0.1, 0.01) for s in (0, 1, 2)
    )
    first = {r.run_id for r in runs}
    # the configs came through the server's artifact API into the cache, one directory per run id
    for run in runs:
        assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
        assert artifact_cache in run.run_dir.parents
        assert run.run_dir.name == run.run_id
        assert yaml.safe_load(run.path(".hydra/config.yaml").read_text())["seed"] == run.get("seed")
        assert run.info.status == "FINISHED"
        assert run.info.experiment_name == a.name
        assert run.get("metrics.loss") == pytest.approx(run.get("model.lr") * 2 + run.get("seed"))
        assert run.info.tags["hydraflow.fingerprint"]

    # the same sweep again: every job finds its FINISHED run (dedup on the server), nothing new
    again = a.run("-m", *GRID)
    assert (again.stdout + again.stderr).count("hydraflow: skipping job") == 6, again.stdout
    assert {r.run_id for r in _load(a)} == first

    # a frame
    table = runs.to_arrow("model.lr", "seed", "status", "metrics.loss")
    assert table.num_rows == 6
    assert set(table.to_pydict()["status"]) == {"FINISHED"}

    # hydraflow runs lists them, exit 0
    out = a.hydraflow("runs", a.name, "--tracking-uri", a.uri)
    assert out.returncode == 0, out.stderr
    assert f"6 runs of {a.name}" in out.stdout
    assert out.stdout.count("FINISHED") == 6
    csv = a.root / "runs.csv"
    out = a.hydraflow("runs", a.name, "--tracking-uri", a.uri, "--filter", "seed=2", "--csv", str(csv))
    assert out.returncode == 0, out.stderr
    assert "2 runs" in out.stdout
    assert len(csv.read_text().splitlines()) == 3


def test_second_load_reads_the_cache(server, app) -> None:
    a = app(server.uri)
    a.run("-m", "seed=0,1,2,3")
    runs = _load(a)
    files = {r.run_id: r.run_dir / "artifacts" / ".hydra" / "config.yaml" for r in runs}
    before = {rid: (p.stat().st_ino, p.stat().st_mtime_ns) for rid, p in files.items()}
    again = _load(a)
    assert sorted(r.run_id for r in again) == sorted(files)
    after = {rid: (p.stat().st_ino, p.stat().st_mtime_ns) for rid, p in files.items()}
    assert after == before  # nothing fetched again: the runs are FINISHED
    # the Parquet index works on the cached configs too
    index = a.root / "index"
    one = _load(a, index=index)
    assert list(index.glob("index/*.parquet"))
    two = _load(a, index=index)
    assert sorted(r.get("seed") for r in two) == sorted(r.get("seed") for r in one) == [0, 1, 2, 3]
    # the experiment is named although its artifacts are on the server; it has no directory here
    assert a.name in get_experiment_names(tracking_uri=a.uri)
    with pytest.warns(CorruptRunWarning, match=f"artifacts of experiment '{a.name}' are not on this machine"):
        assert a.name not in [name for name, _ in iter_experiments(a.name, tracking_uri=a.uri)]


def test_artifacts_on_demand(server, app) -> None:
    a = app(server.uri)
    a.run("model.lr=0.5", "seed=7")
    (run,) = _load(a)
    weights = run.run_dir / "artifacts" / "model" / "w.txt"
    assert not weights.exists()  # only the config was fetched by the load
    assert run.path("model/w.txt").read_text() == "0.5 7"
    assert [p.name for p in run.iterdir("model")] == ["w.txt"]
    # the whole tree (the job log too) when the artifact root is asked for
    assert sorted(p.name for p in run.path().iterdir()) == [".hydra", f"{a.name}.log", "model"]

    # impl_factory gets the artifacts directory with every file in it
    (again,) = Run.load(
        iter_run_dirs(a.name, tracking_uri=a.uri), lambda d: (d / "model" / "w.txt").read_text()
    )
    assert again.impl == "0.5 7"


def test_run_load_of_one_cached_directory_in_a_fresh_process(server, app, run_python) -> None:
    """A cache directory names its store: it loads (config and info) without a listing in this process."""
    a = app(server.uri)
    a.run("seed=3")
    (run,) = _load(a)
    code = (
        "import sys; from hydraflow.analysis import Run\n"
        "r = Run.load(sys.argv[1])\n"
        "print(r.get('seed'), r.info.status, r.info.experiment_name)\n"
    )
    out = run_python("-c", code, str(run.run_dir), cwd=a.root)
    assert out.stdout.split() == ["3", "FINISHED", a.name]


def test_runs_without_config_are_skipped_with_a_warning(server, app) -> None:
    from mlflow.tracking import MlflowClient

    a = app(server.uri)
    a.run("seed=1")
    client = MlflowClient(server.uri)
    exp = client.get_experiment_by_name(a.name)
    bare = client.create_run(exp.experiment_id)  # a run made outside hydraflow: no .hydra/config.yaml
    client.set_terminated(bare.info.run_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = _load(
            a, strict=True
        )  # strict: left out (the default keeps it, config-less, as HydraFlow 0.23 did)
        runs2 = _load(a, strict=True)  # the answer "no config" is cached too
    assert [r.get("seed") for r in runs] == [1] == [r.get("seed") for r in runs2]
    messages = [str(w.message) for w in caught if issubclass(w.category, CorruptRunWarning)]
    assert len(messages) == 2
    assert all(bare.info.run_id in m and ".hydra/config.yaml" in m for m in messages)


@pytest.mark.slow  # one sweep of two jobs
def test_analysis_page_server_example(mlflow_server_sqlite, app, capsys: pytest.CaptureFixture[str]) -> None:
    """The example of docs/analysis.md, "Runs on an mlflow server", run against a real server."""
    import re

    doc = (Path(__file__).resolve().parents[2] / "docs" / "analysis.md").read_text()
    section = doc.split("## Runs on an mlflow server", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code is not None
    a = app(mlflow_server_sqlite.uri)
    a.run("-m", "seed=0,1")
    source = code.group(1).replace('"http://127.0.0.1:5000"', repr(a.uri)).replace('"train"', repr(a.name))
    namespace: dict[str, object] = {}
    exec(compile(source, "docs/analysis.md", "exec"), namespace)  # noqa: S102 - our own documentation
    assert len(namespace["runs"]) == 2  # type: ignore[arg-type]
    assert namespace["weights"].read_text().startswith("0.1 ")  # type: ignore[attr-defined]
    assert "model.lr" in capsys.readouterr().out
