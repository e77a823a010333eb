"""The fast Hydra-YAML reader returns exactly what yaml.safe_load returns, or declines (never differs)."""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from hydraflow.analysis import _fastyaml

KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True) | st.sampled_from(
    ["null", "yes", "on", "true", "1", "a.b", "x-y", "NO"]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "yes",
            "no",
            "on",
            "1e3",
            "0x1F",
            "1_000",
            "2020-01-01",
            "${a.b}",
            "a: b",
            "#c",
            "- x",
            "'q'",
            "",
            " lead",
            "trail ",
            "~",
            "null",
            ".inf",
            "-.5",
            "+1",
            "010",
            "1:30",
            "=",
            "<<",
        ]
    )
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=20,
)
CONFIGS = st.dictionaries(KEYS, VALUES, max_size=6)


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def check(text: str) -> bool:
    """True if the fast path handled the text (and agreed with PyYAML)."""
    try:
        fast = _fastyaml.load(text)
    except _fastyaml.Unsupported:
        return False
    ref = yaml.safe_load(text)
    assert same(fast, ref), (text, fast, ref)
    return True


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(CONFIGS)
def test_agrees_with_pyyaml_on_safe_dump(cfg):
    check(yaml.safe_dump(cfg, sort_keys=False))
    check(yaml.safe_dump(cfg, sort_keys=False, indent=4))


@settings(max_examples=100, deadline=None)
@given(CONFIGS)
def test_agrees_with_pyyaml_on_omegaconf_to_yaml(cfg):
    try:
        text = OmegaConf.to_yaml(OmegaConf.create(cfg))
    except Exception:  # noqa: BLE001 - configs OmegaConf refuses are irrelevant
        return
    check(text)


def test_typical_hydra_config_takes_the_fast_path():
    cfg = {
        "model": {"name": "mlp", "lr": 0.001, "layers": [64, 64], "act": None, "flag": True},
        "data": {"path": "/data/x", "splits": [{"name": "train", "frac": 0.8}, {"name": "val", "frac": 0.2}]},
        "seed": 1,
        "note": "it's",
        "empty": [],
        "nothing": {},
        "ref": "${model.lr}",
        "yes_key": "yes",
    }
    assert check(OmegaConf.to_yaml(OmegaConf.create(cfg)))
    assert check(yaml.safe_dump(cfg))


def test_declines_what_it_does_not_know():
    for text in [
        "a: [1, 2]\n",
        "a: &x 1\nb: *x\n",
        "a: |\n  text\n",
        "# c\na: 1\n",
        "a: 0x1F\n",
        "a: 1\n  b: 2\n",
        'a: "x\\ty"\n',
        "a:\n- - 1\n",
        "a: 2001-12-14\n",
        "--- \na: 1\n",
        "a: 1 # c\n",
    ]:
        assert not check(text), text
