"""RunCollection API on runs of a real file store (see conftest) and on hand-written run directories."""
# ruff: noqa: S311

from __future__ import annotations

import random

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hydraflow.analysis import (
    MultipleRunsFoundError,
    NoRunFoundError,
    Run,
    RunCollection,
    iter_run_dirs,
    matches,
)
from hydraflow.analysis.matching import matcher as _matcher


@pytest.fixture
def train(file_store) -> RunCollection:
    return Run.load(iter_run_dirs("train", tracking_uri=file_store.uri))


def write_run(root, name, cfg):
    d = root / "1" / name
    (d / "artifacts" / ".hydra").mkdir(parents=True)
    (d / "artifacts" / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    return d


@pytest.fixture
def plain(tmp_path) -> RunCollection:
    cfgs = [
        {"a": 1, "b": "x", "l": [1, 2], "d": {"k": 1}},
        {"a": 2, "b": "y", "l": [3], "d": {"k": 2}},
        {"a": 3, "b": "x", "l": [1, 2]},
        {"a": 2.5, "c": True},
    ]
    return Run.load([write_run(tmp_path, f"r{i}", c) for i, c in enumerate(cfgs)])


def test_sequence_protocol(plain):
    assert len(plain) == 4
    assert [r.run_id for r in plain] == ["r0", "r1", "r2", "r3"]
    assert plain[0].run_id == "r0"
    assert plain[-1].run_id == "r3"
    sub = plain[1:3]
    assert isinstance(sub, RunCollection)
    assert [r.run_id for r in sub] == ["r1", "r2"]
    both = plain[:1] + plain[3:]
    assert [r.run_id for r in both] == ["r0", "r3"]
    assert bool(plain[:0]) is False
    assert repr(plain) == "RunCollection(Run, n=4)"
    assert repr(plain[:0]) == "RunCollection(empty)"


def test_filter_forms(plain):
    ids = lambda rc: [r.run_id for r in rc]  # noqa: E731
    assert ids(plain.filter(b="x")) == ["r0", "r2"]
    assert ids(plain.filter(("b", "x"), a=3)) == ["r2"]
    assert ids(plain.filter({"b": "x", "a": 1})) == ["r0"]
    assert ids(plain.filter(a=[1, 3])) == ["r0", "r2"]  # list: any of
    assert ids(plain.filter(a=(2, 3))) == ["r1", "r2", "r3"]  # tuple: inclusive range
    assert ids(plain.filter(a=(None, 2))) == ["r0", "r1"]  # open range
    assert ids(plain.filter(a=lambda v: v > 2)) == ["r2", "r3"]  # predicate on the value
    assert ids(plain.filter(lambda r: r.get("a") % 2 == 0)) == ["r1"]  # predicate on the run
    assert ids(plain.filter(l=[1, 2])) == ["r0", "r2"]  # list value equals a list criterion
    assert ids(plain.filter(l=[[3], [9]])) == ["r1"]  # list of lists: any of
    assert ids(plain.filter(d__k=2)) == ["r1"]  # __ is a dot
    assert ids(plain.filter(c=True)) == ["r3"]


def test_missing_keys_never_match_filter_and_exclude_keeps_them(plain):
    assert [r.run_id for r in plain.filter(b="x")] == ["r0", "r2"]
    assert [r.run_id for r in plain.exclude(b="x")] == ["r1", "r3"]  # r3 has no "b"
    assert len(plain.filter(nope=1)) == 0
    assert len(plain.exclude(nope=1)) == 4


def test_bad_criterion(plain):
    with pytest.raises(TypeError, match="filter criterion"):
        plain.filter(42)


def test_get_try_get_first_last(plain):
    assert plain.get(a=3).run_id == "r2"
    assert plain.try_get(a=99) is None
    with pytest.raises(NoRunFoundError, match=r"no run matches a=99 \(among 4 runs\)"):
        plain.get(a=99)
    with pytest.raises(MultipleRunsFoundError, match=r"2 runs match b='x'.*r0, r2"):
        plain.get(b="x")
    with pytest.raises(MultipleRunsFoundError):
        plain.try_get(b="x")
    assert plain.first().run_id == "r0"
    assert plain.last().run_id == "r3"
    assert plain.first(b="x").run_id == "r0"
    assert plain.last(b="x").run_id == "r2"
    with pytest.raises(NoRunFoundError):
        plain[:0].first()
    with pytest.raises(NoRunFoundError):
        plain.last(b="zzz")


def test_sort(plain):
    assert [r.get("a") for r in plain.sort("a")] == [1, 2, 2.5, 3]
    assert [r.get("a") for r in plain.sort("a", reverse=True)] == [3, 2.5, 2, 1]
    assert [r.run_id for r in plain.sort("b", "a")] == ["r0", "r2", "r1", "r3"]  # missing last
    # reverse=True is the ascending order reversed, equal values too (as in HydraFlow); missing still last
    assert [r.run_id for r in plain.sort("b", reverse=True)] == ["r1", "r2", "r0", "r3"]
    assert [r.run_id for r in plain.sort(lambda r: -r.get("a"))] == ["r2", "r3", "r1", "r0"]
    with pytest.raises(TypeError, match="cannot sort by"):
        plain.sort(lambda r: r.get("b", 0))


def test_map_values_unique(plain):
    assert list(plain.map(lambda r, k: r.get(k), "a")) == [1, 2, 3, 2.5]
    assert plain.values("b", None) == ["x", "y", "x", None]
    assert list(plain.unique("b", None)) == ["x", "y", None]  # None with strings: order of appearance
    assert plain.unique("a").tolist() == [1, 2, 2.5, 3]  # a NumPy array, sorted (as in HydraFlow)
    assert plain.n_unique("l", None) == 3  # [1, 2], [3], None
    with pytest.raises(KeyError, match="'b' not found in run r3"):
        plain.values("b")


def test_group_by_and_agg(train):
    groups = train.group_by("model.lr")
    assert list(groups) == [0.1, 0.01]
    assert all(len(g) == 3 for g in groups.values())
    table = groups.agg("model.depth", n=len, best=lambda g: min(g.values("metrics.loss")), backend="arrow")
    assert isinstance(table, pa.Table)
    d = table.to_pydict()
    assert d["model.lr"] == [0.1, 0.01]
    assert d["model.depth"] == [[1, 2, 3], [1, 2, 3]]
    assert d["n"] == [3, 3]
    assert d["best"] == [pytest.approx(0.1), pytest.approx(0.01)]
    two = train.group_by("model.lr", "status")
    assert len(two) == 3
    assert len(two[0.01, "FINISHED"]) == 2
    df = two.agg(n=len, backend="pandas")
    assert list(df.columns) == ["model.lr", "status", "n"]
    assert df["n"].sum() == 6
    by_list = train.group_by("layers")
    assert (2, 2) in by_list
    assert by_list.agg(n=len)["layers"].to_list()[0] == [1]  # a polars DataFrame by default
    with pytest.raises(ValueError, match="at least one key"):
        train.group_by()


def test_sample_and_shuffle_do_not_touch_global_random(plain):
    random.seed(123)
    expected = random.random()
    random.seed(123)
    a = plain.sample(2, seed=7)
    b = plain.sample(2, seed=7)
    assert [r.run_id for r in a] == [r.run_id for r in b]
    assert random.random() == expected  # global RNG state unchanged
    rng = random.Random(1)
    s1 = [r.run_id for r in plain.shuffle(rng)]
    s2 = [r.run_id for r in plain.shuffle(random.Random(1))]
    assert s1 == s2
    assert sorted(s1) == ["r0", "r1", "r2", "r3"]
    assert len(plain.sample(0)) == 0
    with pytest.raises(ValueError, match="between 0 and 4"):
        plain.sample(5)


def test_to_arrow_defaults_missing_and_computed(plain):
    t = plain.to_arrow("a", "b", ("c", False), defaults={"b": "?"}, double=lambda r: r.get("a") * 2)
    d = t.to_pydict()
    assert t.column_names == ["a", "b", "c", "double"]
    assert d["a"] == [1.0, 2.0, 3.0, 2.5]  # ints and a float: one float column
    assert t.schema.field("a").type == pa.float64()
    assert d["b"] == ["x", "y", "x", "?"]
    assert d["c"] == [False, False, False, True]
    assert d["double"] == [2, 4, 6, 5.0]
    nulls = plain.to_arrow("b", "d.k").to_pydict()
    assert nulls == {"b": ["x", "y", "x", None], "d.k": [1, 2, None, None]}


def test_to_arrow_lists_dicts_and_mixed(plain):
    t = plain.to_arrow("l", "d", "mixed", defaults={"mixed": lambda r: r.get("b", 0)})
    assert t.schema.field("l").type == pa.list_(pa.int64())
    assert t.column("l").to_pylist() == [[1, 2], [3], [1, 2], None]
    assert pa.types.is_struct(t.schema.field("d").type)
    assert t.column("d").to_pylist()[:2] == [{"k": 1}, {"k": 2}]
    assert t.column("mixed").to_pylist() == ["x", "y", "x", "0"]  # strings and an int -> strings


def test_default_columns_are_run_id_and_all_config_keys(plain):
    t = plain.to_arrow()
    assert t.column_names == ["run_id", "a", "b", "d.k", "l", "c"]  # safe_dump sorted the keys
    assert t.num_rows == 4


def test_pandas_and_polars(train):
    runs = train.sort("model.lr", "model.depth")
    pdf = runs.to_pandas("model.lr", "model.depth", "metrics.loss", "status")
    assert isinstance(pdf, pd.DataFrame)
    assert pdf.shape == (6, 4)
    assert pdf["model.depth"].tolist() == [1, 2, 3, 1, 2, 3]
    pldf = runs.to_polars("model.lr", "model.depth", "layers")
    assert isinstance(pldf, pl.DataFrame)
    assert pldf["layers"].to_list()[2] == [3, 3, 3]
    assert pldf.filter(pl.col("model.lr") == 0.1).height == 3
    with pytest.raises(ValueError, match="unknown frame backend"):
        runs.to_frame("model.lr", backend="excel")  # type: ignore[arg-type]
    nullable = plain_missing_ints(runs)
    assert str(nullable.dtype) == "Int64"


def plain_missing_ints(runs):
    return runs.to_pandas("x", defaults={"x": lambda r: 1 if r.get("model.depth") == 1 else None})["x"]


SCALAR = (
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-3, 3, allow_nan=False) | st.sampled_from("ab")
)
VALUE = SCALAR | st.lists(SCALAR, max_size=3)
CRITERION = (
    SCALAR | st.lists(VALUE, max_size=3) | st.tuples(SCALAR, SCALAR) | st.sets(st.integers(-3, 3), max_size=3)
)


@settings(max_examples=300, deadline=None)
@given(VALUE, CRITERION)
def test_fast_matchers_agree_with_matches(value, criterion):
    assert _matcher(criterion)(value) == matches(value, criterion)
