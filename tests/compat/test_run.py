"""Run as HydraFlow 0.23 code uses it: built from a path, updated in memory, read by key, turned into frames."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest
from omegaconf import DictConfig, ListConfig, OmegaConf

from hydraflow import Run, RunCollection, RunInfo
from hydraflow.analysis import CorruptRunWarning, MissingKeyError, RunLoadError

from .conftest import write_run


class Db:  # a plain class: names the type only, as in HydraFlow
    name: str = ""
    b: int = 0


class PlainConfig:
    a: int = 0
    db: Db = Db()


@dataclass
class Size:
    width: int = 0
    height: int | None = None


@dataclass
class Config:
    count: int = 1
    name: str = "a"
    size: Size = field(default_factory=Size)


class Impl:
    def __init__(self, path: Path) -> None:
        self.path = path.as_posix()


def test_a_run_of_a_missing_directory_loads_lazily_with_an_empty_config() -> None:
    run = Run[PlainConfig].load("a/b/c")
    assert isinstance(run, Run)
    assert type(run) is Run  # a plain class does not make a typed Run
    assert repr(run) == "Run('c')"
    assert run.impl is None
    assert run.config == {}
    assert run.cfg == OmegaConf.create({})
    assert repr(Run(Path())) == "Run('')"
    assert Run(Path()).get("run_dir").as_posix() == "."
    with pytest.raises(RunLoadError, match="does not exist"):
        Run.load("a/b/c", strict=True)


def test_typing_by_dictconfig_or_a_plain_class_reads_the_yaml_as_it_is(tmp_path: Path) -> None:
    d = write_run(tmp_path, "r", {"a": 1, "db": {"name": "x"}})
    for run in (Run[DictConfig](d), Run[PlainConfig].load(d), Run.load(d, cfg_type=PlainConfig)):
        assert run.cfg.a == 1
        assert run.cfg_type is None
        assert run.get("db.name") == "x"


def test_repr_names_a_class_impl_factory() -> None:
    assert repr(Run[Config, Impl](Path("a/b/c"), Impl)) == "Run[Impl]('c')"
    assert repr(Run[Config](Path("a/b/c"), lambda p: p)) == "Run('c')"
    run = Run[Config, Impl].load("a/b/c", Impl)
    assert run.impl.path == "a/b/c/artifacts"
    assert run.get("path") == "a/b/c/artifacts"  # from impl


def test_update_sets_missing_keys_only_unless_forced() -> None:
    run = Run[PlainConfig](Path())
    run.update("a", 10)
    run.update("a", 20)
    assert run.get("a") == 10
    run.update("a", 20, force=True)
    assert run.get("a") == 20
    run.update("db__name", "abc")
    run.update("db.name", "def")
    assert run.get("db.name") == run.get("db__name") == "abc"
    run.update("db.b", lambda r: len(r.cfg.db.name))  # callables get the run
    assert run.get("db.b") == 3
    run.update(("db.name", "x"), ["xyz", 1000])  # several keys: only the missing ones are set
    assert run.get("db.name") == "abc"
    assert run.get("x") == 1000
    run.update(("db.name", "x"), lambda r: [1 / 0, 1 / 0])  # all present: the callable is not called
    run.update(("y", "z"), lambda r: [1, 2])
    assert (run.get("y"), run.get("z")) == (1, 2)
    with pytest.raises(TypeError, match="not an iterable"):
        run.update(("p", "q"), lambda r: "ab")
    cfg = run.cfg
    run.update("late", 5)
    assert run.cfg is cfg  # the same DictConfig, updated in place
    assert cfg.late == 5
    assert run.to_dict() == {"a": 20, "db.name": "abc", "db.b": 3, "x": 1000, "y": 1, "z": 2, "late": 5}
    assert run.to_dict(flatten=False)["db"] == {"name": "abc", "b": 3}


def test_update_of_a_typed_run_looks_at_the_saved_config_not_the_defaults() -> None:
    run = Run[Config, Impl](Path("1/abc/10"), Impl)
    run.update("count", 2)  # Config.count defaults to 1, but this run's config has no "count"
    run.update("size.width", 10)
    assert run.get("count") == 2
    assert run.cfg.size.width == 10
    assert run.cfg.name == "a"  # a default of the dataclass


def test_get_missing_key_is_an_attribute_error_and_a_key_error(tmp_path: Path) -> None:
    run = Run.load(write_run(tmp_path, "r", {"a": 1}))
    for kind in (AttributeError, KeyError, MissingKeyError):
        with pytest.raises(kind, match="key 'nope' not found in run r"):
            run.get("nope")
    assert run.get("nope", 10) == 10
    assert run.get("nope", lambda r: r.get("a") + 1) == 2
    assert run.get("cfg") is run.cfg
    assert run.get("impl") is None
    assert run.get("run") is run
    assert run.get("run_id") == "r"
    assert run.get("impl_factory") is None  # the run's own attributes come last
    assert Run.load(run.run_dir, Impl).get("impl_factory", "none") == "none"  # callables are not values
    assert run["a"] == 1


def test_get_gives_config_containers_as_omegaconf_nodes(tmp_path: Path) -> None:
    run = Run.load(write_run(tmp_path, "r", {"model": {"type": "cnn", "layers": [1, 2]}, "lr": 0.1}))
    model = run.get("model")
    assert isinstance(model, DictConfig)
    assert model.type == "cnn"  # attribute access, as in HydraFlow
    assert model == {"type": "cnn", "layers": [1, 2]}
    assert isinstance(run.get("model.layers"), ListConfig)
    assert run.get("model.layers") == [1, 2]
    assert run.lookup("model") == {"type": "cnn", "layers": [1, 2]}  # the fast path stays plain


def test_lit_to_frame_and_to_frame_impl() -> None:
    run = Run[Config, Impl](Path(), Impl)
    run.update("count", 10)
    run.update("size.width", 100)
    df = pl.DataFrame({"a": [1, 2, 3]}).with_columns(run.lit("size.width", dtype=pl.Int64))
    assert df.columns == ["a", "size.width"]
    assert df["size.width"].to_list() == [100] * 3

    df = run.to_frame(
        lambda r: pl.DataFrame({"v": [r.get("count"), 20]}),
        "size.width",
        ("x", 123),
        ("y", lambda r: r.get("count")),
    )
    assert df.shape == (2, 4)
    assert df["v"].to_list() == [10, 20]
    assert df["x"].to_list() == [123, 123]
    assert df["y"].to_list() == [10, 10]
    df = run.to_frame_impl(lambda impl: pl.DataFrame({"path": [impl.path]}), "count")
    assert df.to_dicts() == [{"path": "artifacts", "count": 10}]
    assert df.schema["count"] == pl.Int32  # pl.lit's type, as in HydraFlow


def test_cfg_can_be_replaced_and_to_dict_needs_a_mapping() -> None:
    run = Run(Path())
    run.cfg = ListConfig([1, 2, 3])
    with pytest.raises(TypeError, match="must be a dictionary"):
        run.to_dict()
    run.cfg = {"a": {"b": 1}}
    assert run.get("a.b") == 1
    assert run.to_dict() == {"a.b": 1}


def test_chdir_path_iterdir_glob(tmp_path: Path) -> None:
    run = Run.load(write_run(tmp_path, "r", {"a": 1}))
    before = Path.cwd()
    with run.chdir() as here:
        assert Path.cwd() == here == run.path()
        Path("a.txt").write_text("a")
    assert Path.cwd() == before
    assert run.path("a.txt").read_text() == "a"
    assert run.path(relative_path="a.txt").is_file()
    assert sorted(p.name for p in run.iterdir()) == [".hydra", "a.txt"]
    assert [p.name for p in run.glob("*.txt")] == ["a.txt"]
    (run.path("sub")).mkdir()
    with run.chdir("sub") as here:
        assert here.name == "sub"
        assert Path.cwd() == here


def test_run_info_of_a_directory() -> None:
    info = RunInfo(Path("x/y/abc123"))
    assert info.run_id == "abc123"
    assert info.run_dir == Path("x/y/abc123")
    assert RunInfo("x/y/z").run_dir == Path("x/y/z")


def test_a_collection_keeps_runs_without_a_config_and_warns(tmp_path: Path) -> None:
    good = write_run(tmp_path, "good", {"x": 1})
    no_cfg = write_run(tmp_path, "nocfg", None)
    broken = write_run(tmp_path, "broken", None)
    (broken / "artifacts/.hydra/config.yaml").write_text("a: [1, 2\nb: }")
    gone = tmp_path / "1" / "gone"
    with pytest.warns(CorruptRunWarning) as record:
        runs = Run.load([good, no_cfg, broken, gone])
    assert [r.run_id for r in runs] == ["good", "nocfg", "broken", "gone"]
    assert len(record) == 3
    assert "has no artifacts/.hydra/config.yaml: the run is kept, with an empty config" in str(
        record[0].message
    )
    assert runs[1].config == {}
    assert runs[3].config == {}
    with pytest.raises(RunLoadError, match="broken YAML"):
        _ = runs[2].config
    assert [r.run_id for r in runs[[0, 1, 3]].filter(x=1)] == ["good"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorruptRunWarning)
        assert [r.run_id for r in Run.load([good, no_cfg, broken, gone], strict=True)] == ["good"]


def test_load_collection_of_paths_hydraflow_style() -> None:
    with pytest.warns(CorruptRunWarning):
        rc = Run[PlainConfig].load([Path("a/b/c"), Path("a/b/d")], n_jobs=-1)
    assert isinstance(rc, RunCollection)
    assert len(rc) == 2
    assert [r.impl for r in rc] == [None, None]
