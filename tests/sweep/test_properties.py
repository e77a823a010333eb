"""Hypothesis property tests: counts, product order, exact ranges, laziness, Hydra-valid outputs."""

from __future__ import annotations

import itertools
import math
import tracemalloc
from decimal import Decimal
from fractions import Fraction

from hydra.core.override_parser.overrides_parser import OverridesParser
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hydraflow.sweep import SweepSyntaxError, expand, format_number
from hydraflow.sweep.decimals import SI_PREFIXES

PARSER = OverridesParser.create()
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

idents = st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True).filter(
    lambda s: s not in {"null", "true", "false", "inf", "nan"} and not s.startswith(("e", "nan", "inf"))
)
small_decimals = st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False, allow_infinity=False)
positive_steps = st.decimals(min_value=Decimal("0.001"), max_value=50, places=3, allow_nan=False)
suffixes = st.sampled_from([*SI_PREFIXES, "e-3", "E8", "e2", "e+1"])


def suffix_power(suffix: str) -> int:
    return SI_PREFIXES.get(suffix) if suffix in SI_PREFIXES else int(suffix[1:])  # type: ignore[return-value]


def dtext(d: Decimal) -> str:
    return format(d, "f")


@st.composite
def ranges(draw: st.DrawFn, max_n: int = 8) -> tuple[str, list[Fraction]]:
    """A range text and its exact expected values (computed with Fraction)."""
    start = draw(small_decimals)
    step = draw(positive_steps)
    n = draw(st.integers(min_value=0, max_value=max_n))
    stop = start + step * n + draw(st.decimals(min_value=0, max_value=step, places=3)) * Decimal("0.999")
    descending = draw(st.booleans())
    suffix = draw(st.none() | suffixes)
    if descending:
        start, stop, step = stop, start, -step
    text = f"{dtext(start)}:{dtext(stop)}:{dtext(step)}" + (f":{suffix}" if suffix else "")
    scale = Fraction(10) ** suffix_power(suffix) if suffix else Fraction(1)
    f_start, f_stop, f_step = Fraction(start), Fraction(stop), Fraction(step)
    count = int((f_stop - f_start) / f_step) + 1
    return text, [(f_start + i * f_step) * scale for i in range(count)]


@st.composite
def items(draw: st.DrawFn) -> tuple[str, list[str] | None]:  # noqa: PLR0911
    """One list item and, when easy to state, its exact values."""
    kind = draw(st.sampled_from(["ident", "int", "range", "group", "numgroup", "list", "interp", "quoted"]))
    if kind == "ident":
        v = draw(idents)
        return v, [v]
    if kind == "int":
        v = str(draw(st.integers(min_value=0, max_value=10**6)))
        return v, [v]
    if kind == "range":
        text, vals = draw(ranges())
        return text, [format_number(Decimal(v.numerator) / Decimal(v.denominator)) for v in vals]
    if kind == "group":
        left = draw(st.lists(idents, min_size=1, max_size=3))
        right = draw(st.lists(idents, min_size=1, max_size=3))
        return f"({','.join(left)})_({','.join(right)})", [f"{a}_{b}" for a in left for b in right]
    if kind == "numgroup":  # (1,2.5)k -> exact scaled numbers
        nums = draw(st.lists(small_decimals.filter(lambda d: d >= 0), min_size=1, max_size=3))
        suffix = draw(suffixes)
        scale = Fraction(10) ** suffix_power(suffix)
        vals = [Fraction(n) * scale for n in nums]
        return (
            "(" + ",".join(dtext(n) for n in nums) + ")" + suffix,
            [format_number(Decimal(v.numerator) / Decimal(v.denominator)) for v in vals],
        )
    if kind == "list":
        inner = draw(st.lists(st.integers(0, 9), max_size=3))
        v = "[" + ",".join(map(str, inner)) + "]"
        return v, [v]
    if kind == "interp":
        v = "${" + draw(idents) + "}"
        return v, [v]
    v = "'" + draw(idents) + " " + draw(idents) + "'"
    return v, [v]


@st.composite
def arguments(draw: st.DrawFn, key: str) -> tuple[str, list[str]]:
    parts = draw(st.lists(items(), min_size=1, max_size=3))
    value = ",".join(p for p, _ in parts)
    expected = [v for _, vals in parts for v in vals or []]
    if draw(st.booleans()):  # a '|' section that reuses the key
        more = draw(st.lists(items(), min_size=1, max_size=2))
        value += "|" + ",".join(p for p, _ in more)
        expected += [v for _, vals in more for v in vals or []]
    return f"{key}={value}", [f"{key}={v}" for v in expected]


@st.composite
def sweeps(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    n = draw(st.integers(min_value=1, max_value=3))
    args, per_arg = [], []
    for i in range(n):
        a, exp = draw(arguments(f"k{i}"))
        args.append(a)
        per_arg.append(exp)
    assume(math.prod(len(e) for e in per_arg) <= 3000)  # keep each example quick to enumerate
    return args, per_arg


@SETTINGS
@given(sweeps())
def test_count_product_and_order(case: tuple[list[str], list[list[str]]]) -> None:
    args, per_arg = case
    sweep = expand(args)
    singles = [list(expand([a])) for a in args]
    assert [[j[0] for j in s] for s in singles] == per_arg
    assert sweep.count == len(list(sweep)) == len(sweep)
    expected_count = 1
    for s in singles:
        expected_count *= len(s)
    assert sweep.count == expected_count
    assert list(sweep) == [[j[0] for j in combo] for combo in itertools.product(*singles)]


@SETTINGS
@given(sweeps(), st.data())
def test_getitem_and_batches_agree_with_iteration(
    case: tuple[list[str], list[list[str]]], data: st.DataObject
) -> None:
    sweep = expand(case[0])
    listed = list(sweep)
    i = data.draw(st.integers(min_value=0, max_value=sweep.count - 1))
    assert sweep[i] == listed[i]
    size = data.draw(st.integers(min_value=1, max_value=7))
    assert [j for b in sweep.batches(size) for j in b] == listed
    assert all(len(b) <= size for b in sweep.batches(size))


@SETTINGS
@given(sweeps())
def test_every_output_is_a_plain_hydra_override(case: tuple[list[str], list[list[str]]]) -> None:
    # every job is a combination of the arguments' own overrides: checking each distinct one covers them all
    distinct = {o for job in expand(case[0]) for o in job}
    for override in PARSER.parse_overrides(sorted(distinct)):
        assert not override.is_sweep_override(), override.input_line


@SETTINGS
@given(ranges(max_n=40))
def test_ranges_are_exact(case: tuple[str, list[Fraction]]) -> None:
    text, expected = case
    got = [job[0].split("=", 1)[1] for job in expand([f"a={text}"])]
    assert [Fraction(Decimal(v)) for v in got] == expected
    for v in got:
        value = PARSER.parse_override(f"a={v}").value()
        if Fraction(Decimal(v)).denominator == 1:
            assert "." not in v
            assert "e" not in v
            assert isinstance(value, int)
        else:
            assert isinstance(value, float)
            assert float(Fraction(Decimal(v))) == value


@SETTINGS
@given(st.decimals(min_value=Decimal("-1e6"), max_value=Decimal("1e6"), allow_nan=False, places=6))
def test_format_number_round_trips_and_is_shortest(d: Decimal) -> None:
    text = format_number(d)
    assert Decimal(text) == d
    if d != d.to_integral_value():
        positional = format(d.normalize(), "f")
        assert len(text) <= len(positional.lstrip("-")) + (1 if d < 0 else 0)


@SETTINGS
@given(
    st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=4),
    st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=4),
)
def test_paired_lockstep_property(a: list[int], b: list[int]) -> None:
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    args = ["x=@g:" + ",".join(map(str, a)), "mid=p,q", "y=@g:" + ",".join(map(str, b))]
    jobs = list(expand(args))
    assert len(jobs) == 2 * n
    assert jobs == [[f"x={p}", f"mid={m}", f"y={q}"] for p, q in zip(a, b, strict=True) for m in ("p", "q")]


def test_laziness_of_a_billion_job_sweep() -> None:
    args = [f"k{i}=0:9" for i in range(9)]
    tracemalloc.start()
    try:
        sweep = expand(args)
        it = iter(sweep)
        first = [next(it) for _ in range(1000)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sweep.count == 10**9
    assert first[0] == [f"k{i}=0" for i in range(9)]
    assert first[999] == ["k0=0", "k1=0", "k2=0", "k3=0", "k4=0", "k5=0", "k6=9", "k7=9", "k8=9"]
    assert sweep[10**9 - 1] == [f"k{i}=9" for i in range(9)]
    assert peak < 2 * 1024 * 1024, f"peak {peak} bytes while reading the first jobs of 10^9"


def test_laziness_with_a_huge_single_range() -> None:
    tracemalloc.start()
    try:
        sweep = expand(["a=1:1e15", "b=x,y"])
        it = iter(sweep)
        first = [next(it) for _ in range(5)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sweep.count == 2 * 10**15
    assert first == [["a=1", "b=x"], ["a=1", "b=y"], ["a=2", "b=x"], ["a=2", "b=y"], ["a=3", "b=x"]]
    assert peak < 1024 * 1024


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab1203:,.()|@wkme-+=/'\"[]{}$\\ ;~", max_size=14))
def test_any_text_either_expands_to_valid_overrides_or_raises_sweep_syntax_error(value: str) -> None:
    error: SweepSyntaxError | None = None
    distinct: set[str] = set()
    try:
        sweep = expand([f"key={value}"])
        if sweep.count <= 10_000:
            distinct = {o for job in sweep for o in job}
    except SweepSyntaxError as e:
        error = e
    if error is not None:
        assert 0 <= error.column <= len(error.text)
        assert error.text == f"key={value}"
        return
    assert sweep.count >= 1
    for override in PARSER.parse_overrides(sorted(distinct)):
        assert not override.is_sweep_override(), override.input_line


@SETTINGS
@given(st.lists(small_decimals, min_size=1, max_size=5), suffixes)
def test_key_suffix_scales_exactly(nums: list[Decimal], suffix: str) -> None:
    if "+" in suffix:  # Hydra keys cannot hold '+': use the YAML/Python form only
        suffix = suffix.replace("+", "")
    got = [job[0] for job in expand([f"lr/{suffix}=" + ",".join(dtext(n) for n in nums)])]
    scale = Fraction(10) ** suffix_power(suffix)
    assert [Fraction(Decimal(g.split("=", 1)[1])) for g in got] == [Fraction(n) * scale for n in nums]
    assert all(g.startswith("lr=") for g in got)
    for override in PARSER.parse_overrides(sorted(set(got))):
        assert isinstance(override.value(), (int, float))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab1:,()|@wkm-+=/~.'[]$ ", min_size=1, max_size=12), min_size=1, max_size=3))
def test_any_arguments_either_expand_to_valid_overrides_or_raise_sweep_syntax_error(args: list[str]) -> None:
    error: SweepSyntaxError | None = None
    distinct: set[str] = set()
    try:
        sweep = expand(args)
        if sweep.count <= 10_000:
            distinct = {o for job in sweep for o in job}
    except SweepSyntaxError as e:
        error = e
    if error is not None:
        assert error.argument is not None
        assert error.text == args[error.argument]
        assert 0 <= error.column <= len(error.text)
        return
    for override in PARSER.parse_overrides(sorted(distinct)):
        assert not override.is_sweep_override(), override.input_line
