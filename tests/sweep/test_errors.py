"""Every malformed input raises SweepSyntaxError with the right column."""

from __future__ import annotations

import pickle

import pytest

from hydraflow.hydra_adapter.native import make_native_expander
from hydraflow.sweep import SweepSyntaxError, expand


def error(*args: str, native: bool = True) -> SweepSyntaxError:
    with pytest.raises(SweepSyntaxError) as info:
        expand(args, native=make_native_expander() if native else None)
    return info.value


@pytest.mark.parametrize(
    ("arg", "column", "fragment"),
    [
        # ranges
        ("a=5:3", 2, "empty range: start 5 is above stop 3"),
        ("a=1:5:0", 6, "zero step"),
        ("a=1:5:-1", 6, "step -1 counts down from 1 but stop is 5"),
        ("a=5:1:1", 6, "step 1 counts up from 5 but stop is 1"),
        ("a=1:", 4, "missing stop"),
        ("a=1:3:", 6, "missing step"),
        ("a=1:3:1:2", 8, "too many range parts"),
        ("a=1:3:1:2:k", 8, "too many range parts"),
        ("a=1:3:x", 6, "unknown SI prefix or exponent 'x'"),
        ("a=1:3:K", 6, "unknown SI prefix or exponent 'K'"),
        ("a=1:k:3", 4, "stop 'k' is not a number"),
        ("a=1x:3", 2, "start '1x' is not a number"),
        ("a=:k", 2, "missing number"),
        ("a=1.2:1.4:0.1:kk", 14, "unknown SI prefix"),
        ("a=1:3:e999", 6, "unknown SI prefix or exponent 'e999'"),
        ("a=1:1e400", 4, "number out of range"),
        ("a=0:1:1e-350", 6, "number out of range"),
        # lists and parentheses
        ("a=1,,2", 4, "empty value"),
        ("a=1,", 4, "empty value"),
        ("a=,1", 2, "empty value"),
        ("a=(1,2", 2, "unclosed '('"),
        ("a=1,2)", 5, "unbalanced ')'"),
        ("a=()", 2, "empty parentheses"),
        ("a=x(1,)", 6, "empty value"),
        ("a=((1,2)", 2, "unclosed '('"),
        ("a=(1|2)", 4, "'|' separates sections at the top level only"),
        # sections
        ("a=|1", 2, "leading '|'"),
        ("a=1|", 3, "trailing '|'"),
        ("a=1||2", 4, "empty '|' section"),
        ("a=1|b=", 6, "empty value"),
        ("a=1|@w:2", 4, "pairing tag @name: must start"),
        # quoting and Hydra's grammar
        ("a='x,y", 2, "unterminated quoted string"),
        ('a=1,"x', 4, "unterminated quoted string"),
        ("a=[1,2", 2, "unclosed '['"),
        ("a={x:[1}", 7, "unbalanced '}' (expected ']')"),
        ("a=1]", 3, "unbalanced ']'"),
        ("a=${x", 2, "unclosed '${'"),
        ("a=${}", 2, "empty interpolation"),
        ("a=[1,]", 5, "empty element"),
        ("a={x}", 4, "expected 'key: value' in a dict"),
        ("a=[x=y]", 4, "character '=' is not allowed here"),
        ("1=2", 0, "'1' is not a valid Hydra key"),
        ("a/b.c=x", 0, "'a/b.c' is not a valid Hydra key"),
        ("a='x'y", 2, "a quoted string cannot be joined"),
        ("a=[1]_(2,3)", 2, "a list cannot be joined"),
        ("a=x;y", 3, "character ';' is not allowed"),
        ("a=b=c", 3, "character '=' is not allowed"),
        ("a=caf\u00e9", 5, "character '\u00e9' is not allowed"),
        ("a=('x','y')_1", 2, "a quoted string, list or dict cannot be joined"),
        ("a=[1,{x}]", 7, "expected 'key: value' in a dict"),
        ("a=[1,[2,]]", 8, "empty element"),
        ("a={a;b:1}", 4, "character ';' is not allowed in a dict key"),
        ("a=[x'y']", 4, "a quoted string cannot be joined"),
        ("a=[${}]", 3, "empty interpolation"),
        ("a=['x]", 3, "unterminated quoted string"),
        ("a=1:2:3:4:5", 8, "too many range parts"),
        ("a=@w: ", 5, "empty value"),
        # keys
        ("~", 1, "missing key"),
        ("=1", 0, "missing key"),
        ("a", 1, "expected key=value"),
        ("+=1", 1, "missing key"),
        ("a b=1", 1, "invalid character ' ' in key"),
        # pairing
        ("a=@w:", 5, "empty value after pairing tag @w:"),
        # Hydra functions
        ("a=interval(0,1)", 2, "interval() is a continuous range"),
        ("a=1,range(1,3)", 4, "range() must be the whole value of a section"),
        ("a=(choice(1,2))", 3, "choice() must be the whole value"),
        ("a=choice(1,2", 2, "Hydra could not expand 'choice(1,2'"),
        ("db=glob(*)", 3, "glob() lists the options of a config group"),
    ],
)
def test_error_column(arg: str, column: int, fragment: str) -> None:
    e = error(arg)
    assert fragment in e.message
    assert e.column == column
    assert e.text == arg
    assert e.argument == 0
    assert str(e) == f"{e.message}\n{arg}\n{' ' * column}^"


def test_error_names_the_argument_index() -> None:
    e = error("a=1,2", "b=1:0")
    assert e.argument == 1
    assert e.text == "b=1:0"


def test_duplicate_key() -> None:
    e = error("a=1", "b=2", "a=3")
    assert e.argument == 2
    assert e.column == 0
    assert e.message == "duplicate key 'a': also set by argument 1 ('a=1')"


def test_duplicate_key_through_bar_section() -> None:
    e = error("a=1|b=2", "b=3")
    assert e.argument == 1
    assert "duplicate key 'b'" in e.message


def test_duplicate_key_through_suffix() -> None:
    e = error("lr=1", "lr/m=2")
    assert "duplicate key 'lr'" in e.message


def test_same_key_twice_in_one_argument_is_fine() -> None:
    assert expand(["a=1|a=2"]).count == 2


def test_paired_length_mismatch_names_both_keys_and_lengths() -> None:
    e = error("lr=@w:1,2", "batch=8", "warmup=@w:100,200,300")
    assert e.argument == 2
    assert e.column == 7
    assert e.message == "paired sweep @w: 'lr' has 2 values but 'warmup' has 3"


def test_native_function_without_native_expander() -> None:
    e = error("a=1|choice(2,3)", native=False)
    assert e.column == 4
    assert "choice() needs Hydra" in e.message


def test_error_is_a_value_error_and_pickles() -> None:
    e = error("a=5:3")
    assert isinstance(e, ValueError)
    again = pickle.loads(pickle.dumps(e))  # noqa: S301 - our own object
    assert (again.text, again.column, again.message, again.argument) == (
        e.text,
        e.column,
        e.message,
        e.argument,
    )
    assert str(again) == str(e)
