"""Routing sweep arguments into ``hydra.sweeper.params`` without Hydra's parser: same result, linear time."""

from __future__ import annotations

import subprocess
import sys

from hydra.core.override_parser.overrides_parser import OverridesParser
from hypothesis import given, settings
from hypothesis import strategies as st

from hydraflow.hydra_adapter.argv import (
    _SIMPLE_KEY,
    _WORDS,
    _hydra_quote,
    _params_key_ok,
    hydra_safe_arguments,
)

PARSER = OverridesParser.create()


def hydra_reads(text: str) -> object:
    return PARSER.parse_override(text).value()


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab '\"\\,:{}$\n\t=()[]é"), max_size=30) | st.text(max_size=20))
def test_hydra_reads_a_quoted_value_back_exactly(value: str) -> None:
    assert hydra_reads(f"++hydra.sweeper={{params:{{k:{_hydra_quote(value)}}}}}") == {"params": {"k": value}}


@settings(max_examples=300, deadline=None)
@given(st.from_regex(_SIMPLE_KEY, fullmatch=True).filter(lambda k: k.lower() not in _WORDS))
def test_every_key_taken_without_hydras_parser_is_read_back_by_it(key: str) -> None:
    assert hydra_reads(f"++hydra.sweeper={{params:{{{key}:''}}}}") == {"params": {key: ""}}


def test_other_keys_are_asked_of_hydras_parser() -> None:
    assert [_params_key_ok(k) for k in ("null", "True", "nan", "+x", "~x", "a:b", "1x", "a b", "")] == [
        False,
        False,
        False,
        False,
        False,
        False,
        True,
        True,
        False,
    ]


def test_routed_arguments_with_backslashes_and_quotes_reach_the_sweeper_intact() -> None:
    args = ["name=it's,x", "path=C:\\dir,D:\\", "q=a\\'b,c"]
    routed = hydra_safe_arguments(args)
    assert len(routed) == 1
    assert hydra_reads(routed[0]) == {"params": {k: v for k, _, v in (a.partition("=") for a in args)}}


def test_5000_arguments_and_a_600_kb_value_are_routed_in_linear_time() -> None:
    """Each argument used to be parsed by Hydra's ANTLR parser (5,000 arguments: 5 s; 600 KB: 2-20 s).

    A hang detector in a subprocess, not a speed test: the result is checked against Hydra's parser.
    """
    code = (
        "from hydraflow.hydra_adapter.argv import hydra_safe_arguments\n"
        "args = [f'k{i}=1:3' for i in range(5000)] + ['a=' + ','.join(str(i) for i in range(100_000))]\n"
        "routed = hydra_safe_arguments(args)\n"
        "from hydra.core.override_parser.overrides_parser import OverridesParser\n"
        "value = OverridesParser.create().parse_override(routed[0]).value()\n"
        "print(len(routed), len(value['params']), value['params']['a'] == args[-1][2:])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["1", "5001", "True"]
