"""Races on a new file store between real processes: one experiment per name, however many jobs create it.

Measured before the fix: 2 of 10 trials of 8 processes made two experiments of one name; opening a new
store at once failed in others ("meta.yaml exists" for the Default experiment).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path

    from hydraflow.tracking.main import _client
    from hydraflow.tracking.store import get_or_create_experiment

    root, trials, me = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    for trial in range(trials):
        (root / f"ready-{trial}-{me}").touch()
        go = root / f"go-{trial}"
        while not go.exists():
            time.sleep(0.001)
        # as each job of a sweep does, all at once on a new store: open it, get or create the experiment
        client = _client((root / f"store{trial}" / "mlruns").as_uri())
        exp = get_or_create_experiment(client, "sweep")
        (root / f"id-{trial}-{me}").write_text(exp.experiment_id)
    """
)


@pytest.mark.slow
def test_20_trials_of_8_processes_create_one_experiment(tmp_path: Path) -> None:
    trials, procs = 20, 8
    (tmp_path / "worker.py").write_text(WORKER)
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    workers = [
        subprocess.Popen(
            [sys.executable, "worker.py", str(tmp_path), str(trials), str(n)], cwd=tmp_path, env=env
        )
        for n in range(procs)
    ]
    try:
        for trial in range(trials):
            deadline = time.monotonic() + 120
            while len(list(tmp_path.glob(f"ready-{trial}-*"))) < procs:
                assert time.monotonic() < deadline, f"workers not ready for trial {trial}"
                assert all(w.poll() in {None, 0} for w in workers), "a worker failed"
                time.sleep(0.01)
            (tmp_path / f"go-{trial}").touch()  # all 8 processes start creating at once
        for w in workers:
            assert w.wait(timeout=300) == 0
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    from mlflow.tracking import MlflowClient

    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    for trial in range(trials):
        ids = {(tmp_path / f"id-{trial}-{n}").read_text() for n in range(procs)}
        store = MlflowClient((tmp_path / f"store{trial}" / "mlruns").as_uri())
        names = [e.name for e in store.search_experiments() if e.name == "sweep"]
        assert (len(ids), len(names)) == (1, 1), f"trial {trial}: ids {ids}, experiments {names}"
