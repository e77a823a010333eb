"""``hydra/launcher=hydraflow_pbs`` end to end: Torque dialect over the slurm-wlm-torque qsub/qstat/qdel."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from hydraflow.launch.config import PBSConfig
from hydraflow.launch.pbs.backend import pbs_parameters

if TYPE_CHECKING:
    from pathlib import Path

APP = textwrap.dedent(
    """
    import os
    from pathlib import Path
    import hydra

    @hydra.main(version_base=None, config_path=None)
    def main(cfg):
        a = int(cfg.a)
        print(f"job says a={a}")
        if a == 2:
            raise ValueError("a is two")
        Path(os.environ["MARKS"], f"{a}.done").write_text(str(a * 10))
        return a * 10

    if __name__ == "__main__":
        main()
    """
)


@pytest.mark.torque
def test_sweep_through_torque_dialect(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    marks = tmp_path / "marks"
    marks.mkdir()
    cmd = [
        sys.executable,
        "app.py",
        "-m",
        "hydra/launcher=hydraflow_pbs",
        "hydra.launcher.dialect=torque",
        "hydra.launcher.poll_interval_s=0.25",
        "hydra.launcher.timeout_min=5",
        "hydra.launcher.progress=log",
        f"hydra.sweep.dir={tmp_path}/sweep",
        "+a=0,1,2",
    ]
    proc = subprocess.run(
        cmd,
        cwd=tmp_path,
        env={**os.environ, "MARKS": str(marks)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "hydraflow_pbs: submitting 3 jobs as 1 job array" in out
    assert "#2 FAILED: ValueError: a is two" in out
    assert sorted(p.name for p in marks.glob("*.done")) == ["0.done", "1.done"]
    assert (tmp_path / "sweep" / "1" / ".hydra" / "config.yaml").is_file()


def test_pbs_parameters_mapping() -> None:
    params = {
        "name": "app",
        "timeout_min": 30,
        "cpus_per_task": 4,
        "tasks_per_node": 2,
        "ngpus": 1,
        "mem_gb": 8,
        "queue": "workq",
        "account": "proj",
        "additional_resources": {"place": "scatter"},
        "additional_directives": ["-m abe"],
        "setup": ["module load x"],
        "submitit_folder": "f",
        "dialect": "pbspro",
    }
    assert pbs_parameters(PBSConfig.from_params(params)) == {
        "job_name": "app",
        "timeout_min": 30,
        "ncpus": 4,
        "mpiprocs": 2,
        "ngpus": 1,
        "mem_gb": 8,
        "queue": "workq",
        "account": "proj",
        "additional_resources": {"place": "scatter"},
        "additional_directives": ["-m abe"],
        "setup": ["module load x"],
        "array_parallelism": 256,  # the fields' defaults, which the executor's own defaults equal
        "nodes": 1,
        "signal_delay_s": 90,
        "stderr_to_stdout": False,
    }
    with pytest.raises(ValueError, match="unknown field"):
        PBSConfig.from_params({"partition": "x"})
