"""The runner on hostile job files: bad launcher settings refused up front, huge files ordered in linear time."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from hydraflow.jobs import JobFileError, job_order, parse_job_file, plan

if TYPE_CHECKING:
    from pathlib import Path

LOCAL_ONLY = """\
jobs:
  train:
    run: python train.py
    add: hydra.launcher.n_jobs=2
    sets:
      - each: x=1,2
      - each: x=3
        add: seed=1
"""


def test_a_setting_of_another_launcher_is_refused_at_the_set_line(tmp_path: Path) -> None:
    job_file = parse_job_file(LOCAL_ONLY, tmp_path / "hydraflow.yaml")
    plan(job_file)  # the local pool has n_jobs
    with pytest.raises(JobFileError) as info:
        plan(job_file, launcher="slurm")
    assert info.value.line == 6  # set 1
    assert info.value.path == tmp_path / "hydraflow.yaml"
    assert info.value.message.startswith(
        "'hydra.launcher.n_jobs=2' is not a setting of the hydraflow_slurm launcher (but of hydraflow_local"
    )


def test_the_launcher_chosen_in_the_job_file_is_the_one_checked(tmp_path: Path) -> None:
    text = LOCAL_ONLY.replace(
        "add: hydra.launcher.n_jobs=2", "add: [hydra/launcher=hydraflow_slurm]"
    ).replace("add: seed=1", "add: hydra.launcher.partition=gpu")
    job_file = parse_job_file(text, tmp_path / "hydraflow.yaml")
    plan(job_file)  # partition is a SLURM setting
    with pytest.raises(JobFileError, match=r"'hydra\.launcher\.partition=gpu' is not a setting of") as info:
        plan(job_file, launcher="local")
    assert info.value.line == 7  # set 2


def test_hydraflow_run_refuses_it_before_running_anything(tmp_path: Path) -> None:
    (tmp_path / "hydraflow.yaml").write_text(LOCAL_ONLY)
    argv = [sys.executable, "-m", "hydraflow", "run", "--submit"]
    out = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2
    assert out.stderr.startswith(
        f"error: {tmp_path / 'hydraflow.yaml'}:6: 'hydra.launcher.n_jobs=2' is not a"
    )
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "multirun").exists()
    assert out.stdout == ""


def test_job_order_keeps_file_order_where_needs_allow() -> None:
    text = (
        "jobs:\n"
        "  a: {run: x, needs: [d]}\n"
        "  b: {run: x}\n"
        "  c: {run: x, needs: [a, b]}\n"
        "  d: {run: x}\n"
        "  e: {run: x, needs: [d]}\n"
    )
    jf = parse_job_file(text)
    assert [j.name for j in job_order(jf)] == ["b", "d", "a", "c", "e"]
    assert [j.name for j in job_order(jf, ["c"])] == ["b", "d", "a", "c"]
    assert [j.name for j in job_order(jf, ["e", "b"])] == ["b", "d", "e"]


def test_a_30000_job_chain_is_ordered_in_linear_time(tmp_path: Path) -> None:
    """Each job needs the next one: the old scan for the first ready job was quadratic (hours); a hang detector."""
    n = 30_000
    text = (
        "jobs:\n"
        + "".join(f"  j{i}: {{run: x, needs: j{i + 1}}}\n" for i in range(n - 1))
        + f"  j{n - 1}: {{run: x}}\n"
    )
    path = tmp_path / "hydraflow.yaml"
    path.write_text(text)
    code = (
        "import sys\nfrom hydraflow.jobs import load_job_file, job_order\n"
        "order = job_order(load_job_file(sys.argv[1]))\nprint(len(order), order[0].name, order[-1].name)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split() == [str(n), f"j{n - 1}", "j0"]
