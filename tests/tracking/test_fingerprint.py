"""Deterministic ids: canonical form, stability, the ``hydraflow.id`` resolver."""

from __future__ import annotations

import enum
import hashlib
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import InterpolationResolutionError

import hydraflow
from hydraflow.tracking import FingerprintError, canonical_json, fingerprint, register_resolver


class Color(enum.Enum):
    RED = 1


@dataclass
class Model:
    depth: int = 3
    lr: float = 0.001


@dataclass
class Cfg:
    model: Model = field(default_factory=Model)
    data: str = "mnist"
    seed: int = 1


def test_public_names() -> None:
    assert hydraflow.fingerprint is fingerprint
    assert callable(hydraflow.main)


def test_canonical_form_spec() -> None:
    # sorted keys, no whitespace, exact numbers, integral floats as integers, special floats as strings
    value = {
        "b": 1.0,
        "a": [0.1, "é", None, True, 2],
        "c": {"z": float("nan"), "y": float("-inf")},
        "d": 1e-7,
    }
    assert canonical_json(value) == (
        '{"a":[0.1,"é",null,true,2],"b":1,"c":{"y":"-Infinity","z":"NaN"},"d":1e-07}'
    )
    text = canonical_json({"x": 1})
    assert fingerprint({"x": 1}) == hashlib.sha256(text.encode()).hexdigest()
    # a golden value: the same on every machine, Python version and hash seed
    assert fingerprint({"model": {"depth": 3}, "seed": 1}) == (
        "466c3ab32810b5d5ba2723b6991dac6be8181440b82db46f3cd7e1fbd1eed09b"
    )


def test_key_order_types_and_containers_agree() -> None:
    plain = {"model": {"depth": 3, "lr": 0.001}, "data": "mnist", "seed": 1}
    reordered = {"seed": 1, "data": "mnist", "model": {"lr": 0.001, "depth": 3}}
    structured = OmegaConf.structured(Cfg)
    assert fingerprint(plain) == fingerprint(reordered) == fingerprint(structured) == fingerprint(Cfg())
    assert fingerprint(OmegaConf.create(plain)) == fingerprint(plain)
    assert fingerprint({"a": 1}) == fingerprint({"a": 1.0})
    assert fingerprint({"a": 1}) != fingerprint({"a": "1"})
    assert fingerprint({"a": True}) != fingerprint({"a": 1})
    assert fingerprint({"a": Color.RED}) == fingerprint({"a": "RED"})
    assert fingerprint({"p": Path("/x/y")}) == fingerprint({"p": "/x/y"})
    assert fingerprint((1, 2)) == fingerprint([1, 2])
    assert fingerprint([1, 2]) != fingerprint([2, 1])


def test_selected_keys_and_length() -> None:
    cfg = OmegaConf.create({"model": {"depth": 3}, "data": {"name": "a"}, "target": {"seed": 4}, "other": 1})
    a = fingerprint(cfg, "model", "data", "target.seed", length=16)
    assert len(a) == 16
    assert a == fingerprint(cfg, "target.seed", "model", "data", length=16)
    assert a == fingerprint({"model": {"depth": 3}, "data": {"name": "a"}, "target.seed": 4}, length=16)
    cfg.other = 2
    assert fingerprint(cfg, "model", "data", "target.seed", length=16) == a
    cfg.target.seed = 5
    assert fingerprint(cfg, "model", "data", "target.seed", length=16) != a
    assert fingerprint(Cfg(), "model.depth") == fingerprint({"model.depth": 3})
    with pytest.raises(FingerprintError, match=r"no key 'model\.nope'"):
        fingerprint(cfg, "model.nope")
    with pytest.raises(FingerprintError, match="no key 'x'"):
        fingerprint({"a": 1}, "x")
    with pytest.raises(ValueError, match="length"):
        fingerprint(cfg, length=0)


def test_errors_name_the_place() -> None:
    with pytest.raises(FingerprintError, match=r"type object at a\.b"):
        fingerprint({"a": {"b": object()}})
    with pytest.raises(FingerprintError, match="missing mandatory value"):
        fingerprint(OmegaConf.create({"a": "???"}))


def test_resolver_uses_root_and_is_idempotent() -> None:
    register_resolver()
    register_resolver()  # safe twice
    cfg = OmegaConf.create(
        {
            "model": {"depth": 3},
            "data": "mnist",
            "target": {"seed": 1, "id": "${hydraflow.id:model,data,target.seed}"},
            "stage_b": {"needs": "${hydraflow.id:model,data,target.seed}"},
        }
    )
    assert cfg.target.id == cfg.stage_b.needs == fingerprint(cfg, "model", "data", "target.seed", length=16)
    cfg.target.seed = 2  # not cached
    assert cfg.target.id == fingerprint(cfg, "model", "data", "target.seed", length=16)

    # inside a structured config from a dataclass
    @dataclass
    class WithId:
        model: Model = field(default_factory=Model)
        model_id: str = "${hydraflow.id:model}"

    assert OmegaConf.structured(WithId).model_id == fingerprint({"model": Model()}, length=16)


def test_resolver_errors() -> None:
    cfg = OmegaConf.create(
        {"model": {"depth": 3, "id": "${hydraflow.id:model}"}, "x": "${hydraflow.id:nope}"}
    )
    with pytest.raises(InterpolationResolutionError, match="refers to itself"):
        _ = cfg.model.id
    with pytest.raises(InterpolationResolutionError, match="no key 'nope'"):
        _ = cfg.x


def test_stable_across_processes() -> None:
    code = (
        "from omegaconf import OmegaConf; import hydraflow.tracking as t;"
        "c = OmegaConf.create({'b': {'y': 0.1, 'x': [1, 'a']}, 'a': 2, 'i': '${hydraflow.id:a,b}'});"
        "print(t.fingerprint(c), c.i)"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outs) == 1
    full, short = outs.pop().split()
    assert full == fingerprint({"a": 2, "b": {"x": [1, "a"], "y": 0.1}, "i": short})
    assert short == fingerprint({"a": 2, "b": {"y": 0.1, "x": [1, "a"]}}, "a", "b", length=16)


def test_import_is_light() -> None:
    code = "import sys, hydraflow, hydraflow.tracking; print('mlflow' in sys.modules, 'hydra' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
