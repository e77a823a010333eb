"""Fixtures of the PBS tests that run on the real OpenPBS server (``pytest.mark.pbs``, tests/cluster/pbs_up.sh).

Each such test gets OpenPBS's client commands first on its ``PATH`` (Debian's slurm-wlm-torque has other
``qsub``/``qstat``/``qdel`` in /usr/bin, used by the Torque tests) and fresh submitit watchers (job ids restart at 0
when the server is purged). ``pbs_controller`` runs a Hydra app with ``hydraflow_pbs`` as a real subprocess and
counts its ``qsub``/``qstat``/``qdel`` calls through a PATH directory of wrappers.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hydraflow_test_controller import AppController, wait_for

from hydraflow.launch.pbs import PBSJob, TorqueJob

PBS_BIN = Path(os.environ.get("HF_PBS_PREFIX", "/opt/pbs")) / "bin"
FAST = ["hydra.launcher.poll_interval_s=0.25", "hydra.launcher.timeout_min=5", "hydra.launcher.progress=log"]
TOOLS = ("qsub", "qstat", "qdel", "qsig", "qrerun")

APP = textwrap.dedent(
    """
    import os, time
    from pathlib import Path
    import hydra

    @hydra.main(version_base=None, config_path=None)
    def main(cfg):
        a = int(cfg.get("a", 0))
        mode = cfg.get("mode", "ok")
        marks = Path(os.environ["MARKS"])  # reaches the job only through the restored environment
        runs = len(list(marks.glob(f"{a}.start.*")))
        (marks / f"{a}.start.{runs}").write_text(os.environ["PBS_JOBID"])
        print(f"job says a={a}")
        if mode == "raise" and a == 1:
            raise ValueError("a is one")
        if mode == "exit" and a == 1:
            os._exit(3)
        if (mode == "sleep0" and a == 0) or mode == "sleepall" or (mode == "preempt" and a == 1 and runs == 0):
            time.sleep(150)
        (marks / f"{a}.done").write_text(str(a * 10))
        return a * 10

    if __name__ == "__main__":
        main()
    """
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """While ``nox -s tests`` brings OpenPBS up in the background (``HF_PBS_UP_LOG``), run the PBS tests last.

    A first bring-up builds OpenPBS (~4.5 min): the other tests use that time instead of waiting for it.
    """
    if os.environ.get("HF_PBS_UP_LOG"):
        items.sort(
            key=lambda item: item.get_closest_marker("pbs") is not None
        )  # stable: order kept otherwise


@pytest.fixture(autouse=True)
def _openpbs_client(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("pbs") is None:
        return
    monkeypatch.setenv("PATH", f"{PBS_BIN}{os.pathsep}{os.environ['PATH']}")
    PBSJob.watcher.clear()
    TorqueJob.watcher.clear()


def qstat_records(*ids: str) -> dict[str, dict[str, Any]]:
    """``qstat -f -F json -x -t IDS`` of the real server: full records (history included) by job id."""
    proc = subprocess.run(
        [str(PBS_BIN / "qstat"), "-f", "-F", "json", "-x", "-t", *ids],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return json.loads(proc.stdout or "{}").get("Jobs", {})


class Controller(AppController):
    """A Hydra app using ``hydraflow_pbs`` run as a real subprocess; PBS client calls counted through PATH."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(
            tmp_path,
            APP,
            tools=TOOLS,
            fixed=["hydra/launcher=hydraflow_pbs", *FAST],
            extra_path=str(PBS_BIN),
            env={"HYDRA_FULL_ERROR": None},  # errors are checked as users see them
        )

    def job_id(self, a: int, run: int = 0, timeout: float = 180) -> str:
        """The PBS id (``12[3].pbshost``) of job ``a`` once it has started (its ``run``-th start)."""
        return self.started(a, run, timeout).strip()


@pytest.fixture
def pbs_controller(tmp_path: Path) -> Controller:
    return Controller(tmp_path)


@pytest.fixture
def pbs_qstat():
    """``pbs_qstat(*ids)``: full records of the real server (``qstat -f -F json -x -t``) by job id."""
    return qstat_records


@pytest.fixture
def pbs_wait():
    """``pbs_wait(predicate, timeout, what)``: poll until truthy (returned) or fail the test."""
    return wait_for
