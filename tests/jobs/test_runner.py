"""`hydraflow run` / `show`: dry run, call and submit jobs, needs, failures, summary and exit code.

These use small scripts as the commands (real subprocesses); the real Hydra app with the hydraflow sweeper,
launcher and runtime is exercised in test_run_hydra.py and test_nxm.py.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def hydraflow(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "hydraflow", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    if check and proc.returncode != 0:
        msg = f"hydraflow {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        raise AssertionError(msg)
    return proc


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


RECORD = """
import json, sys
from pathlib import Path
with Path("calls.jsonl").open("a") as f:
    f.write(json.dumps({"script": Path(sys.argv[0]).name, "args": sys.argv[1:]}) + "\\n")
code = int(next((a.split("=", 1)[1] for a in sys.argv if a.startswith("exit=")), "0"))
sys.exit(code)
"""


def calls(root: Path) -> list[dict]:
    import json

    path = root / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_dry_run_prints_every_job_and_runs_nothing(tmp_path: Path) -> None:
    write(tmp_path / "app.py", RECORD)
    write(
        tmp_path / "hydraflow.yaml",
        """
        jobs:
          prepare:
            run: python app.py
          train:
            run: python app.py
            needs: prepare
            add: hydra.launcher.n_jobs=2
            sets:
              - each: model=a,b lr=1:3
                all: seed=0
              - each: model=c
                add: hydra.launcher.n_jobs=1
        """,
    )
    sub = tmp_path / "sub" / "dir"
    sub.mkdir(parents=True)
    out = hydraflow("run", "train", "--dry-run", cwd=sub).stdout
    assert not (tmp_path / "calls.jsonl").exists()
    lines = out.splitlines()
    assert lines[0].startswith("job prepare: run")
    train = lines.index(next(line for line in lines if line.startswith("job train:")))
    assert "(2 sets, 7 jobs, needs: prepare)" in lines[train]
    assert "  set 1: 6 jobs" in lines
    commands = [shlex.split(line.strip()[2:]) for line in lines if line.strip().startswith("$ ")]
    assert len(commands) == 3
    first = commands[1]
    assert first[0] == sys.executable
    assert first[1:5] == ["app.py", "--multirun", "hydra/sweeper=hydraflow", "hydra/launcher=hydraflow_local"]
    assert "hydra.launcher.n_jobs=2" in first
    # the sweeping arguments reach the sweeper through its params; plain ones stay on the command line
    assert first[-2:] == ["++hydra.sweeper={params:{model:'a,b', lr:'1:3'}}", "seed=0"]
    assert any(a.startswith("hydra.sweep.dir=multirun/train/") for a in first)
    assert "hydra.launcher.n_jobs=1" in commands[2]
    jobs = [
        line.split(None, 1)[1] for line in lines if line.startswith("      ") and line.split()[0].isdigit()
    ]
    assert jobs == [
        "(no overrides)",
        "model=a lr=1 seed=0",
        "model=a lr=2 seed=0",
        "model=a lr=3 seed=0",
        "model=b lr=1 seed=0",
        "model=b lr=2 seed=0",
        "model=b lr=3 seed=0",
        "model=c",
    ]
    # n_jobs is a setting of the local pool: --submit refuses it, naming it and the set's line
    refused = hydraflow("run", "train", "-n", "--submit", cwd=tmp_path, check=False)
    assert refused.returncode == 2
    assert (
        "hydraflow.yaml:9: 'hydra.launcher.n_jobs=2' is not a setting of the hydraflow_slurm"
        in refused.stderr
    )
    text = (
        (tmp_path / "hydraflow.yaml").read_text().replace("n_jobs=2", "name=x").replace("n_jobs=1", "name=y")
    )
    (tmp_path / "hydraflow.yaml").write_text(text)
    slurm = hydraflow("run", "train", "-n", "--submit", cwd=tmp_path).stdout
    assert "hydra/launcher=hydraflow_slurm" in slurm
    assert "hydra/launcher=hydraflow_local" not in slurm
    pbs = hydraflow("run", "-n", "--launcher", "pbs", "--add", "hydra.launcher.queue=q1", cwd=tmp_path).stdout
    assert pbs.count("hydra/launcher=hydraflow_pbs") == 3
    assert pbs.count("hydra.launcher.queue=q1") == 3


def test_errors_are_clear_and_nothing_runs(tmp_path: Path) -> None:
    write(tmp_path / "app.py", RECORD)
    write(
        tmp_path / "hydraflow.yaml",
        """
        jobs:
          a:
            run: python app.py
          b:
            run: python app.py
            sets:
              - each: x=1,2
              - eachh: y=1
        """,
    )
    proc = hydraflow("run", "a", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "hydraflow.yaml:8:9:" in proc.stderr
    assert "unknown key 'eachh' in set 2 of job 'b'" in proc.stderr
    assert not (tmp_path / "calls.jsonl").exists()
    write(
        tmp_path / "hydraflow.yaml", "jobs:\n  a:\n    run: python app.py\n    sets:\n      - each: x=1,2\n"
    )
    proc = hydraflow("run", "nope", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "unknown job 'nope'" in proc.stderr
    proc = hydraflow("run", "--launcher", "lsf", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "unknown launcher 'lsf'" in proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = hydraflow("show", cwd=empty, check=False)
    if proc.returncode:  # (unless some parent of tmp_path has a hydraflow.yaml)
        assert "no hydraflow.yaml or .hydraflow.yaml in" in proc.stderr


def test_bad_sweep_syntax_is_reported_before_anything_runs(tmp_path: Path) -> None:
    write(tmp_path / "app.py", RECORD)
    write(
        tmp_path / "hydraflow.yaml",
        """
        jobs:
          first:
            run: python app.py
          second:
            run: python app.py
            needs: first
            sets:
              - each: x=1,2
              - each: y=1:3:0
        """,
    )
    proc = hydraflow("run", "second", cwd=tmp_path, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "hydraflow.yaml:9" in proc.stderr
    assert "set 2 of job 'second'" in proc.stderr
    assert not (tmp_path / "calls.jsonl").exists()


def test_failure_skips_dependants_runs_the_rest_and_exits_nonzero(tmp_path: Path) -> None:
    write(tmp_path / "app.py", RECORD)
    write(
        tmp_path / "hydraflow.yaml",
        """
        jobs:
          prepare:
            run: python app.py
            sets:
              - each: x=1
          train:
            run: python app.py
            needs: prepare
            sets:
              - each: exit=3
              - each: exit=0
          report:
            run: python app.py
            needs: train
          other:
            run: python app.py
        """,
    )
    proc = hydraflow("run", cwd=tmp_path, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "summary: 2 ok, 1 failed, 1 skipped" in out
    summary = out[out.index("summary:") :].splitlines()
    assert summary[1].split()[:2] == ["ok", "prepare"]
    assert summary[2].split()[:2] == ["failed", "train"]
    assert "set 1 exited with code 3" in summary[2]
    assert summary[3].split()[:2] == ["skipped", "report"]
    assert summary[4].split()[:2] == ["ok", "other"]
    ran = calls(tmp_path)
    # both sets of train ran (one failed), report was skipped
    assert [c["args"][-1] for c in ran] == ["x=1", "exit=3", "exit=0", ran[-1]["args"][-1]]
    assert len(ran) == 4
    assert all(c["args"][0] == "--multirun" for c in ran)


def test_call_job_calls_the_function_once_per_job(tmp_path: Path) -> None:
    write(
        tmp_path / "tools" / "report.py",
        """
        import json
        from pathlib import Path

        def record(args):
            if "x=3" in args:
                raise RuntimeError("boom")
            with Path("called.jsonl").open("a") as f:
                f.write(json.dumps(args) + "\\n")
        """,
    )
    write(tmp_path / "tools" / "__init__.py", "")
    write(
        tmp_path / "hydraflow.yaml",
        """
        jobs:
          report:
            call: tools.report.record
            add: k=v
            sets:
              - each: x=1,2
                all: y=0
          broken:
            call: tools.report.record
            sets:
              - each: x=2:4
        """,
    )
    sub = tmp_path / "deeper"
    sub.mkdir()
    proc = hydraflow("run", "report", cwd=sub)
    lines = (sub / "called.jsonl").read_text().splitlines()
    assert lines == ['["x=1", "y=0", "k=v"]', '["x=2", "y=0", "k=v"]']
    assert "summary: 1 ok, 0 failed, 0 skipped" in proc.stdout
    proc = hydraflow("run", "broken", cwd=sub, check=False)
    assert proc.returncode == 1
    assert "RuntimeError: boom" in proc.stdout
    assert "1 of 3 calls raised" in proc.stdout
    assert len((sub / "called.jsonl").read_text().splitlines()) == 4  # x=2 and x=4 still ran


def test_submit_job_gets_one_file_of_argument_lines(tmp_path: Path) -> None:
    write(
        tmp_path / "handler.py",
        """
        import shutil, sys
        shutil.copy(sys.argv[1], "received.txt")
        """,
    )
    write(
        tmp_path / "hydraflow.yaml",
        """
        jobs:
          ship:
            submit: python handler.py
            add: hydra.launcher.n_jobs=1
            sets:
              - each: model=a,b
                all: ["name='two words'"]
              - each: lr=1:2
        """,
    )
    hydraflow("run", "ship", cwd=tmp_path)
    lines = (tmp_path / "received.txt").read_text().splitlines()
    assert [shlex.split(line) for line in lines] == [
        ["model=a", "name='two words'", "hydra.launcher.n_jobs=1"],
        ["model=b", "name='two words'", "hydra.launcher.n_jobs=1"],
        ["lr=1", "hydra.launcher.n_jobs=1"],
        ["lr=2", "hydra.launcher.n_jobs=1"],
    ]
    assert list((tmp_path / ".hydraflow" / "submit").glob("ship-*.txt"))


def test_show_lists_jobs_and_details(tmp_path: Path) -> None:
    write(
        tmp_path / "hydraflow.yaml",
        """
        jobs:
          build-target:
            run: python build.py
            sets:
              - each: model=a,b data=x,y seed=0:2
          sample:
            run: python sample.py
            needs: build-target
            add: hydra.launcher.n_jobs=2
            sets:
              - each: model=a,b data=x,y seed=0:2 sampler=s1,s2
        """,
    )
    out = hydraflow("show", cwd=tmp_path).stdout
    assert "build-target" in out
    assert "12" in out
    assert "24" in out
    detail = hydraflow("show", "sample", cwd=tmp_path).stdout
    assert "needs: build-target" in detail
    assert "set 1 (line 11): 24 jobs" in detail
    assert "--multirun hydra/sweeper=hydraflow" in detail
    assert "build.py" not in detail


def test_sweeping_arguments_go_through_sweeper_params() -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from hydraflow.jobs.runner import hydra_safe_arguments

    plain = ["model=cnn", "lr=0.1", "+extra=x", "~gone"]
    assert hydra_safe_arguments(plain) == plain  # plain overrides: unchanged
    routed = hydra_safe_arguments(["model=(cnn,vit)_(small,large)", "seed=0", "opt.lr/m=1,3", "name=it's,x"])
    # seed=0 comes before a routed argument: it goes into the params too (the command line's order is the
    # sweep order) and stays on the command line (Hydra composes the config with it)
    assert routed == [
        "++hydra.sweeper={params:{model:'(cnn,vit)_(small,large)', seed:'0', opt.lr/m:'1,3', name:'it\\'s,x'}}",
        "seed=0",
    ]
    value = OverridesParser.create().parse_override(routed[0]).value()
    assert value == {
        "params": {"model": "(cnn,vit)_(small,large)", "seed": "0", "opt.lr/m": "1,3", "name": "it's,x"}
    }
    # a range looks like a plain string to Hydra, which would set it into the app's config: routed too
    assert hydra_safe_arguments(["lr=0.01:0.03:0.01", "w=1,2"]) == [
        "++hydra.sweeper={params:{lr:'0.01:0.03:0.01', w:'1,2'}}"
    ]


def test_interrupt_stops_the_command_and_reports(tmp_path: Path) -> None:
    import signal
    import time

    write(
        tmp_path / "slow.py",
        """
        import signal, sys, time
        from pathlib import Path

        def stop(signum, frame):
            Path("stopped").write_text("SIGINT")
            sys.exit(1)

        signal.signal(signal.SIGINT, stop)
        Path("started").write_text("")
        time.sleep(60)
        """,
    )
    write(
        tmp_path / "hydraflow.yaml",
        "jobs:\n  slow:\n    run: python slow.py\n  after:\n    run: python slow.py\n    needs: slow\n",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "hydraflow", "run", "after"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)  # to hydraflow only: it forwards the interrupt to the running command
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert (tmp_path / "stopped").read_text() == "SIGINT"
    assert "summary: 0 ok, 1 failed, 1 skipped" in out
    assert "interrupted" in out
