"""Run: loading, key lookup order, impl factories, typed configs, corrupt directories, the Parquet index."""

from __future__ import annotations

import enum
import os
import pathlib
import sys
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from omegaconf import OmegaConf

from hydraflow.analysis import CorruptRunWarning, Run, RunCollection, RunLoadError, iter_run_dirs
from hydraflow.analysis.loading import _index_path

if TYPE_CHECKING:
    from pathlib import Path


def write_run(root: Path, name: str, cfg: dict | str | None, exp: str = "1") -> Path:
    d = root / exp / name
    (d / "artifacts" / ".hydra").mkdir(parents=True)
    if cfg is not None:
        text = cfg if isinstance(cfg, str) else yaml.safe_dump(cfg)
        (d / "artifacts" / ".hydra" / "config.yaml").write_text(text)
    return d


CFG = {"model": {"lr": 0.1, "name": "mlp"}, "layers": [8, 16], "out": "${model.name}-${model.lr}"}


@pytest.fixture
def run(tmp_path) -> Run:
    return Run.load(write_run(tmp_path, "abc", CFG))


def test_load_single_and_iterable(tmp_path):
    d = write_run(tmp_path, "r1", {"x": 1})
    single = Run.load(d)
    assert isinstance(single, Run)
    assert single.run_id == "r1"
    assert single.run_dir == d
    assert repr(single) == "Run('r1')"
    assert isinstance(Run.load([d]), RunCollection)
    assert isinstance(Run.load(str(d)), Run)
    assert isinstance(Run.load(iter([str(d)])), RunCollection)
    assert single.path() == d / "artifacts"
    assert single.path(".hydra/config.yaml").is_file()
    assert [p.name for p in single.iterdir(".hydra")] == ["config.yaml"]
    assert [p.name for p in single.glob("**/*.yaml")] == ["config.yaml"]


def test_cfg_is_lazy_and_omegaconf(run):
    assert run._cfg is None  # no OmegaConf object until asked for
    assert run.get("model.lr") == 0.1
    assert run._cfg is None
    from omegaconf import DictConfig

    assert isinstance(run.cfg, DictConfig)
    assert run.cfg.model.name == "mlp"


def test_get_dot_and_dunder_and_interpolation(run):
    assert run.get("model.lr") == run.get("model__lr") == run["model.lr"] == 0.1
    assert run.get("layers") == [8, 16]
    assert run.get("layers.1") == 16
    assert run.get("model") == {"lr": 0.1, "name": "mlp"}
    assert run.get("out") == "mlp-0.1"  # interpolations are resolved
    assert run.get("run_id") == "abc"
    assert run.get("nope", 3) == 3
    assert run.get("nope", lambda r: r.run_id) == "abc"
    with pytest.raises(KeyError, match=r"key 'model.nope' not found in run abc \(.*abc\): not in its config"):
        run.get("model__nope")


def test_to_dict(run):
    assert run.to_dict() == {"model.lr": 0.1, "model.name": "mlp", "layers": [8, 16], "out": "mlp-0.1"}
    assert run.to_dict(flatten=False)["model"] == {"lr": 0.1, "name": "mlp"}


class Impl:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.score = 42
        self.nested = {"a": {"b": 1}}


def test_impl_factory_one_and_two_arguments(tmp_path):
    d = write_run(tmp_path, "r", {"x": 1, "score": 7})
    one = Run.load(d, Impl)
    assert isinstance(one.impl, Impl)
    assert one.impl.path == d / "artifacts"
    assert one.get("score") == 7  # config first
    assert one.get("nested.a.b") == 1  # then impl
    seen = []
    two = Run.load([d], lambda path, cfg: seen.append((path, cfg.x)) or {"k": cfg.x + 1})
    assert two[0].get("k") == 2
    assert seen == [(d / "artifacts", 1)]
    assert Run.load(d).impl is None


def test_info_order_config_wins(file_store):
    d = next(iter_run_dirs("eval", tracking_uri=file_store.uri))
    r = Run.load(d, lambda _: {"status": "from impl"})
    assert r.get("status") == "from impl"  # impl before info
    assert Run.load(d).get("status") == "FINISHED"
    assert r.get("info").status == "FINISHED"


@dataclass
class Model:
    lr: float = 0.5
    name: str = "x"


@dataclass
class Config:
    model: Model = field(default_factory=Model)
    layers: list[int] = field(default_factory=list)
    out: str = ""
    extra: int = 3


def test_typed_config_generic_and_argument(tmp_path):
    d = write_run(tmp_path, "r", CFG)
    r = Run[Config].load(d)
    assert type(r).__name__ == "Run[Config]"
    assert isinstance(r, Run)
    assert r.cfg.model.lr == 0.1
    assert r.get("extra") == 3  # default from the dataclass
    runs = Run[Config, Impl].load([d], Impl)
    assert runs[0].get("extra") == 3
    assert Run.load(d, cfg_type=Config).cfg.extra == 3
    assert Run[Config] is Run[Config]
    bad = Run.load(write_run(tmp_path, "bad", {"model": {"lr": "fast"}}), cfg_type=Config)
    with pytest.raises(RunLoadError, match="does not fit Config"):
        _ = bad.cfg


def test_corrupt_runs_are_skipped_with_warnings(tmp_path, file_store):
    good = write_run(tmp_path, "good", {"x": 1})
    no_cfg = write_run(tmp_path, "nocfg", None)
    broken = write_run(tmp_path, "broken", "a: [1, 2\nb: }")
    not_map = write_run(tmp_path, "list", "- 1\n- 2\n")
    empty = write_run(tmp_path, "empty", "")
    gone = tmp_path / "1" / "gone"
    # a file-store run without meta.yaml (partial copy)
    src = next(iter_run_dirs("eval", tracking_uri=file_store.uri))
    partial = src.parent / "partial0000"
    (partial / "artifacts" / ".hydra").mkdir(parents=True)
    (partial / "artifacts" / ".hydra" / "config.yaml").write_text("x: 1\n")
    try:
        with pytest.warns(CorruptRunWarning) as record:
            runs = Run.load([good, no_cfg, broken, not_map, empty, gone, partial], strict=True)
        assert [r.run_id for r in runs] == ["good"]  # an empty config.yaml is a damaged run, not {}
        messages = "\n".join(str(w.message) for w in record)
        assert f"{no_cfg} has no artifacts/.hydra/config.yaml" in messages
        assert f"broken YAML in {broken / 'artifacts/.hydra/config.yaml'}" in messages
        assert "is not a mapping (got list)" in messages
        assert f"run directory {gone} does not exist" in messages
        assert f"{partial} has no meta.yaml" in messages
        assert f"{empty / 'artifacts/.hydra/config.yaml'} is empty" in messages
        assert len(record) == 6
        with pytest.raises(RunLoadError, match="broken YAML"):
            Run.load(broken, strict=True)
        with pytest.raises(RunLoadError, match="does not exist"):
            Run.load(gone, strict=True)
        # iter_run_dirs still lists the partial run, and loading reports it
        with pytest.warns(CorruptRunWarning, match="partial0000"):
            assert len(Run.load(iter_run_dirs("eval", tracking_uri=file_store.uri), strict=True)) == 2
    finally:
        import shutil

        shutil.rmtree(partial)


def test_broken_meta_yaml_gives_minimal_info(tmp_path):
    exp = tmp_path / "5"
    exp.mkdir()
    (exp / "meta.yaml").write_text("name: job\nexperiment_id: '5'\nlifecycle_stage: active\n")
    d = write_run(tmp_path, "r", {"x": 1}, exp="5")
    (d / "meta.yaml").write_text("status: [\n")
    r = Run.load([d])[0]
    with pytest.warns(CorruptRunWarning, match="unreadable meta.yaml"):
        assert r.info.status is None
    assert r.get("x") == 1


def test_parquet_index_hits_and_invalidation(tmp_path):
    cache = tmp_path / "cache"
    dirs = [write_run(tmp_path, f"r{i}", {"i": i, "l": [i], "d": {"k": str(i)}}) for i in range(70)]
    first = Run.load(dirs, index=cache)
    idx = _index_path(cache, dirs[0].parent)
    assert idx.is_file()
    assert first.to_arrow("i").column("i").to_pylist() == list(range(70))
    stamp = idx.stat().st_mtime_ns
    again = Run.load(dirs, index=cache)
    assert idx.stat().st_mtime_ns == stamp  # all hits: index not rewritten
    assert [r.config for r in again] == [r.config for r in first]
    # modify one config: the index notices (mtime/size) and is refreshed
    cfg = dirs[3] / "artifacts/.hydra/config.yaml"
    cfg.write_text(yaml.safe_dump({"i": 300, "new": True}))
    os.utime(cfg, ns=(stamp + 10**9, stamp + 10**9))
    third = Run.load(dirs, index=cache)
    assert third[3].config == {"i": 300, "new": True}
    # a broken config is still reported with an index
    (dirs[5] / "artifacts/.hydra/config.yaml").write_text("a: [")
    with pytest.warns(CorruptRunWarning, match="broken YAML"):
        assert len(Run.load(dirs, index=cache, strict=True)) == 69


def test_index_default_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HYDRAFLOW_CACHE_DIR", str(tmp_path / "c"))
    d = write_run(tmp_path, "r", {"x": 1})
    assert Run.load([d], index=True)[0].get("x") == 1
    assert list((tmp_path / "c" / "index").glob("*.parquet"))


def test_no_mlflow_import_for_file_and_sqlite_stores(sqlite_store, run_python):
    code = (
        "import sys, warnings\n"
        "from hydraflow.analysis import Run, iter_run_dirs\n"
        f"runs = Run.load(iter_run_dirs('train', tracking_uri={sqlite_store.uri!r}), tracking_uri={sqlite_store.uri!r})\n"
        "print(len(runs), sorted(set(runs.values('status'))), runs.to_arrow('metrics.loss').num_rows)\n"
        "assert 'mlflow' not in sys.modules and 'omegaconf' not in sys.modules, 'heavy import'\n"
        "assert 'hydraflow.launch' not in sys.modules, 'analysis must not import launch'\n"
        "import hydraflow\n"
        "assert hydraflow.Run is Run and hydraflow.iter_run_dirs is iter_run_dirs\n"
    )
    out = run_python("-c", code).stdout
    assert out.split() == ["6", "['FAILED',", "'FINISHED']", "6"]


def test_warning_category_is_filterable(tmp_path):
    bad = write_run(tmp_path, "b", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorruptRunWarning)
        assert len(Run.load([bad], strict=True)) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptRunWarning)
        with pytest.raises(CorruptRunWarning):
            Run.load([bad], strict=True)
    assert sys.modules.get("hydraflow.analysis") is not None


def test_cfg_resolves_hydraflow_id_without_importing_tracking_first(tmp_path) -> None:
    """Hydra saves configs unresolved: ``${hydraflow.id:...}`` must resolve in a fresh analysis process."""
    import subprocess
    import sys

    hydra_dir = tmp_path / "0" / "run1" / "artifacts" / ".hydra"
    hydra_dir.mkdir(parents=True)
    (hydra_dir / "config.yaml").write_text("model: cnn\nseed: 3\ntarget_id: ${hydraflow.id:model,seed}\n")
    code = (
        "import sys\nfrom hydraflow import Run\n"
        f"run = Run.load({str(tmp_path / '0' / 'run1')!r})\n"
        "assert 'hydraflow.tracking' not in sys.modules\n"
        "target_id = run.cfg.target_id\n"
        "from hydraflow import fingerprint\n"
        "print(target_id, fingerprint({'model': 'cnn', 'seed': 3}, 'model', 'seed', length=16))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(out) == 2
    assert out[0] == out[1]
    assert len(out[0]) == 16


class Color(enum.Enum):
    RED = 1
    BLUE = 2


@dataclass
class _Opt:
    momentum: float = 0.9
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])


@dataclass
class TypedConfig:
    lr: float = 0.1
    color: Color = Color.RED
    out: pathlib.Path = pathlib.Path("out")
    maybe: float | None = None
    free: Any = None
    opt: _Opt = field(default_factory=_Opt)


TYPED_CFG = {
    "lr": 1,
    "color": "BLUE",
    "out": "/data/x",
    "maybe": None,
    "free": 1,
    "opt": {"momentum": 1, "betas": [1, 2]},
    "extra": 5,
}


def test_get_on_a_typed_config_returns_what_cfg_holds(tmp_path):
    d = write_run(tmp_path, "t", TYPED_CFG)
    r = Run[TypedConfig].load(d)
    values = {key: r.get(key) for key in ("lr", "color", "out", "maybe", "free", "opt.momentum", "extra")}
    assert values == {
        "lr": 1.0,
        "color": Color.BLUE,
        "out": pathlib.Path("/data/x"),
        "maybe": None,
        "free": 1,
        "opt.momentum": 1.0,
        "extra": 5,
    }
    assert type(values["lr"]) is float
    assert type(values["opt.momentum"]) is float
    assert type(values["free"]) is int  # Any: the YAML value
    assert r._cfg is None  # scalars are converted one by one, without building the DictConfig
    assert r.get("opt.betas") == [1.0, 2.0]  # a typed container goes through run.cfg
    assert all(type(b) is float for b in r.get("opt.betas"))
    for key in ("lr", "color", "out", "opt.momentum", "free"):
        assert r.get(key) == OmegaConf.select(r.cfg, key), key
    untyped = Run.load(d)
    assert untyped.get("lr") == 1
    assert type(untyped.get("lr")) is int
    assert untyped.get("color") == "BLUE"


def test_a_value_that_does_not_fit_the_class_names_the_run(tmp_path):
    r = Run[TypedConfig].load(write_run(tmp_path, "bad", {**TYPED_CFG, "color": "GREEN"}))
    assert r.get("lr") == 1.0
    with pytest.raises(RunLoadError, match="does not fit TypedConfig"):
        r.get("color")


def test_collections_of_typed_runs_filter_and_tabulate_typed_values(tmp_path):
    dirs = [
        write_run(tmp_path, f"r{i}", {**TYPED_CFG, "lr": i, "color": c})
        for i, c in enumerate(["RED", "BLUE", "RED"])
    ]
    runs = Run[TypedConfig].load(dirs)
    assert [r.run_id for r in runs.filter(color=Color.RED)] == ["r0", "r2"]
    assert [r.run_id for r in runs.filter(color="RED")] == ["r0", "r2"]
    assert [r.run_id for r in runs.filter(color=["BLUE"])] == ["r1"]
    assert [r.run_id for r in runs.filter(lr=(0.5, 2.0))] == ["r1", "r2"]
    assert runs.values("lr") == [0.0, 1.0, 2.0]
    assert all(type(v) is float for v in runs.values("lr"))
    assert list(runs.unique("color")) == [Color.RED, Color.BLUE]
    table = runs.to_arrow("lr", "color", "out")
    assert table.column("color").to_pylist() == ["RED", "BLUE", "RED"]
    assert table.column("lr").to_pylist() == [0.0, 1.0, 2.0]
    assert table.column("out").to_pylist() == ["/data/x"] * 3
    groups = runs.group_by("color")
    assert {k: [r.run_id for r in g] for k, g in groups.items()} == {
        Color.RED: ["r0", "r2"],
        Color.BLUE: ["r1"],
    }
