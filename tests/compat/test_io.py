"""HydraFlow 0.23's ``hydraflow.core.io`` functions on real MLflow stores (a file store and a sqlite one)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest
from mlflow.tracking import MlflowClient

import hydraflow
from hydraflow.analysis import (
    file_uri_to_path,
    get_experiment_name,
    get_experiment_names,
    iter_artifact_paths,
    iter_artifacts_dirs,
    iter_experiment_dirs,
    iter_run_dirs,
)
from hydraflow.tracking.context import get_artifact_dir, log_text

if TYPE_CHECKING:
    import contextlib
    from pathlib import Path


def active_tracking_uri(uri: str) -> contextlib.AbstractContextManager[None]:
    """MLflow's active tracking URI set for a block, then unset again (not pinned to its previous value).

    ``mlflow.set_tracking_uri(mlflow.get_tracking_uri())`` would pin the default, and later tests that set
    ``MLFLOW_TRACKING_URI`` would silently keep reading this store.
    """
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    return _use_tracking_uri(uri)


@pytest.fixture(scope="module", params=["file", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Experiments e1 (2 runs) and e2 (3 runs), each run with a text.txt artifact; the store's URI."""
    root = tmp_path_factory.mktemp(request.param)
    if request.param == "file":
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
        uri = (root / "mlruns").as_uri()
    else:
        uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    n = 0
    for name, runs in (("e1", 2), ("e2", 3)):
        location = None if request.param == "file" else (root / "artifacts" / name).as_uri()
        exp = client.create_experiment(name, artifact_location=location)
        for _ in range(runs):
            n += 1
            run = client.create_run(exp)
            client.log_text(run.info.run_id, str(n), "text.txt")
            client.set_terminated(run.info.run_id)
    return uri


def test_experiment_names_and_directories(store: str) -> None:
    # MLflow's "Default" is left out; id order (a file store's ids are random: compared as sets)
    assert sorted(get_experiment_names(tracking_uri=store)) == ["e1", "e2"]
    dirs = list(iter_experiment_dirs(tracking_uri=store))
    assert sorted(get_experiment_name(d, tracking_uri=store) for d in dirs) == ["e1", "e2"]
    for pattern, names in (("e1", ["e1"]), ("e*", ["e1", "e2"]), ("*", ["e1", "e2"]), ("*2", ["e2"])):
        found = iter_experiment_dirs(pattern, tracking_uri=store)
        assert sorted(get_experiment_name(d, tracking_uri=store) for d in found) == names
    for selector in (["e2"], lambda n: n == "e2"):
        found = iter_experiment_dirs(selector, tracking_uri=store)
        assert [get_experiment_name(d, tracking_uri=store) for d in found] == ["e2"]
    assert len(list(iter_experiment_dirs("Default", tracking_uri=store))) == 1  # named: there
    assert get_experiment_name("invalid", tracking_uri=store) == ""


def test_run_and_artifact_directories(store: str) -> None:
    assert len(list(iter_run_dirs(tracking_uri=store))) == 5
    artifacts = list(iter_artifacts_dirs(tracking_uri=store))
    assert all(p.name == "artifacts" and p.is_dir() for p in artifacts)
    texts = sorted(p.read_text() for p in iter_artifact_paths("text.txt", tracking_uri=store))
    assert texts == ["1", "2", "3", "4", "5"]
    assert len(list(iter_artifacts_dirs("e1", tracking_uri=store))) == 2


def test_active_tracking_uri_is_the_default(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with active_tracking_uri(store):
        assert sorted(hydraflow.get_experiment_names()) == ["e1", "e2"]
        assert len(list(hydraflow.iter_artifacts_dirs("e2"))) == 3
        assert len(list(hydraflow.iter_experiment_dirs())) == 2


@pytest.mark.parametrize(
    ("uri", "path"), [("/a/b/c", "/a/b/c"), ("file:///a/b/c", "/a/b/c"), ("file:C:/a/b/c", "C:/a/b/c")]
)
def test_file_uri_to_path(uri: str, path: str) -> None:
    assert file_uri_to_path(uri).as_posix() == path


def test_artifact_dir_and_appended_text_logs(store: str, tmp_path: Path) -> None:
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("e1")
    run: Any = client.search_runs([exp.experiment_id], max_results=1)[0]
    artifacts = get_artifact_dir(run)
    assert artifacts.name == "artifacts"
    assert artifacts.parent.name == run.info.run_id
    (tmp_path / "123.log").write_text("test log")
    (tmp_path / "dir.log").mkdir()
    with active_tracking_uri(store):
        log_text(run, tmp_path)
        log_text(run, tmp_path, "*.log")
    assert (artifacts / "123.log").read_text() == "test log\ntest log"
    assert not (artifacts / "dir.log").exists()  # directories are not logged


def test_get_artifact_dir_refuses_remote_artifacts() -> None:
    class Info:
        run_id = "abc"
        artifact_uri = "mlflow-artifacts:/1/abc/artifacts"

    class FakeRun:
        info = Info()

    with pytest.raises(ValueError, match="not on the local filesystem"):
        get_artifact_dir(FakeRun())  # type: ignore[arg-type]
