"""A sweep whose first batch fails before anything ran leaves no sweep directory behind.

Real Hydra apps in subprocesses; the launcher is a class of the app (Hydra instantiates ``_target_``) that
fails the way a refused submission does: before any job ran, or after one job wrote its directory.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

# Hydra instantiates only launchers of the hydra_plugins namespace: this one is written beside the app
PLUGIN = textwrap.dedent(
    """
    from pathlib import Path

    from hydra.plugins.launcher import Launcher


    class RefusingLauncher(Launcher):
        def __init__(self, write_first=False):
            self.write_first = write_first

        def setup(self, *, hydra_context, task_function, config):
            self.config = config

        def launch(self, job_overrides, initial_job_idx):
            sweep = Path(self.config.hydra.sweep.dir)
            (sweep / ".submitit").mkdir()  # an empty folder: a submitit folder whose files were taken back
            if self.write_first:
                (sweep / "0").mkdir()
                (sweep / "0" / "app.log").write_text("job 0 started\\n")
            raise RuntimeError("the scheduler refused the job array")
    """
)

APP = textwrap.dedent(
    """
    from dataclasses import dataclass

    import hydra
    from hydra.core.config_store import ConfigStore


    @dataclass
    class RefusingConf:
        _target_: str = "hydra_plugins.hydraflow_test_refusing.launcher.RefusingLauncher"
        write_first: bool = False


    ConfigStore.instance().store(group="hydra/launcher", name="refusing", node=RefusingConf)


    @hydra.main(version_base=None, config_path=None)
    def main(cfg):
        print("job ran")


    if __name__ == "__main__":
        main()
    """
)


def _sweep(run_python, tmp_path: Path, sweep_dir: Path, *extra: str):
    (tmp_path / "app.py").write_text(APP)
    plugin = tmp_path / "hydra_plugins" / "hydraflow_test_refusing"
    plugin.mkdir(parents=True, exist_ok=True)
    (plugin / "__init__.py").write_text("")
    (plugin / "launcher.py").write_text(PLUGIN)
    return run_python(
        "app.py",
        "-m",
        "hydra/sweeper=hydraflow",
        "hydra/launcher=refusing",
        f"hydra.sweep.dir={sweep_dir}",
        "+a=1:3",
        *extra,
        check=False,
    )


def test_a_first_batch_that_ran_nothing_leaves_no_sweep_directory(run_python, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "multirun" / "2026-12-01" / "12-00-00"
    proc = _sweep(run_python, tmp_path, sweep_dir)
    assert proc.returncode == 1
    assert "the scheduler refused the job array" in proc.stderr
    assert "Nothing ran: removed the sweep directory" in proc.stdout + proc.stderr
    assert not (tmp_path / "multirun").exists()  # the parents the sweep created went too


def test_a_directory_that_existed_before_the_sweep_is_kept(run_python, tmp_path: Path) -> None:
    parent = tmp_path / "multirun"
    (parent / "older").mkdir(parents=True)
    sweep_dir = parent / "new"
    proc = _sweep(run_python, tmp_path, sweep_dir)
    assert proc.returncode == 1
    assert not sweep_dir.exists()
    assert sorted(p.name for p in parent.iterdir()) == ["older"]


def test_a_sweep_that_left_a_trace_is_kept_whole(run_python, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = _sweep(run_python, tmp_path, sweep_dir, "hydra.launcher.write_first=true")
    assert proc.returncode == 1
    assert "Nothing ran" not in proc.stdout + proc.stderr
    assert sorted(p.name for p in sweep_dir.iterdir()) == [".submitit", "0", "multirun.yaml"]
    assert (sweep_dir / "0" / "app.log").read_text() == "job 0 started\n"
