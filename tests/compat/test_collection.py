"""Collection (HydraFlow 0.23's generic base of RunCollection): items read through a ``get`` function."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import product

import numpy as np
import polars as pl
import pytest
from omegaconf import ListConfig, OmegaConf

from hydraflow import Collection, GroupBy
from hydraflow.analysis import MultipleRunsFoundError, NoRunFoundError
from hydraflow.analysis.collection import matches, to_hashable


@dataclass
class Point:
    x: int
    y: str


@pytest.fixture
def points() -> Collection[Point]:
    # getattr is the default get: Collection(items) reads attributes
    return Collection([Point(x, y) for x, y in product([1, 2, 3], ["a", "b", "c", "d"])])


@pytest.fixture
def dicts() -> Collection[dict]:
    rows = [
        {"x": 1, "y": 1, "z": "abcd"},
        {"x": 2, "y": 1, "z": "bac"},
        {"x": 3, "y": 3, "z": "bacd"},
        {"x": 4, "y": 3, "z": "abc"},
        {"x": 5, "y": 3, "z": "abcd"},
    ]
    return Collection(rows, lambda item, key, default: item.get(key, default))


def test_sequence_and_repr(points):
    assert len(points) == 12
    assert bool(points)
    assert not Collection([])
    assert repr(points) == "Collection(Point, n=12)"
    assert repr(Collection([])) == "Collection(empty)"
    assert points[0] == Point(1, "a")
    assert isinstance(points[:3], Collection)
    assert [p.y for p in points[[2, 3]]] == ["c", "d"]  # a list of positions
    assert [p.x for p in points[np.array([0, 11])]] == [1, 3]  # NumPy positions too
    assert list(points[1:3]) == [Point(1, "b"), Point(1, "c")]


def test_getitem_by_key_is_a_polars_series(points):
    s = points["x"]
    assert isinstance(s, pl.Series)
    assert s.name == "x"
    assert s.to_list() == [1] * 4 + [2] * 4 + [3] * 4


def test_filter_forms_and_masks(points):
    assert len(points.filter(x=1)) == 4
    assert len(points.filter(x=3, y="c")) == 1
    assert len(points.filter(lambda p: p.x >= 2)) == 8
    assert len(points.filter(("x", (1, 2)), ("y", ["b", "c"]))) == 4
    # boolean masks, e.g. polars comparisons, combine with every other criterion
    chosen = points.filter(points["x"] <= 2, ("x", (1, 3)), points["y"] > "b", y=["a", "b", "d"])
    assert [(p.x, p.y) for p in chosen] == [(1, "d"), (2, "d")]
    assert list(points.filter()) == list(points)
    with pytest.raises(ValueError, match="mask has 2 values for 12 items"):
        points.filter([True, False])
    with pytest.raises(TypeError, match="filter criterion"):
        points.filter(3)


def test_exclude_drops_the_items_matching_any_criterion(points):
    kept = points.exclude(points["x"] <= 2, y=["a", "b", "d"])
    assert [(p.x, p.y) for p in kept] == [(3, "c")]
    assert list(points.exclude()) == list(points)


def test_get_errors_are_value_errors_and_lookup_errors(points):
    assert points.try_get(x=10) is None
    assert points.get(x=1, y="a") == Point(1, "a")
    assert points.first(x=2) == Point(2, "a")
    assert points.last(x=3) == Point(3, "d")
    for call in (lambda: points.try_get(x=1), lambda: points.get(x=1)):
        with pytest.raises(ValueError, match="4 items match x=1"):
            call()
        with pytest.raises(LookupError):
            call()
        with pytest.raises(MultipleRunsFoundError):
            call()
    for call in (lambda: points.get(x=100), lambda: points.first(x=100), lambda: points.last(x=100)):
        with pytest.raises(ValueError, match=r"no item matches x=100 \(among 12 items\)"):
            call()
        with pytest.raises(NoRunFoundError):
            call()


def test_values_numpy_series_unique(points):
    assert points.to_list("x") == [1] * 4 + [2] * 4 + [3] * 4
    assert points.to_list("nope", 7) == [7] * 12  # getattr's default
    calls = Collection(points, lambda p, k, d: getattr(p, k) if hasattr(p, k) else d(p))
    assert calls.to_list("nope", lambda p: p.x + 1)[:5] == [2, 2, 2, 2, 3]
    assert isinstance(points.to_numpy("x"), np.ndarray)
    assert points.to_numpy("x")[3:5].tolist() == [1, 2]
    s = points.to_series("x", name="X")
    assert s.name == "X"
    assert s.to_list()[-1] == 3
    u = points.unique("y")
    assert isinstance(u, np.ndarray)
    assert u.tolist() == ["a", "b", "c", "d"]
    assert points.n_unique("x") == 3


def test_sort_reverse_reverses_ties_too(points):
    assert points.sort("x", reverse=True).to_list("x") == [3] * 4 + [2] * 4 + [1] * 4
    assert [p.y for p in points.sort("x", reverse=True)[:4]] == ["d", "c", "b", "a"]
    assert points.sort("y", "x").to_list("x") == [1, 2, 3] * 4
    assert list(points.sort()) == list(points)


def test_to_frame_is_polars(points):
    df = points.to_frame("x", "y")
    assert isinstance(df, pl.DataFrame)
    assert df.columns == ["x", "y"]
    assert df.item(0, "x") == 1
    assert df.item(-1, "y") == "d"
    assert points.to_frame().shape == (0, 0)  # a generic collection has no default columns
    df = points.to_frame("x", ("z", 0), w=lambda p: p.x * 10)
    assert df.columns == ["x", "z", "w"]
    assert df["w"].to_list()[-1] == 30
    assert points.to_frame(w=lambda p: p.x).shape == (12, 1)
    assert points.to_frame("x", backend="arrow").num_rows == 12


def test_group_by_and_agg(points):
    groups = points.group_by("y")
    assert isinstance(groups, GroupBy)
    assert list(groups) == ["a", "b", "c", "d"]
    assert len(groups["b"]) == 3
    assert isinstance(groups["b"], Collection)
    assert "a" in groups
    assert "z" not in groups
    assert [len(g) for g in groups.values()] == [3, 3, 3, 3]
    two = points.group_by("x", "y")
    assert len(two[1, "a"]) == 1
    df = points.group_by("x").agg("y", n=len)
    assert isinstance(df, pl.DataFrame)
    assert df["x"].to_list() == [1, 2, 3]
    assert df.item(0, "y").to_list() == ["a", "b", "c", "d"]
    assert df["n"].to_list() == [4, 4, 4]
    assert points.group_by("x").agg().equals(pl.DataFrame({"x": [1, 2, 3]}))


def test_predicates(dicts):
    assert len(dicts.filter(dicts.eq("x", "y"))) == 2
    assert len(dicts.filter(dicts.ne("x", "y"))) == 3
    assert len(dicts.filter(dicts.gt("x", "y"))) == 3
    assert len(dicts.filter(dicts.lt("x", "y"))) == 0
    assert len(dicts.filter(dicts.ge("x", "y"))) == 5
    assert len(dicts.filter(dicts.le("x", "y"))) == 2
    assert len(dicts.filter(dicts.startswith("z", "ab"))) == 3
    assert len(dicts.filter(dicts.endswith("z", "cd"))) == 3
    assert len(dicts.filter(dicts.match("z", r".*ac.*"))) == 2
    assert len(dicts.filter(dicts.match("z", r".*AC.*", flags=re.IGNORECASE))) == 2


def test_sample_and_shuffle_keep_the_items():
    c = Collection(range(100))
    for seed in (None, 1):
        s = c.sample(50, seed=seed)
        assert isinstance(s, Collection)
        assert len(set(s)) == 50
    assert c.sample(50, seed=3)._items == c.sample(50, seed=3)._items
    assert sorted(c.shuffle(2)) == list(range(100))
    with pytest.raises(ValueError, match="between 0 and 100"):
        c.sample(101)


def test_to_hashable_and_matches_on_omegaconf_and_numpy():
    assert to_hashable(ListConfig([1, 2, 3])) == (1, 2, 3)
    assert to_hashable(OmegaConf.create({"b": 1, "a": [2]})) == (("a", (2,)), ("b", 1))
    assert to_hashable(np.array([1, 2, 3])) == (1, 2, 3)

    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __str__(self) -> str:
            return "text"

        def __iter__(self):
            raise TypeError

    assert to_hashable(Unhashable()) == "text"
    assert matches(10, ListConfig([10, 20]))
    assert matches(ListConfig([10, 20]), [10, 20])
    assert matches(ListConfig([10, 20]), ListConfig([10, 20]))
    assert matches((1, 2), [1, 2])
    assert not matches(10, (20, 1))
