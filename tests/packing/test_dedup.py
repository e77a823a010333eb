"""Dedup before launch (``hydraflow.launch.dedup`` + the hook of ``@hydraflow.main``) with ``hydraflow_local``.

Real apps, real sqlite stores; the jobs leave a mark each time their function runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hydraflow.launch.dedup import SkippedReturn
from hydraflow.tracking.dedup import HOOK_ATTRIBUTE, DedupHook, finished_runs
from hydraflow.tracking.main import _job, _Options

from .conftest import TRACKED_APP, make_packed

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.filterwarnings("ignore:Future Hydra versions will no longer change:UserWarning")

LOCAL = "hydraflow_local"


def _runs(marks: Path) -> list[str]:
    return sorted(p.name for p in marks.iterdir())


@pytest.mark.slow
def test_a_rerun_forks_no_finished_job(tmp_path: Path) -> None:
    app = make_packed(tmp_path, TRACKED_APP)
    proc = app.run(LOCAL, "hydra.launcher.n_jobs=2", "a=range(4)")
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = _runs(app.marks)
    assert len(first) == 4
    proc = app.run(LOCAL, "hydra.launcher.n_jobs=2", "a=range(6)", sweep="again")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "4 of 6 jobs already have a FINISHED MLflow run: not launched" in proc.stdout + proc.stderr
    assert "launching 2 jobs" in proc.stdout + proc.stderr
    assert len(_runs(app.marks)) == 6
    # the finished jobs were not forked: a job that skips itself still writes its directory
    assert sorted(p.parent.name for p in (tmp_path / "again").glob("*/.hydra")) == ["4", "5"]


@pytest.mark.slow
def test_options_that_run_every_job_skip_nothing_before_launch(tmp_path: Path) -> None:
    source = TRACKED_APP.replace("@hydraflow.main(Config)", "@hydraflow.main(Config, rerun_finished=True)")
    app = make_packed(tmp_path, source)
    assert app.run(LOCAL, "a=range(2)").returncode == 0
    proc = app.run(LOCAL, "a=range(2)", sweep="again")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "already have a FINISHED" not in proc.stdout + proc.stderr
    for a in range(2):  # both ran again, into their runs
        assert "hydraflow: rerunning run" in (tmp_path / "again" / str(a) / "app.log").read_text()


@pytest.mark.slow
def test_match_overrides_and_update_are_honoured(tmp_path: Path) -> None:
    source = TRACKED_APP.replace(
        "@hydraflow.main(Config)",
        "@hydraflow.main(Config, match_overrides=True, update=lambda c: {**c, 'b': c.a / 2})",
    ).replace("    a: int = 0\n", "    a: int = 0\n    c: int = 1\n")
    app = make_packed(tmp_path, source)
    assert app.run(LOCAL, "a=range(3)").returncode == 0
    # other defaults, same overrides: match_overrides says these jobs are done
    proc = app.run(LOCAL, "a=range(3)", "++c=1", sweep="again")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "0 of 3 jobs already have a FINISHED" in proc.stdout + proc.stderr  # ++c=1 is an override
    proc = app.run(LOCAL, "a=range(3)", sweep="third")
    assert "3 of 3 jobs already have a FINISHED MLflow run" in proc.stdout + proc.stderr
    assert len(_runs(app.marks)) == 6


@pytest.mark.slow
def test_a_config_that_may_resolve_differently_is_left_to_the_job(tmp_path: Path) -> None:
    source = TRACKED_APP.replace(
        "    b: float = 0.5\n", '    b: float = 0.5\n    home: str = "${oc.env:HOME}"\n'
    )
    app = make_packed(tmp_path, source)
    assert app.run(LOCAL, "a=range(2)").returncode == 0
    proc = app.run(LOCAL, "a=range(2)", sweep="again")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "0 of 2 jobs already have a FINISHED" in proc.stdout + proc.stderr
    assert "launching 2 jobs" in proc.stdout + proc.stderr
    assert (
        "hydraflow: skipping job" in (tmp_path / "again" / "0" / "app.log").read_text()
    )  # the job's own check
    assert len(_runs(app.marks)) == 2


@pytest.mark.slow
def test_a_skipped_job_returns_what_its_own_check_returns(hydra_sweep_runner, tmp_path: Path) -> None:
    """The JobReturn of a job skipped before launch equals the one of the same job skipping itself."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    opts = _Options(
        tracking_uri=uri,
        chdir=False,
        force_new_run=False,
        match_overrides=False,
        rerun_finished=False,
        update=None,
    )

    def fn(run, cfg):
        return {"a": cfg.a, "run": run.info.run_id}

    def plain(cfg):
        return _job(fn, cfg, dry_run=False, opts=opts)

    hook = DedupHook(uri, match_overrides=False, update=None, active=True)

    def sweep(task, folder: str, *, with_hook: bool = False):
        runner = hydra_sweep_runner(
            calling_file=None,
            calling_module="hydra.test_utils.a_module",
            task_function=task,
            config_path=None,
            config_name=None,
            overrides=["hydra/launcher=hydraflow_local", "hydra.launcher.n_jobs=2", "+a=1,2,3"],
            temp_dir=tmp_path / folder,
        )
        if with_hook:  # the runner is the task function Hydra's launcher gets: the hook goes on it
            setattr(runner, HOOK_ATTRIBUTE, hook)
        with runner:
            return runner.returns[0]

    first = sweep(plain, "first")
    assert [type(r) for r in first] != [SkippedReturn] * 3
    in_task = sweep(plain, "again")
    before = sweep(plain, "again", with_hook=True)
    assert [type(r) for r in before] == [SkippedReturn] * 3
    for own, pre, ran in zip(in_task, before, first, strict=True):
        assert pre.return_value == own.return_value == ran.return_value
        assert pre.status == own.status
        assert pre.overrides == own.overrides
        assert pre.task_name == own.task_name
        assert pre.cfg == own.cfg
        assert pre.hydra_cfg == own.hydra_cfg
        assert pre.working_dir == own.working_dir


@pytest.mark.slow
def test_the_store_is_read_once_per_experiment(tmp_path: Path) -> None:
    app = make_packed(tmp_path, TRACKED_APP)
    assert app.run(LOCAL, "a=range(3)").returncode == 0
    from hydraflow.tracking.store import FINGERPRINT_TAG

    found = finished_runs(f"sqlite:///{tmp_path / 'mlflow.db'}", "app", FINGERPRINT_TAG)
    assert len(found) == 3
    assert sorted(ret for _, ret in found.values()) == ["0", "10", "20"]
    assert finished_runs(f"sqlite:///{tmp_path / 'none.db'}", "app", FINGERPRINT_TAG) == {}
    assert finished_runs(f"sqlite:///{tmp_path / 'mlflow.db'}", "other", FINGERPRINT_TAG) == {}


def test_the_hook_stops_at_an_experiment_without_finished_runs(tmp_path: Path) -> None:
    hook = DedupHook(f"sqlite:///{tmp_path / 'mlflow.db'}", match_overrides=False, update=None, active=True)
    read = []

    class View:
        def __init__(self, n: int) -> None:
            from omegaconf import OmegaConf

            self.num, self.config, self.overrides, self.job_name = (
                n,
                OmegaConf.create({"a": n}),
                [f"a={n}"],
                "app",
            )

        def with_hydra(self) -> None:
            raise AssertionError

    def views():
        for n in range(100):
            read.append(n)
            yield View(n)

    assert list(hook(views())) == [None]
    assert read == [0]
