"""The pbspro dialect end to end against a small PBS Pro stand-in (``fake_pbspro/fakepbs.py``).

No PBS Pro server can be installed here (none in Debian or PyPI); the stand-in speaks PBS Pro's formats (job and
sub-job ids, ``PBS_ARRAY_INDEX``, ``qstat -f -F json -x -t``, ``Exit_status``/``substate`` after ``qdel``) so the
executor, the job environment and the watcher run together as they would on a PBS Pro cluster.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import pytest
from submitit.core.utils import FailedJobError, UncompletedJobError

from hydraflow.launch.pbs import PBSExecutor, PBSJob

FAKE = Path(__file__).parent / "fake_pbspro" / "fakepbs.py"


def fails(x: int) -> int:
    raise RuntimeError(f"bad input {x}")


@pytest.fixture
def pbspro(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "pbs_state"
    state.mkdir()
    (state / "counter").write_text(str(1000 + time.time_ns() % 10**6 * 10))  # ids unique across tests
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("qsub", "qstat", "qdel"):
        wrapper = bindir / tool
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" {tool} "$@"\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PBS_DIR", str(state))
    PBSJob.watcher.clear()
    return state


def _executor(tmp_path: Path) -> PBSExecutor:
    ex = PBSExecutor(tmp_path / "logs" / "%j", dialect="pbspro")
    ex.update_parameters(timeout_min=5, job_name="fake")
    return ex


def test_submit_and_result(pbspro: Path, tmp_path: Path) -> None:
    job = _executor(tmp_path).submit(divmod, 17, 5)
    assert job.job_id.endswith(".fakepbs")
    assert job.result() == (3, 2)
    assert job.watcher.get_state(job.job_id, mode="force") == "COMPLETED"


def test_map_array_with_subjob_ids_and_exit_codes(pbspro: Path, tmp_path: Path) -> None:
    ex = _executor(tmp_path)
    jobs = ex.map_array(fails, [1, 2]) + ex.map_array(abs, [-1, -2, -3])
    seq = jobs[2].job_id.split(".")[0]
    assert [j.job_id for j in jobs[2:]] == [f"{seq}.fakepbs_{i}" for i in range(3)]
    assert [j.result() for j in jobs[2:]] == [1, 2, 3]
    with pytest.raises(FailedJobError, match="RuntimeError: bad input 2"):
        jobs[1].result()
    states = [j.watcher.get_state(j.job_id, mode="force") for j in jobs]
    assert states == ["FAILED", "FAILED", "COMPLETED", "COMPLETED", "COMPLETED"]
    assert jobs[0].get_info(mode="cache")["ExitStatus"] == "1"


def test_qdel_of_a_running_subjob(pbspro: Path, tmp_path: Path) -> None:
    jobs = _executor(tmp_path).map_array(time.sleep, [60, 0])
    deadline = time.time() + 60
    while jobs[0].watcher.get_state(jobs[0].job_id, mode="force") != "RUNNING" and time.time() < deadline:
        time.sleep(0.5)
    jobs[0].cancel()
    jobs[0]._results_timeout_s = 1
    with pytest.raises(UncompletedJobError, match=r"state: CANCELLED"):
        jobs[0].result()
    assert jobs[1].result() is None  # the other sub-job still ran


def test_job_vanishing_from_the_server_is_reported(pbspro: Path, tmp_path: Path) -> None:
    job = _executor(tmp_path).submit(time.sleep, 60)
    deadline = time.time() + 60
    while job.watcher.get_state(job.job_id, mode="force") != "RUNNING" and time.time() < deadline:
        time.sleep(0.5)
    job.cancel()
    (pbspro / f"{job.job_id.split('.')[0]}.json").unlink()  # the server forgets it (no job history)
    job._results_timeout_s = 1
    with pytest.raises(UncompletedJobError, match=r"state: MISSING"):
        job.result()


APP = """
import hydra


@hydra.main(version_base=None, config_path=None)
def main(cfg):
    if cfg.x == 3:
        raise ValueError("x is three")
    print(f"x={cfg.x}")
    return cfg.x


if __name__ == "__main__":
    main()
"""


def test_hydra_sweep_through_hydraflow_pbs_with_the_pbspro_dialect(pbspro: Path, tmp_path: Path) -> None:
    # hydra/launcher=hydraflow_pbs with its default dialect (pbspro): one qsub -J array for the batch
    import subprocess

    (tmp_path / "app.py").write_text(APP)
    cmd = [
        sys.executable,
        "app.py",
        "-m",
        "hydra/launcher=hydraflow_pbs",
        "hydra.launcher.poll_interval_s=0.25",
        "hydra.launcher.progress=log",
        f"hydra.sweep.dir={tmp_path}/sweep",
        "+x=1,2,3",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "#2 FAILED: ValueError: x is three" in out
    scripts = list((tmp_path / "sweep" / ".submitit").rglob("*_submission.sh"))
    assert len(scripts) == 1
    assert "#PBS -J 0-2\n" in scripts[0].read_text()
    for num in (0, 1):
        assert (tmp_path / "sweep" / str(num) / ".hydra" / "config.yaml").is_file()
