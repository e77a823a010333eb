"""Stopped jobs end KILLED with an end time in a real store; a rerun resumes them (issue 13).

Real Hydra apps as subprocesses in their own session (a terminal's Ctrl-C reaches the whole process group,
as ``os.killpg`` does here), ``hydraflow_local`` forking one child per job, a real sqlite store.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pathlib import Path

APP = textwrap.dedent(
    """
    import os, time
    from dataclasses import dataclass
    from pathlib import Path

    import hydraflow


    @dataclass
    class Config:
        a: int = 0


    @hydraflow.main(Config, tracking_uri=os.environ["HF_URI"])
    def app(run, cfg):
        Path(os.environ["HF_MARKS"], f"{cfg.a}.{run.info.run_id}").touch()
        print(f"job a={cfg.a} in run {run.info.run_id}", flush=True)
        time.sleep(float(os.environ.get("HF_SLEEP", "0")))  # not in the config: a rerun is the same job


    if __name__ == "__main__":
        app()
    """
)


class App:
    """The app above in ``tmp_path`` with a fresh sqlite store (created once, before any stop)."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path
        (tmp_path / "app.py").write_text(APP)
        self.marks = tmp_path / "marks"
        self.marks.mkdir()
        self.uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        self.env = {**os.environ, "HF_URI": self.uri, "HF_MARKS": str(self.marks), "PYTHONUNBUFFERED": "1"}
        self.run("a=0")  # creates the store (a stop during its schema creation is another test's business)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "app.py", *args]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            self.argv(*args),
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        return out

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            cwd=self.root,
            env={**self.env, "HF_SLEEP": "600"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, like a shell job at a terminal
        )

    def wait_started(self, *values: int, timeout: float = 180) -> dict[int, str]:
        """Run ids of the jobs ``a=values``, once each has started its function."""
        deadline = time.monotonic() + timeout
        while True:
            found = {int(p.name.split(".")[0]): p.name.split(".")[1] for p in self.marks.iterdir()}
            if all(v in found for v in values):
                time.sleep(0.3)  # inside time.sleep() now
                return {v: found[v] for v in values}
            assert time.monotonic() < deadline, f"jobs {values} did not start"
            time.sleep(0.1)

    def runs(self) -> dict[str, Any]:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(self.uri)
        exp = client.get_experiment_by_name("app")
        return {r.info.run_id: r for r in client.search_runs([exp.experiment_id], max_results=1000)}


def assert_killed(app: App, run_ids: list[str], stopped_after_ms: float) -> None:
    runs = app.runs()
    for run_id in run_ids:
        info = runs[run_id].info
        assert info.status == "KILLED", (run_id, info.status)
        assert info.end_time is not None
        assert info.end_time >= stopped_after_ms


@pytest.mark.slow
def test_ctrl_c_at_a_terminal_kills_the_runs_says_it_once_and_a_rerun_resumes(tmp_path: Path) -> None:
    app = App(tmp_path)
    # a generous grace: under a heavy machine load, marking the run KILLED can take longer than the default 5 s
    sweep = ["-m", "hydra/launcher=hydraflow_local", "a=1,2", "hydra.launcher.kill_grace_s=60"]
    with app.start(*sweep) as proc:
        ids = app.wait_started(1, 2)
        stopped = time.time() * 1000
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C at a terminal does
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "Traceback" not in out
    assert out.count("hydraflow_local: interrupted, stopping 2 running jobs") == 1, out
    assert_killed(app, list(ids.values()), stopped)
    # the job log of each run says so (the terminal's SIGINT or the pool's SIGTERM, whichever came first)
    client_runs = app.runs()
    for run_id in ids.values():
        art = client_runs[run_id].info.artifact_uri.removeprefix("file://")
        log = (tmp_path / art / "app.log").read_text()
        assert re.search(rf"job stopped by SIG(INT|TERM), run {run_id} marked KILLED", log), log
    # a rerun resumes both runs (same ids) and finishes them; no new run
    before = set(app.runs())
    for p in app.marks.iterdir():
        p.unlink()
    app.run("-m", "hydra/launcher=hydraflow_local", "a=1,2")
    runs = app.runs()
    assert set(runs) == before
    assert {runs[i].info.status for i in ids.values()} == {"FINISHED"}
    assert sorted(p.name for p in app.marks.iterdir()) == sorted(f"{a}.{i}" for a, i in ids.items())


@pytest.mark.slow
def test_sigint_to_the_launcher_only_stops_the_jobs_with_sigterm(tmp_path: Path) -> None:
    app = App(tmp_path)
    with app.start("-m", "hydra/launcher=hydraflow_local", "a=3,4", "hydra.launcher.kill_grace_s=60") as proc:
        ids = app.wait_started(3, 4)
        stopped = time.time() * 1000
        proc.send_signal(signal.SIGINT)  # kill -INT <launcher>: the pool sends SIGTERM to its children
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "Traceback" not in out
    assert_killed(app, list(ids.values()), stopped)


@pytest.mark.slow
def test_timeout_s_kills_the_run(tmp_path: Path) -> None:
    app = App(tmp_path)
    with app.start("-m", "hydra/launcher=hydraflow_local", "a=5", "hydra.launcher.timeout_s=30") as proc:
        (run_id,) = app.wait_started(5, timeout=28).values()
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out
    assert "timed out after 30 s (hydra.launcher.timeout_s): killed by signal SIGTERM (15)" in out
    assert_killed(app, [run_id], 0)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGUSR2])
def test_a_single_run_stopped_by_a_signal_is_killed_and_dies_by_it(tmp_path: Path, signum: int) -> None:
    app = App(tmp_path)
    with app.start("a=6") as proc:
        (run_id,) = app.wait_started(6).values()
        stopped = time.time() * 1000
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == -signum, out  # as without hydraflow: killed by that signal
    assert f"job stopped by {signal.Signals(signum).name}, run {run_id} marked KILLED" in out
    assert_killed(app, [run_id], stopped)


@pytest.mark.slow
def test_a_sigkilled_run_stays_running_and_a_rerun_resumes_it(tmp_path: Path) -> None:
    """SIGKILL cannot be handled: the run keeps RUNNING without an end time, and the next run of the same
    config resumes it (same run id) instead of starting a duplicate."""
    app = App(tmp_path)
    with app.start("a=7") as proc:
        (run_id,) = app.wait_started(7).values()
        proc.kill()
        proc.communicate(timeout=60)
    info = app.runs()[run_id].info
    assert (info.status, info.end_time) == ("RUNNING", None)
    n = len(app.runs())
    out = app.run("a=7")
    assert f"resuming run {run_id} (status RUNNING)" in out.stdout + out.stderr
    runs = app.runs()
    assert len(runs) == n
    assert runs[run_id].info.status == "FINISHED"
