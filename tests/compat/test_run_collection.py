"""RunCollection as HydraFlow 0.23 code builds and uses it: ``RunCollection(runs, Run.get)``, masks, frames."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product, starmap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from hydraflow import Run, RunCollection
from hydraflow.analysis import NoRunFoundError

from .conftest import write_run


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
        self.x = len(path.as_posix())


def make(path: Path, count: int, name: str, width: int) -> Run[Config, Impl]:
    run = Run[Config, Impl](path, Impl)
    run.update("count", count)
    run.update("name", name)
    run.update("size.width", width)
    run.update("size.height", None)
    return run


@pytest.fixture
def rc() -> RunCollection[Run[Config, Impl]]:
    rows = ([Path("/".join(map(str, p))), *p] for p in product([3, 5], ["sgd", "adam"], [8, 16, 32]))
    return RunCollection[Run[Config, Impl]](starmap(make, rows), Run.get)


def test_built_from_runs_and_run_get(rc) -> None:
    assert repr(rc) == "RunCollection(Run[Impl], n=12)"
    assert repr(RunCollection([])) == "RunCollection(empty)"
    assert isinstance(rc[[0, 1, 2]], RunCollection)
    assert rc[[0, 5]].to_list("size.width") == [8, 32]
    assert len(rc.filter(count=3, name="adam")) == 3
    assert len(rc.filter(size__width=[8, 32])) == 8
    assert len(rc.filter(("size.width", (16, 32)), count=3, name="sgd")) == 2
    assert rc.try_get(("size.height", 8)) is None
    with pytest.raises(ValueError, match="6 runs match count=3"):
        rc.try_get(count=3)
    with pytest.raises(NoRunFoundError):
        rc.get(count=100)


def test_update_all_runs(rc) -> None:
    rc.update("size.height", 7)
    assert all(r.get("size.height") is None for r in rc)  # present (None): not changed
    rc.update("size.height", lambda r: r.get("size.width") + 10, force=True)
    assert rc.to_list("size.height")[:3] == [18, 26, 42]


def test_values_sort_map_frames(rc) -> None:
    assert rc.to_numpy("count")[3:5].tolist() == [3, 3]
    assert rc.to_series("count").name == "count"
    assert np.array_equal(rc.unique("count"), [3, 5])
    assert rc.n_unique("size.width") == 3
    assert rc.to_list("unknown", lambda r: r.get("count"))[-1] == 5
    first = rc.sort("size.width", "count", reverse=True)[0]  # ties reversed too: "adam" came after "sgd"
    assert (first.get("size.width"), first.get("count"), first.get("name")) == (32, 5, "adam")
    assert list(rc.map(lambda r, x, y=2: r.cfg.size.width + x + y, 10, 20))[:3] == [38, 46, 62]
    df = rc.to_frame("size.width", "count", "run_id", twice=lambda r: r.get("count") * 2)
    assert isinstance(df, pl.DataFrame)
    assert df.columns == ["size.width", "count", "run_id", "twice"]
    assert df.row(-1) == (32, 5, "32", 10)
    with_objects = rc.to_frame("run_id", "run", "cfg")
    assert with_objects.schema["run"] == pl.Object
    assert with_objects.item(0, "run") is rc[0]


def test_concat_and_group_by(rc) -> None:
    df = rc.concat(
        lambda r: pl.DataFrame({"a": [r.get("count"), 20]}),
        "size.width",
        ("z", lambda r: r.get("count") * 20),
    )
    assert df.shape == (24, 3)
    assert df["a"].to_list()[:4] == [3, 20, 3, 20]
    assert df["z"].to_list()[-2:] == [100, 100]
    groups = rc.group_by("count", "name")
    assert len(groups[3, "sgd"]) == 3
    assert isinstance(groups[3, "sgd"], RunCollection)
    agg = groups.agg("size.width", n=len)
    assert agg.item(0, "size.width").to_list() == [8, 16, 32]
    assert agg["n"].to_list() == [3, 3, 3, 3]


def test_masks_from_loaded_runs(tmp_path: Path) -> None:
    dirs = [
        write_run(tmp_path, f"r{i}", {"model": {"lr": lr}, "seed": i})
        for i, lr in enumerate([0.1, 0.01, 0.1])
    ]
    runs = Run.load(dirs)
    assert [r.run_id for r in runs.filter(runs["model.lr"] > 0.05)] == ["r0", "r2"]
    assert [r.run_id for r in runs.exclude(runs["seed"] == 0, model__lr=0.01)] == ["r2"]
    for run in runs.iterdir():
        assert run.name == ".hydra"
    (dirs[0] / "artifacts" / "a.txt").write_text("x")
    assert [p.name for p in runs.glob("*.txt")] == ["a.txt"]
