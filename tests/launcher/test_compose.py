"""``JobComposer`` returns the config Hydra's ``load_sweep_config`` returns, for every kind of override.

Real Hydra, in process: a config directory with config groups, an optional group, a structured schema and
interpolations; the master config is composed as Hydra composes it for ``-m``; every job is composed both ways
and compared node for node (unresolved YAML of the whole config including ``hydra``, resolved app config, flags,
the structured type), and bad jobs must fail with Hydra's own exception and message.
"""

from __future__ import annotations

import copy
import pickle
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from hydra import initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.singleton import Singleton
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict, read_write

from hydraflow.hydra_adapter.compose import JobComposer

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@dataclass
class _Train:
    lr: float = 0.1
    seed: int = 0
    steps: list[int] = field(default_factory=lambda: [1, 2])


FILES = {
    "config.yaml": """
        defaults:
          - compose_train@train
          - db: mysql
          - optional model: cnn
          - _self_
        train:
          lr: 0.25
        name: ${db.driver}-${train.lr}
        tags: [a]
        nested:
          x: 1
        """,
    "db/mysql.yaml": "driver: mysql\nport: 3306\n",
    "db/postgres.yaml": "driver: postgres\nport: 5432\nuser: ${oc.env:USER,nobody}\n",
    "model/cnn.yaml": "layers: 3\n",
    "model/vit.yaml": "layers: 12\npatch: 16\n",
    "extra/small.yaml": "size: 1\n",
}

GOOD_JOBS = [
    ["train.lr=0.5"],
    ["train.lr=0.7"],
    ["db=postgres", "train.lr=0.5"],
    ["db=postgres", "train.lr=0.7"],
    ["train.lr=0.7", "db=postgres"],  # same groups, other order: same base, other overrides.task
    ["db=postgres", "db.port=1", "train.seed=3"],
    ["model=vit", "model.patch=8"],
    ["+extra=small", "train.lr=1"],
    ["+extra=small", "extra.size=5"],
    ["~model", "train.lr=2"],
    ["+newkey=3", "train.lr=3"],
    ["++train.lr=4"],
    ["++brand.new=5"],
    ["~nested"],
    ["~nested.x"],
    ["tags=[x,y]"],
    ["tags=[]"],
    ["train.steps=[3,4,5]"],
    ["nested={x:5}"],
    ["+train.newkey=1"],
    ["+nested.z=9"],
    ["name=fixed"],
    ["train.seed=1", "train.lr=1e-3"],
    ["train.seed=1", "hydra/job_logging=disabled"],
    ["train.seed=2", "hydra/job_logging=disabled"],
    [],
]

BAD_JOBS = [
    ["train.lr=abc"],  # not a float
    ["train.seed=1.5"],  # not an int
    ["train.steps=[a]"],  # not a list of int
    ["nested={x:2,y:3}"],  # y is not in the struct config (needs +)
    ["nokey=1"],  # not in struct config
    ["db=nosuch"],  # no such option
    ["+model=vit"],  # already in the defaults list
    ["~nosuch"],  # nothing to delete
    ["db.nosuch=1", "db=postgres"],
]


@pytest.fixture
def hydra_setup(tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    for name, text in FILES.items():
        path = tmp_path / "conf" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    saved = copy.deepcopy(Singleton.get_state())  # Hydra's globals (version base, config store, ...)
    try:
        ConfigStore.instance().store(name="compose_train", node=_Train)
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(tmp_path / "conf"), version_base=None):
            loader = GlobalHydra.instance().config_loader()
            master = loader.load_configuration(
                config_name="config",
                overrides=[
                    "hydra.job.config.override_dirname.exclude_keys=[train.seed]",
                    "hydra.sweep.dir=out",
                ],
                run_mode=RunMode.MULTIRUN,
            )
            yield loader, master
    finally:
        Singleton.set_state(saved)


def _snapshot(cfg: Any) -> dict[str, Any]:
    app = copy.deepcopy(cfg)
    with read_write(app), open_dict(app):
        del app["hydra"]
    return {
        "yaml": OmegaConf.to_yaml(cfg),
        "resolved": OmegaConf.to_container(app, resolve=True),
        "struct": OmegaConf.is_struct(cfg),
        "readonly": OmegaConf.is_readonly(cfg),
        "hydra_readonly": OmegaConf.is_readonly(cfg.hydra),
        "type": OmegaConf.get_type(cfg),
        "task": list(cfg.hydra.overrides.task),
        "hydra_overrides": list(cfg.hydra.overrides.hydra),
        "dirname": cfg.hydra.job.override_dirname,
        "choices": dict(cfg.hydra.runtime.choices),
    }


@pytest.mark.parametrize("in_place", [False, True])
def test_every_job_equals_hydras_own_composition(hydra_setup: tuple[Any, Any], in_place: bool) -> None:
    loader, master = hydra_setup
    composer = JobComposer(loader, master)
    composer.plan(GOOD_JOBS)
    for job in GOOD_JOBS:
        expected = _snapshot(loader.load_sweep_config(master, list(job)))
        composer.prepare(job)
        got = _snapshot(composer.compose(job, in_place=in_place))
        assert got == expected, f"job {job}"
    # the shortcut was really taken: every combination with >= 2 jobs composed its base once
    assert composer.shortcut >= 12, (composer.shortcut, composer.full)
    assert composer.full + composer.shortcut == len(GOOD_JOBS)


def test_overrides_are_written_in_the_jobs_order(hydra_setup: tuple[Any, Any]) -> None:
    loader, master = hydra_setup
    composer = JobComposer(loader, master, min_jobs=1)
    jobs = [["db=postgres", "train.lr=0.7", "train.seed=4"], ["train.lr=0.7", "db=postgres", "train.seed=4"]]
    composer.plan(jobs)
    for job in jobs:
        composer.prepare(job)
        cfg = composer.compose(job)
        assert list(cfg.hydra.overrides.task) == job
        assert cfg.hydra.job.override_dirname == "db=postgres,train.lr=0.7"  # sorted, seed excluded
        assert cfg.db.driver == "postgres"
        assert cfg.train.lr == 0.7
    assert composer.shortcut == 2


def test_the_cached_base_is_not_changed_by_a_job(hydra_setup: tuple[Any, Any]) -> None:
    loader, master = hydra_setup
    composer = JobComposer(loader, master)
    jobs = [["+newkey=1"], ["~nested"], ["train.lr=9"]]
    composer.plan(jobs)
    composer.prepare(jobs[0])
    first = composer.compose(jobs[0])
    second = composer.compose(jobs[1])
    third = composer.compose(jobs[2])
    assert first.newkey == 1
    assert "newkey" not in second
    assert "nested" not in second
    assert "nested" in third
    assert "newkey" not in third
    assert third.train.lr == 9
    assert composer.shortcut == 3


@pytest.mark.parametrize("job", BAD_JOBS, ids=" ".join)
def test_a_bad_job_fails_with_hydras_own_error(hydra_setup: tuple[Any, Any], job: list[str]) -> None:
    loader, master = hydra_setup
    with pytest.raises(Exception) as hydra_error:
        loader.load_sweep_config(master, list(job))
    composer = JobComposer(loader, master)
    jobs = [job, ["train.lr=0.5", *job[1:]], ["train.lr=0.6", *job[1:]]]
    composer.plan(jobs)
    for j in jobs:
        composer.prepare(j)
    with pytest.raises(type(hydra_error.value)) as ours:
        composer.compose(job, in_place=True)
    assert str(ours.value) == str(hydra_error.value)
    assert str(ours.value.__cause__) == str(hydra_error.value.__cause__)


def test_hydra_value_overrides_are_composed_in_full(hydra_setup: tuple[Any, Any]) -> None:
    loader, master = hydra_setup
    composer = JobComposer(loader, master)
    jobs = [["hydra.job.env_copy=[HOME]", "train.lr=1"], ["hydra.job.env_copy=[HOME]", "train.lr=2"]]
    composer.plan(jobs)
    for job in jobs:
        composer.prepare(job)
        cfg = composer.compose(job)
        assert _snapshot(cfg) == _snapshot(loader.load_sweep_config(master, list(job)))
        assert "HOME" in cfg.hydra.job.env_set
    assert composer.shortcut == 0
    assert composer.full == 2


def test_a_base_is_dropped_once_every_job_of_it_has_started(hydra_setup: tuple[Any, Any]) -> None:
    loader, master = hydra_setup
    composer = JobComposer(loader, master)
    jobs = [["db=postgres", "train.lr=1"], ["db=postgres", "train.lr=2"], ["train.lr=3"], ["train.lr=4"]]
    composer.plan(jobs)
    for job in jobs:
        composer.prepare(job)
        cfg = composer.compose(job)
        composer.started(job)
        assert cfg.train.lr == float(job[-1].split("=")[1])
    assert composer.shortcut == 4
    assert composer.bases == {}  # nothing kept after the last job of each combination


def test_exported_bases_finish_jobs_in_another_process_state(
    hydra_setup: tuple[Any, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch job gets the controller's bases through a pickle, in another directory and environment."""
    loader, master = hydra_setup
    master.hydra.overrides.hydra.append("hydra.job.env_copy=[HF_TEST_VAR]")  # as if given on the command line
    monkeypatch.setenv("HF_TEST_VAR", "controller")
    controller = JobComposer(loader, master, min_jobs=3)
    jobs = [["db=postgres", f"train.lr={i}"] for i in range(3)] + [["train.lr=9"], ["train.lr=8"]]
    controller.plan(jobs)
    for job in jobs:
        controller.prepare(job)
    exported = pickle.loads(pickle.dumps(controller.export()))  # noqa: S301 - our own bytes
    assert list(exported["bases"]) == [("db=postgres",)]  # the 2-job combination is below min_jobs

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_TEST_VAR", "worker")
    worker = JobComposer.restore(loader, master, exported)
    for job in jobs:
        cfg = worker.compose(job)
        assert _snapshot(cfg) == _snapshot(loader.load_sweep_config(master, list(job)))
        assert cfg.hydra.runtime.cwd == str(tmp_path)
        assert cfg.hydra.job.env_set.HF_TEST_VAR == "worker"
    assert (worker.shortcut, worker.full) == (3, 2)
