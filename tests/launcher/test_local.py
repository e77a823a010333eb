"""``hydra/launcher=hydraflow_local``: isolation of crashing jobs, timeouts, job order, output files, Ctrl-C."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING

import pytest

from hydraflow.launch.common import Progress, describe_exit

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.filterwarnings("ignore:Future Hydra versions will no longer change:UserWarning")

APP = textwrap.dedent(
    """
    import ctypes, os, resource, sys, time
    from pathlib import Path
    import hydra

    @hydra.main(version_base=None, config_path=None)
    def main(cfg):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        a = int(cfg.get("a", 0))
        mode = cfg.get("mode", "ok")
        Path(os.environ["MARKS"], f"{a}.pid").write_text(str(os.getpid()))
        print(f"job says a={a}")
        print(f"job complains a={a}", file=sys.stderr)
        if mode == "segv" and a == 1:
            ctypes.string_at(0)
        if mode == "exit" and a == 1:
            os._exit(3)
        if mode == "raise" and a == 1:
            raise ValueError("a is one")
        if mode == "sleep" and a == 1:
            time.sleep(60)
        if mode == "sleepall":
            time.sleep(60)
        time.sleep(float(cfg.get("delay", 0)) * (3 - a))
        Path(os.environ["MARKS"], f"{a}.done").write_text(str(a * 10))
        return a * 10

    if __name__ == "__main__":
        main()
    """
)


def _write_app(tmp_path: Path) -> Path:
    app = tmp_path / "app.py"
    app.write_text(APP)
    (tmp_path / "marks").mkdir()
    return app


def _run(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    app = _write_app(tmp_path)
    env = {**os.environ, "MARKS": str(tmp_path / "marks"), "HYDRA_FULL_ERROR": "1"}
    cmd = [
        sys.executable,
        str(app),
        "-m",
        "hydra/launcher=hydraflow_local",
        f"hydra.sweep.dir={tmp_path}/sweep",
    ]
    return subprocess.run(
        [*cmd, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("segv", "killed by signal SIGSEGV"),
        ("exit", "died without returning a result: exit code 3"),
        ("raise", "ValueError: a is one"),
    ],
)
def test_a_failing_job_fails_alone(tmp_path: Path, mode: str, expected: str) -> None:
    proc = _run(tmp_path, "+a=0,1,2,3", f"+mode={mode}", "hydra.launcher.n_jobs=2")
    assert proc.returncode != 0
    assert expected in proc.stdout + proc.stderr
    assert "#1 FAILED" in proc.stdout
    # the other jobs ran to the end
    marks = tmp_path / "marks"
    assert sorted(p.name for p in marks.glob("*.done")) == ["0.done", "2.done", "3.done"]
    assert "4/4 done, 1 failed" in proc.stdout


def test_a_raising_job_shows_its_own_traceback_and_logs(tmp_path: Path) -> None:
    proc = _run(tmp_path, "+a=0,1", "+mode=raise")
    assert proc.returncode != 0
    job_dir = tmp_path / "sweep" / "1"
    # the traceback from inside the job's process (the app's frame and source line), then Hydra's
    assert f'File "{tmp_path / "app.py"}", line ' in proc.stderr, proc.stderr
    assert '    raise ValueError("a is one")\n' in proc.stderr
    logs = f"logs of the job: {job_dir / 'stdout.log'} {job_dir / 'stderr.log'}"
    assert f"ValueError: a is one\n{logs}\n" in proc.stderr
    assert "The above exception was the direct cause of the following exception" in proc.stderr


def test_timeout_kills_only_the_slow_job(tmp_path: Path) -> None:
    t0 = time.monotonic()
    proc = _run(
        tmp_path, "+a=0,1,2", "+mode=sleep", "hydra.launcher.timeout_s=1.5", "hydra.launcher.n_jobs=3"
    )
    assert time.monotonic() - t0 < 30
    assert proc.returncode != 0
    assert "job #1 (+a=1 +mode=sleep) timed out after 1.5 s" in proc.stdout + proc.stderr
    assert sorted(p.name for p in (tmp_path / "marks").glob("*.done")) == ["0.done", "2.done"]


def test_outputs_land_in_job_directories(tmp_path: Path) -> None:
    proc = _run(tmp_path, "+a=0,1,2", "hydra.launcher.n_jobs=2")
    assert proc.returncode == 0, proc.stderr
    for a in range(3):
        job_dir = tmp_path / "sweep" / str(a)
        assert (job_dir / "stdout.log").read_text().strip() == f"job says a={a}"
        assert f"job complains a={a}" in (job_dir / "stderr.log").read_text()
        assert (job_dir / ".hydra" / "overrides.yaml").is_file()
    # nothing of the jobs leaks into the controller's own output
    assert "job says" not in proc.stdout


def test_returns_in_job_order_with_values(hydra_sweep_runner, tmp_path: Path) -> None:
    """Later jobs finish first (delay shrinks with a); JobReturns still come back in job order."""
    marks = tmp_path / "marks"
    marks.mkdir()

    def task(cfg):
        time.sleep(0.2 * (3 - cfg.a))
        return {"a": cfg.a, "pid": os.getpid()}

    sweep = hydra_sweep_runner(
        calling_file=None,
        calling_module="hydra.test_utils.a_module",
        task_function=task,
        config_path=None,
        config_name=None,
        overrides=["hydra/launcher=hydraflow_local", "hydra.launcher.n_jobs=4", "+a=0,1,2,3"],
        temp_dir=tmp_path,
    )
    with sweep:
        returns = sweep.returns[0]
    assert [r.overrides for r in returns] == [[f"+a={a}"] for a in range(4)]
    assert [r.return_value["a"] for r in returns] == [0, 1, 2, 3]
    pids = {r.return_value["pid"] for r in returns}
    assert len(pids) == 4  # one process per job
    assert os.getpid() not in pids
    assert [r.hydra_cfg.hydra.job.num for r in returns] == [0, 1, 2, 3]


def test_pool_is_bounded(hydra_sweep_runner, tmp_path: Path) -> None:
    """n_jobs=2: never more than two jobs alive at the same time."""
    log = tmp_path / "spans.txt"

    def task(cfg):
        start = time.monotonic()
        time.sleep(0.15)
        with log.open("a") as f:
            f.write(f"{start} {time.monotonic()}\n")

    sweep = hydra_sweep_runner(
        calling_file=None,
        calling_module="hydra.test_utils.a_module",
        task_function=task,
        config_path=None,
        config_name=None,
        overrides=["hydra/launcher=hydraflow_local", "hydra.launcher.n_jobs=2", "+a=range(6)"],
        temp_dir=tmp_path / "sweep",  # the runner deletes its temp_dir on exit
    )
    with sweep:
        assert len(sweep.returns[0]) == 6
    spans = [tuple(map(float, line.split())) for line in log.read_text().splitlines()]
    for t, _ in spans:
        overlapping = sum(1 for s, e in spans if s <= t < e)
        assert overlapping <= 2


def test_unpicklable_return_value_is_reported(hydra_sweep_runner, tmp_path: Path) -> None:
    import threading

    def task(cfg):
        return threading.Lock()  # neither pickle nor cloudpickle can send a lock

    sweep = hydra_sweep_runner(
        calling_file=None,
        calling_module="hydra.test_utils.a_module",
        task_function=task,
        config_path=None,
        config_name=None,
        overrides=["hydra/launcher=hydraflow_local", "+a=1"],
        temp_dir=tmp_path,
    )
    with pytest.raises(RuntimeError, match="cannot be sent back to the launcher"), sweep:
        pass


def test_bad_launcher_option_is_a_clear_error(tmp_path: Path) -> None:
    proc = _run(tmp_path, "+a=0,1", "hydra.launcher.n_jobs=0")
    assert proc.returncode != 0
    assert "hydra.launcher.n_jobs must be >= 1" in proc.stderr
    assert not (tmp_path / "marks" / "0.pid").exists()


def test_sigint_to_controller_stops_running_jobs(tmp_path: Path) -> None:
    app = _write_app(tmp_path)
    marks = tmp_path / "marks"
    env = {**os.environ, "MARKS": str(marks)}
    cmd = [
        sys.executable,
        str(app),
        "-m",
        "hydra/launcher=hydraflow_local",
        f"hydra.sweep.dir={tmp_path}/sweep",
        "+a=0,1,2,3",
        "+mode=sleepall",
        "hydra.launcher.n_jobs=2",
        "hydra.launcher.kill_grace_s=2",
    ]
    with subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        deadline = time.monotonic() + 30
        while len(list(marks.glob("*.pid"))) < 2:
            assert time.monotonic() < deadline, "jobs did not start"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert "interrupted, stopping 2 running jobs" in out
    pids = [int(p.read_text()) for p in marks.glob("*.pid")]
    assert len(pids) == 2  # the queued jobs never started
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_on_a_terminal() -> None:
    stream = _Tty()
    progress = Progress(4, stream=stream, label="x")
    assert progress.mode == "bar"
    progress.update(running=2)
    progress.job_done(failed=False, running=2)
    progress.job_done(failed=True, running=1)
    progress.close()
    text = stream.getvalue()
    assert "\r\x1b[K" in text
    assert "x: 2/4 done, 1 failed, 1 running" in text
    assert "ETA" in text
    assert text.endswith("\n")


def test_progress_logs_when_not_a_terminal(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="hydraflow.launch")
    progress = Progress(2, stream=io.StringIO(), label="y")
    assert progress.mode == "log"
    progress.job_done(failed=False)
    progress.job_done(failed=False)
    assert "y: 2/2 done, 0 failed" in caplog.text


def test_describe_exit() -> None:
    assert describe_exit(0) == "exit code 0"
    assert describe_exit(-9) == "killed by signal SIGKILL (9)"


GROUP_APP = textwrap.dedent(
    """
    import hydra
    from omegaconf import OmegaConf

    @hydra.main(version_base=None, config_path="conf", config_name="config")
    def main(cfg):
        return OmegaConf.to_container(cfg, resolve=True)

    if __name__ == "__main__":
        main()
    """
)


def test_job_configs_and_files_are_the_same_as_with_the_basic_launcher(db_group_app) -> None:
    """The pool composes once per config-group combination: every job's files must be what Hydra writes."""
    sweep = db_group_app(GROUP_APP)
    args = [
        "hydra.job.config.override_dirname.exclude_keys=[db.port]",
        "db=mysql,postgres",
        "lr=1,2",
        "+tag=a,b",
    ]
    _, local = sweep("hydraflow_local", *args, "db.port=7")
    _, basic = sweep("basic", *args, "db.port=7")
    assert len(basic) == 16  # 8 jobs, 2 files each, in override_dirname directories
    assert "+tag=b,db=postgres,lr=2/.hydra/config.yaml" in basic  # sorted, db.port excluded
    assert local == basic
