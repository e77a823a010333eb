"""The grammar's limits and lazy counts (issue 13): each refusal at its column, each huge sweep counted at once."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import overload

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hydraflow.hydra_adapter.native import make_native_expander
from hydraflow.sweep import SweepSyntaxError, expand, limits
from hydraflow.sweep.decimals import NumberOutOfRange, format_number, parse_number

NATIVE = make_native_expander()


def refused(*args: str) -> SweepSyntaxError:
    with pytest.raises(SweepSyntaxError) as info:
        expand(args, native=NATIVE)
    return info.value


@pytest.mark.parametrize(
    ("arg", "column", "fragment"),
    [
        ("x=0:1e300:1e-300", 2, "range needs 601 significant digits"),
        ("x=0:1e300:3e-300", 2, "range needs 601 significant digits"),
        ("x=1:2:1e-100", 2, "range needs 101 significant digits"),
        ("x=(1e5000)", 2, "number out of range: '1e5000' is beyond 1e300 or below 1e-300"),
        ("x=(1)e(5000)", 2, "number out of range: '1e5000'"),
        ("x=a,(1)e(5000)", 4, "(a value joined from this item)"),
        ("lr/e300=1e4000", 8, "number out of range: '1e4000' times 1e300"),
        ("lr/e300=1,2,1e1", 12, "number out of range: '1e1' times 1e300"),
        ("lr/e300=(1:30)", 8, "number out of range: '30' times 1e300"),
        ("lr/e-300=0.5", 9, "number out of range: '0.5' times 1e-300"),
        ("a=(1e-999999999)", 2, "'1e-999999999'"),
        ("x=(1e999999999)", 2, "'1e999999999'"),
        ("a=1:" + "9" * 100_000, 4, "(100000 characters) is beyond 1e300"),
        ("a=1:1." + "0" * 99 + "1", 4, "number with more than 100 significant digits"),
        ("a=(" + "9" * 120 + ")", 2, "number with more than 100 significant digits"),
        ("a=(" + "1." + "1" * 120 + ")", 2, "more than 100 significant digits"),
        ("a=1:e" + "9" * 5000, 4, "unknown SI prefix or exponent"),
        ("a=" + "(" * 51 + "1" + ")" * 51, 52, "nested more than 50 levels deep"),
        ("a=" + "[" * 51 + "1" + "]" * 51, 52, "nested more than 50 levels deep"),
        ("a=(" * 1 + "[" * 50 + "1" + "]" * 50 + ")", 52, "nested more than 50 levels deep"),
        ("a={" + "a:{" * 50 + "1" + "}" * 51, 152, "nested more than 50 levels deep"),
        ("x=(1:100000)e(299)", 2, "may read as numbers up to 1e305"),
        ("x=range(inf)", 8, "range() needs finite numbers, got 'inf'"),
        ("x=range(0, stop=-nan)", 16, "got '-nan'"),
        ("x=range(1.0, 5.0, 0.0)", 2, "range() step must not be zero"),
        ("x=range(1, 5, 0)", 2, "range() step must not be zero"),
        ("x=range(5, 1)", 2, "'range(5, 1)' expands to no values"),
        ("x=range(1e400)", 8, "number out of range: '1e400'"),
        ("x=range(0, 1e9, 0.1)", 2, "not exact in Hydra's 28-digit arithmetic"),
        ("x=sort(range(0,1000000000))", 7, "range(0,1000000000) has 1,000,000,000 values"),
        ("x=shuffle(range(1e12))", 10, "Hydra builds the whole list for shuffle()"),
        ("x=tag(t, range(0, 1e6))", 9, "for tag()"),
        ("x=sort(range(0, 1, 0.0))", 7, "range() step must not be zero"),
    ],
)
def test_refusals_name_what_and_where(arg: str, column: int, fragment: str) -> None:
    e = refused(arg)
    assert fragment in e.message
    assert e.column == column, str(e)
    assert str(e).endswith(f"{arg}\n{' ' * column}^")
    assert len(e.message) < 400


@pytest.mark.parametrize(
    ("arg", "count", "first", "last"),
    [
        ("x=(0:1e9)", 10**9 + 1, "x=0", "x=1000000000"),
        ("x=(0:1e9)k", 10**9 + 1, "x=0", "x=1000000000000"),
        ("lr/m=(0:1e9)", 10**9 + 1, "lr=0", "lr=1000000"),
        ("lr/m=1,(0:1e9)", 10**9 + 2, "lr=1e-3", "lr=1000000"),
        ("x=" + "(1,2)" * 25, 2**25, "x=" + "1" * 25, "x=" + "2" * 25),
        ("x/m=" + "(1,2)" * 25, 2**25, "x=1111111111111111111111.111", "x=2222222222222222222222.222"),
        ("x=" + "_".join(["(1,2)"] * 25), 2**25, "x=" + "_".join("1" * 25), "x=" + "_".join("2" * 25)),
        ("x=range(0,1000000000)", 10**9, "x=0", "x=999999999"),
        ("x=range(1e12)", 10**12, "x=0.0", "x=999999999999.0"),
        ("x=range(-5, stop=1e9, step=0.5)", 2 * (10**9 + 5), "x=-5.0", "x=999999999.5"),
        ("x=(1:100000)e(-100)", 100_000, "x=1e-100", "x=1e-95"),
        ("x=(0:1:0.00001)e(-280)", 100_001, "x=0", "x=1e-280"),
        ("x=(1:100000)(0:9)e(-3)", 10**6, "x=0.01", "x=1000.009"),
    ],
)
def test_huge_sweeps_count_at_once(arg: str, count: int, first: str, last: str) -> None:
    sweep = expand([arg])  # no Hydra: range() with number arguments is computed by the grammar itself
    assert sweep.count == count
    assert sweep[0] == [first]
    assert sweep[-1] == [last]
    assert next(iter(sweep)) == [first]


def test_limits_are_documented_constants() -> None:
    assert (limits.MAX_EXPONENT, limits.MAX_DIGITS, limits.MAX_NESTING) == (300, 100, 50)
    assert expand(["a=" + "(" * 50 + "1" + ")" * 50]).count == 1
    assert expand(["a=-1e300:1e300:1e298"]).count == 201
    assert "range needs 601 significant digits" in refused("a=1e-300:1e300:1e298").message
    assert expand(["lr/e" + "9" * 5000 + "=1"])[0] == ["lr/e" + "9" * 5000 + "=1"]  # a config-group path
    assert expand(["lr/e300=1"])[0] == ["lr=1" + "0" * 300]


def test_key_suffix_over_a_huge_product_is_decided_from_shapes() -> None:
    # every value is a number: scaled; one value is text: the key is a config-group path, untouched
    assert expand(["x/k=" + "(1,2)(0:9)" * 8]).count == 20**8
    assert expand(["x/k=" + "(1,2)(0:9)" * 8])[0] == ["x=" + "10" * 8 + "000"]
    assert expand(["x/k=" + "(1,a)(0:9)" * 8])[0] == ["x/k=" + "10" * 8]


def test_undecidable_numbers_in_a_key_suffix_are_refused() -> None:
    # values from 0.0021 in steps of 1e-7: the sampled ones print as 0.0021..., but 0.003 prints as 3e-3, and
    # 3e-3e2e3 is no number; telling which shapes occur would mean enumerating ~10^7 values
    e = refused("x/m=(0.0021:1:0.0000001)e(2)e(3)")
    assert "cannot tell without enumerating them" in e.message
    assert e.column == 4


# ------------------------------------------------------------------------------------- Hydra's range()


@pytest.mark.parametrize(
    "call",
    [
        "range(5)",
        "range(1,4)",
        "range(10, 1, -3)",
        "range(-2, 2)",
        "range(start=1, stop=3)",
        "range(1, stop=7, step=2)",
        "range( 1 , 3 )",
        "range(1_000, 1_003)",
        "range(3.0)",
        "range(-0.0, 1)",
        "range(.5, 3)",
        "range(1., 3)",
        "range(0, 1, 0.1)",
        "range(0, 0.3, 0.1)",
        "range(1.5, -1, -0.5)",
        "range(0, 1e17, 3e16)",
        "range(1e-5, 5e-5, 1e-5)",
        "range(0.1, 0.5, 0.1)",
    ],
)
def test_lazy_range_equals_hydras_own(call: str) -> None:
    assert [job[0] for job in expand([f"a={call}"])] == NATIVE(f"a={call}")


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(st.integers(-50, 50), st.decimals(-20, 20, places=2).map(float)),
    st.one_of(st.integers(-50, 50), st.decimals(-20, 20, places=2).map(float)),
    st.one_of(st.integers(1, 9), st.sampled_from([0.1, 0.25, 0.3, 0.5, 1.5, 7.0])),
)
def test_lazy_range_equals_hydras_own_property(start: float, stop: float, step: float) -> None:
    sign = 1 if stop >= start else -1
    call = f"range({start!r}, {stop!r}, {step * sign!r})"
    try:
        expected = NATIVE(f"a={call}")
    except Exception:  # noqa: BLE001 - Hydra refuses it: so must the grammar
        expected = []
    if not expected:
        with pytest.raises(SweepSyntaxError):
            expand([f"a={call}"])
        return
    sweep = expand([f"a={call}"])
    assert sweep.count == len(expected)
    assert [job[0] for job in sweep] == expected
    assert [sweep[i][0] for i in range(sweep.count)] == expected


def test_range_forms_the_grammar_does_not_read_go_to_hydra() -> None:
    assert list(expand(["a=range(true)"], native=NATIVE)) == [["a=0"]]  # Hydra: range(0, True)
    assert "range()" not in refused("a=range(stop=3)").message.split(":")[0]  # Hydra's own message
    assert "Hydra could not expand 'range(1,3,)'" in refused("a=range(1,3,)").message


# ------------------------------------------------------------------------------------ native protocol


class LazyOverrides(Sequence[str]):
    """A lazy result of a native expander: ``a=0`` ... ``a=<n-1>``, never materialised."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...
    def __getitem__(self, i: int | slice) -> str | Sequence[str]:
        if isinstance(i, slice):
            raise TypeError
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(i)
        return f"a={i}"


def test_a_lazy_native_result_is_used_as_it_is() -> None:
    sweep = expand(["a=choice(x)", "b=1,2"], native=lambda _: LazyOverrides(10**12))
    assert sweep.count == 2 * 10**12
    assert sweep[0] == ["a=0", "b=1"]
    assert sweep[-1] == ["a=999999999999", "b=2"]
    assert next(iter(sweep)) == ["a=0", "b=1"]


def test_a_generator_from_a_native_expander_is_read_once() -> None:
    assert list(expand(["a=choice(x)"], native=lambda _: (f"a={i}" for i in range(3)))) == [
        ["a=0"],
        ["a=1"],
        ["a=2"],
    ]


# ----------------------------------------------------------------------------------------- numbers


@settings(max_examples=200, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_parse_number_is_exact_or_refuses(d: Decimal) -> None:
    text = str(d)
    try:
        value = parse_number(text)
    except NumberOutOfRange:
        assert d
        assert not -300 <= d.adjusted() <= 300 or len(d.normalize().as_tuple().digits) > 100
        return
    assert value == d
    assert Decimal(format_number(value)) == d


def test_format_number_never_builds_a_huge_integer() -> None:
    assert format_number(Decimal("1e999999999")) == "1e999999999"
    assert format_number(Decimal("1e300")) == "1" + "0" * 300


@settings(max_examples=200, deadline=None)
@given(st.lists(st.from_regex(r"[A-Za-z0-9_./+\-%*?]{1,6}", fullmatch=True), min_size=1, max_size=8))
def test_plain_list_fast_path_equals_the_grammar(values: list[str]) -> None:
    text = ", ".join(values)
    fast = [job[0] for job in expand([f"a={text}"])]
    general = [job[0] for job in expand([f"a={text}|{text}"])]  # '|' takes the general path
    assert general == fast + fast
