"""32 concurrent jobs on a PostgreSQL-backed server (as teams deploy it): nothing lost, each config run once."""

from __future__ import annotations

import pytest

from hydraflow.analysis import Run, iter_run_dirs

pytestmark = pytest.mark.slow

N = 32


def test_32_concurrent_jobs(mlflow_server_postgres, app) -> None:
    """One sweep of 32 jobs forked at once: 24 configs, 8 of them twice (the twins race on one fingerprint).

    Exactly 24 runs, all FINISHED, each with its config, return value and artifact. (Skipping finished runs is
    checked by tests/server_store/test_server_runs.py; one sweep here keeps this slow test short.)
    """
    a = app(mlflow_server_postgres.uri)
    seeds = list(range(24)) + list(range(8))
    args = [
        "-m",
        "hydra/launcher=hydraflow_local",
        f"hydra.launcher.n_jobs={N}",
        "seed=" + ",".join(str(i) for i in seeds),
    ]
    first = a.run(*args)
    runs = Run.load(iter_run_dirs(a.name, tracking_uri=a.uri))
    assert sorted(r.get("seed") for r in runs) == list(range(24))  # one run per config, none lost
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert all(r.info.tags.get("hydraflow.return") == str(r.get("seed")) for r in runs)
    assert all(r.path("model/w.txt").read_text() == f"0.1 {r.get('seed')}" for r in runs)
    assert "32/32 done, 0 failed" in first.stdout + first.stderr
