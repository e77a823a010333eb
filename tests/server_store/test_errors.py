"""A server that is down, refuses the client, or fails for a while: one-line errors with the URI, never "0 runs";
transient failures retried within a bounded time."""

from __future__ import annotations

import pytest

from hydraflow.analysis import Run, iter_run_dirs
from hydraflow.store.errors import StoreAccessError, StoreUnavailableError


def _one_line_with(message: str, uri: str) -> None:
    assert uri in message, message
    assert "\n" not in message.strip(), message


def test_down_server_is_an_error_for_analysis(down_uri: str) -> None:
    with pytest.raises(StoreUnavailableError) as err:
        Run.load(iter_run_dirs(tracking_uri=down_uri))
    _one_line_with(str(err.value), down_uri)
    assert "connection refused" in str(err.value)
    assert err.value.uri == down_uri


@pytest.mark.parametrize("status", [401, 403])
def test_refusing_server_is_an_error_for_analysis(refusing_server, status: int) -> None:
    proxy = refusing_server(status)
    with pytest.raises(StoreAccessError) as err:
        list(iter_run_dirs("train", tracking_uri=proxy.uri))
    _one_line_with(str(err.value), proxy.uri)
    assert str(status) in str(err.value)
    assert len(proxy.requests) == 1  # refused is final: not retried


def test_credentials_are_not_shown(refusing_server) -> None:
    proxy = refusing_server(401)
    uri = proxy.uri.replace("http://", "http://alice:s3cret@")
    with pytest.raises(StoreAccessError) as err:
        list(iter_run_dirs(tracking_uri=uri))
    assert "s3cret" not in str(err.value)
    _one_line_with(str(err.value), proxy.uri)


@pytest.mark.parametrize("target", ["down", 401, 403])
def test_runs_command_fails_with_one_line(target, down_uri: str, refusing_server, run_python) -> None:
    uri = down_uri if target == "down" else refusing_server(target).uri
    proc = run_python("-m", "hydraflow", "runs", "train", "--tracking-uri", uri, check=False, timeout=120)
    assert proc.returncode != 0
    assert "runs" not in proc.stdout  # never "0 runs of train"
    assert proc.stderr.startswith("error: ")
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    _one_line_with(proc.stderr, uri)


@pytest.mark.slow  # runs the app once (two jobs)
def test_transient_failures_are_retried(mlflow_server_sqlite, flaky_proxy, app) -> None:
    """503 answers and dropped connections on the listing and on the artifact downloads: the load succeeds."""
    a = app(mlflow_server_sqlite.uri)
    a.run("-m", "seed=0,1")
    flaky = {0, 1, 3, 6}  # the first searches and the first downloads (0: experiments, then runs, files)

    def plan(n: int, _method: str, _path: str) -> str:
        return ("503" if n % 2 else "drop") if n in flaky else "pass"

    proxy = flaky_proxy(mlflow_server_sqlite.uri, plan)
    runs = Run.load(iter_run_dirs(a.name, tracking_uri=proxy.uri))
    assert sorted(r.get("seed") for r in runs) == [0, 1]
    actions = [what for *_, what in proxy.seen]
    assert actions.count("503") == 2
    assert actions.count("drop") == 2
    assert any("mlflow-artifacts" in path for _, _, path, what in proxy.seen if what != "pass")


@pytest.mark.slow  # runs the app once (three jobs)
def test_a_server_failing_for_longer_than_the_retry_time(
    mlflow_server_sqlite, flaky_proxy, app, monkeypatch: pytest.MonkeyPatch
) -> None:
    """503 on every artifact download: the load stops with an error (no run silently dropped), after the
    retry time, with one clock for all download threads."""
    a = app(mlflow_server_sqlite.uri)
    a.run("-m", "seed=0,1,2")
    monkeypatch.setenv("HYDRAFLOW_SERVER_RETRY_SECONDS", "1")
    proxy = flaky_proxy(
        mlflow_server_sqlite.uri, lambda _n, _m, path: "503" if "artifacts" in path else "pass"
    )
    with pytest.raises(StoreUnavailableError) as err:
        Run.load(iter_run_dirs(a.name, tracking_uri=proxy.uri))
    _one_line_with(str(err.value), proxy.uri)
    assert "503" in str(err.value)
    assert "1 s of retries" in str(err.value)
    downloads = [p for _, _, p, what in proxy.seen if what == "503"]
    assert 3 <= len(downloads) < 100  # each run tried, retried with backoff, not hammered


@pytest.mark.slow  # two app starts
def test_job_aimed_at_a_down_or_refusing_server_fails_clearly(down_uri: str, refusing_server, app) -> None:
    for uri in (down_uri, refusing_server(403).uri):
        a = app(uri)
        proc = a.run("seed=1", check=False)
        assert proc.returncode != 0
        lines = [line for line in proc.stderr.splitlines() if uri in line]
        assert lines, proc.stderr
        assert any("StoreUnavailableError" in line or "StoreAccessError" in line for line in lines), lines
