"""Lazy sequences: sized, indexable, re-iterable, never materialising a product."""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from bisect import bisect_right
from decimal import Decimal
from fractions import Fraction
from math import gcd
from typing import TYPE_CHECKING, Generic, TypeVar

from hydraflow.sweep.decimals import NumberOutOfRange, add, format_number, is_number, mul, parse_suffixed
from hydraflow.sweep.shapes import ALL_STATES, DEAD, START, State, accepting, reach_values

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

T = TypeVar("T")
U = TypeVar("U")

MATERIALIZE_LIMIT = 1 << 16
"""Sequences up to this size may be turned into tuples when iterating products."""

SMALL = 4096
"""Sequences up to this size are read value by value when their shape is asked (``reach``, ``numeric``)."""


class Undecidable(ValueError):  # noqa: N818 - reads as what happened
    """Whether every value of a very large joined sequence reads as a number cannot be told cheaply."""

    def __init__(self, col: int) -> None:
        """``col``: the column of the item."""
        super().__init__(col)
        self.col = col


def _sample(seq: Seq[str], index: int | None = None) -> Iterator[str]:
    """Up to ~3000 values: the first and last 1024, and 1024 around ``index``."""
    n = seq.size
    windows = [(0, min(n, 1024)), (max(0, n - 1024), n)]
    if index is not None:
        windows.append((max(0, index - 512), min(n, index + 512)))
    for lo, hi in windows:
        for i in range(lo, hi):
            yield seq.get(i)


class Seq(ABC, Generic[T]):
    """A lazy sequence with an exact size (a Python ``int``, unbounded) and random access."""

    size: int
    col: int = 0
    """Column of the item in its argument that made this sequence (set by the parser, for messages)."""

    @abstractmethod
    def get(self, index: int) -> T:
        """Element ``index`` (``0 <= index < size``)."""

    @abstractmethod
    def __iter__(self) -> Iterator[T]:
        """Iterate in order without materialising."""

    def is_numeric(self) -> bool:
        """Whether every element is a plain decimal number (strings only); a large sequence is not read."""
        return self.size <= SMALL and all(isinstance(v, str) and is_number(v) for v in self)

    def reach(self, states: frozenset[State], *, lower: bool = False) -> frozenset[State]:
        """States of :mod:`hydraflow.sweep.shapes` reached from ``states`` by reading any one value.

        The default reads every value of a small sequence; for a large one it answers "any state" (or, with
        ``lower``, the states reached by a sample: a subset of the true answer).
        """
        if self.size <= SMALL:
            return reach_values(states, self)  # type: ignore[arg-type]
        if lower:
            return reach_values(states, _sample(self))  # type: ignore[arg-type]
        return ALL_STATES


class Items(Seq[T]):
    """Explicit values; ``solid`` marks atomic tokens (quoted strings, lists, dicts) that cannot be joined."""

    def __init__(
        self, values: Sequence[T], *, solid: bool = False, cols: tuple[int, ...] | None = None
    ) -> None:
        """Wrap ``values``; ``cols``: the column of each value in its argument, when known."""
        self.values = tuple(values)
        self.size = len(self.values)
        self.solid = solid
        self.cols = cols

    def get(self, index: int) -> T:
        """Element ``index``."""
        return self.values[index]

    def __iter__(self) -> Iterator[T]:
        """Iterate over the values."""
        return iter(self.values)

    def is_numeric(self) -> bool:
        """Whether every value is a plain number."""
        return all(isinstance(v, str) and is_number(v) for v in self.values)

    def reach(self, states: frozenset[State], *, lower: bool = False) -> frozenset[State]:  # noqa: ARG002
        """Exact: every distinct value is read."""
        return reach_values(states, set(self.values))  # type: ignore[arg-type]


class Progression(Seq[str]):
    """``start, start+step, ...`` (``size`` values): subclasses say how a value is computed and written."""

    solid = False

    def __init__(self, start: Decimal, step: Decimal, size: int) -> None:
        """Arithmetic progression of ``size`` values."""
        self.start = start
        self.step = step
        self.size = size

    @abstractmethod
    def value(self, index: int) -> Decimal:
        """Value ``index`` as a decimal, computed directly (random access)."""

    @abstractmethod
    def following(self, value: Decimal) -> Decimal:
        """The value after ``value`` (iteration adds the step repeatedly)."""

    @abstractmethod
    def text(self, value: Decimal) -> str:
        """How a value is written in an override."""

    def get(self, index: int) -> str:
        """Value ``index``."""
        return self.text(self.value(index))

    def __iter__(self) -> Iterator[str]:
        """Iterate by repeated addition."""
        value = self.start
        for _ in range(self.size):
            yield self.text(value)
            value = self.following(value)

    def is_numeric(self) -> bool:
        """Always numeric (finite numbers only)."""
        return True


class NumRange(Progression):
    """The grammar's own ranges: exact decimals formatted by :func:`format_number`."""

    def value(self, index: int) -> Decimal:
        """``start + index*step``, exactly."""
        return add(self.start, mul(self.step, Decimal(index)))

    def following(self, value: Decimal) -> Decimal:
        """Exact addition."""
        return add(value, self.step)

    def text(self, value: Decimal) -> str:
        """The shortest exact form."""
        return format_number(value)

    def last(self) -> Decimal:
        """The last value."""
        return add(self.start, mul(self.step, Decimal(self.size - 1)))

    def extremes(self) -> list[Decimal]:
        """The values of largest and of smallest non-zero magnitude (and maybe a few more)."""
        return progression_extremes(self.start, self.step, self.size)

    def reach(self, states: frozenset[State], *, lower: bool = False) -> frozenset[State]:
        """Exact for small ranges; otherwise a sample (``lower``) or a sound superset (exact for integers)."""
        if self.size <= SMALL:
            return reach_values(states, set(self))
        reps = _possible_reps(self.start, self.step, self.size)
        if self.start != self.start.to_integral_value() or self.step != self.step.to_integral_value():
            sample = set(_sample(self, _nearest_zero(self.start, self.step, self.size)))
            reps = sample if lower else reps | sample
        return reach_values(states, reps)


def _possible_reps(start: Decimal, step: Decimal, size: int) -> set[str]:
    """Texts that read like every value of the progression, and with exponents at least as large.

    Each shape a value may print as (integer, positional, scientific; with or without sign) is represented
    by one text with the largest digits that shape can hold there (appending digits to an exponent is
    monotone, so these bound every value's exponents).

    >>> sorted(_possible_reps(Decimal(-3), Decimal(1), 10**6))
    ['-999996', '999996']
    >>> sorted(_possible_reps(Decimal(0), Decimal("0.001"), 10**6))
    ['1.11111e-3', '1e-3', '999', '999.111']
    """
    ends = progression_extremes(start, step, size)
    top = max(abs(v) for v in ends)
    signs = [s for s, present in (("-", min(ends) < 0), ("", max(ends) >= 0)) if present]
    whole = str(int(top))
    reps: set[str] = set()
    if _has_integer(start, step, size):
        reps.add(whole)
    if start != start.to_integral_value() or step != step.to_integral_value():
        exponents = [d.as_tuple().exponent for d in (start, step) if d]
        quantum = min(e for e in exponents if isinstance(e, int))
        reps.add(f"{whole}.{'1' * -quantum}")
        smallest = min((abs(v) for v in ends if v), default=top)
        if smallest < Decimal("0.01"):
            digits = top.adjusted() - quantum + 1
            reps |= {f"1e{quantum}", f"1.{'1' * (digits - 1)}e{quantum}" if digits > 1 else f"1e{quantum}"}
    return {sign + r for sign in signs for r in reps}


def _has_integer(start: Decimal, step: Decimal, size: int) -> bool:
    """Whether some ``start + i*step`` (``0 <= i < size``) is an integer."""
    a, d = Fraction(start), Fraction(step)
    denominator = a.denominator * d.denominator // gcd(a.denominator, d.denominator)
    big_a, big_d = int(a * denominator), int(d * denominator)
    # need big_a + i*big_d = 0 (mod denominator)
    g = gcd(big_d, denominator)
    if big_a % g:
        return False
    m = denominator // g
    if m == 1:
        return True
    i0 = (-(big_a // g) * pow(big_d // g, -1, m)) % m
    return i0 < size


def _nearest_zero(start: Decimal, step: Decimal, size: int) -> int:
    """Index of the value nearest to zero."""
    if step == 0 or size <= 1:
        return 0
    i = int(Fraction(-start) / Fraction(step))
    return min(max(i, 0), size - 1)


def progression_extremes(start: Decimal, step: Decimal, size: int) -> list[Decimal]:
    """First, last and the non-zero values nearest to zero of ``start + i*step`` (``0 <= i < size``).

    >>> progression_extremes(Decimal(-3), Decimal(2), 4)
    [Decimal('-3'), Decimal('3'), Decimal('-1'), Decimal('1')]
    """

    def at(i: int) -> Decimal:
        return add(start, mul(step, Decimal(i)))

    out = [at(0), at(size - 1)]
    middle = _nearest_zero(start, step, size)
    out += [at(i) for i in range(max(0, middle - 1), min(size, middle + 3)) if i not in (0, size - 1)]
    return out


class Concat(Seq[T]):
    """The concatenation (union, in order) of several sequences."""

    def __init__(self, parts: Sequence[Seq[T]]) -> None:
        """Concatenate ``parts``."""
        self.parts = tuple(parts)
        self.offsets = list(itertools.accumulate((p.size for p in self.parts), initial=0))
        self.size = self.offsets[-1]
        self.solid = any(getattr(p, "solid", False) for p in self.parts)

    def get(self, index: int) -> T:
        """Element ``index``."""
        k = bisect_right(self.offsets, index) - 1
        return self.parts[k].get(index - self.offsets[k])

    def __iter__(self) -> Iterator[T]:
        """Iterate over every part in turn."""
        return itertools.chain.from_iterable(self.parts)

    def is_numeric(self) -> bool:
        """Numeric when every part is."""
        return all(p.is_numeric() for p in self.parts)

    def reach(self, states: frozenset[State], *, lower: bool = False) -> frozenset[State]:
        """Union over the parts."""
        return frozenset().union(*(p.reach(states, lower=lower) for p in self.parts))


class Mapped(Seq[U], Generic[T, U]):
    """``fn`` applied to every element of ``inner``."""

    def __init__(self, inner: Seq[T], fn: Callable[[T], U]) -> None:
        """Map ``fn`` over ``inner`` lazily."""
        self.inner = inner
        self.fn = fn
        self.size = inner.size
        self.solid = getattr(inner, "solid", False)

    def get(self, index: int) -> U:
        """Element ``index``."""
        return self.fn(self.inner.get(index))

    def __iter__(self) -> Iterator[U]:
        """Iterate lazily."""
        return map(self.fn, self.inner)


class Product(Seq[U], Generic[T, U]):
    """Cartesian product of ``parts`` (first part varies slowest), each combination passed to ``combine``."""

    solid = False

    def __init__(self, parts: Sequence[Seq[T]], combine: Callable[[tuple[T, ...]], U]) -> None:
        """Product of ``parts``."""
        self.parts = tuple(parts)
        self.combine = combine
        size = 1
        for p in self.parts:
            size *= p.size
        self.size = size

    def get(self, index: int) -> U:
        """Combination ``index`` (mixed radix, last part fastest)."""
        return self.combine(mixed_radix(self.parts, index))

    def __iter__(self) -> Iterator[U]:
        """Iterate lazily."""
        return map(self.combine, lazy_product(self.parts))

    def reach(self, states: frozenset[State], *, lower: bool = False) -> frozenset[State]:
        """Read the parts in turn (a joined value is the concatenation of one value of each part)."""
        for p in self.parts:
            states = p.reach(states, lower=lower)
            if states <= {DEAD}:
                break
        return states


def normalize_joined(value: str) -> str:
    """``value`` as a number when it reads as one with an SI prefix or exponent (``4k`` -> ``4000``).

    A number beyond the limits is kept as written; the parser refuses such values before any are produced.
    """
    try:
        number = parse_suffixed(value)
    except NumberOutOfRange:
        return value
    return value if number is None else format_number(number)


class Joined(Seq[str]):
    """The values of ``inner`` (joined text), each normalised by :func:`normalize_joined`."""

    solid = False

    def __init__(self, inner: Seq[str], col: int = 0) -> None:
        """Normalise the values of ``inner``; ``col`` is the column of the item, for messages."""
        self.inner = inner
        self.size = inner.size
        self.col = col
        self.solid = getattr(inner, "solid", False)

    def get(self, index: int) -> str:
        """Value ``index``."""
        return normalize_joined(self.inner.get(index))

    def __iter__(self) -> Iterator[str]:
        """Iterate lazily."""
        return map(normalize_joined, self.inner)

    def number_states(self) -> frozenset[State]:
        """The final states of the values that read as numbers (a superset)."""
        return frozenset(s for s in self.inner.reach(frozenset({START})) if accepting(s))

    def is_numeric(self) -> bool:
        """Whether every value reads as a number, decided from the parts' shapes.

        Raises:
            Undecidable: when a very large non-integer range inside makes the answer depend on values that
                only enumerating would show.
        """
        if all(accepting(s) for s in self.inner.reach(frozenset({START}))):
            return True
        if all(accepting(s) for s in self.inner.reach(frozenset({START}), lower=True)):
            raise Undecidable(self.col)
        return False


class View(Seq[str]):
    """A sized, indexable sequence of strings (a lazy result of a native expander), used as it is."""

    solid = False

    def __init__(self, values: Sequence[str]) -> None:
        """Wrap ``values`` without copying."""
        self.values = values
        self.size = len(values)

    def get(self, index: int) -> str:
        """Element ``index``."""
        return self.values[index]

    def __iter__(self) -> Iterator[str]:
        """Iterate over the values."""
        return iter(self.values)


class Zip(Seq[tuple[T, ...]]):
    """Several equally long sequences in lockstep."""

    def __init__(self, parts: Sequence[Seq[T]]) -> None:
        """Zip ``parts`` (all of the same size)."""
        self.parts = tuple(parts)
        self.size = self.parts[0].size if self.parts else 0

    def get(self, index: int) -> tuple[T, ...]:
        """The ``index``-th element of every part."""
        return tuple(p.get(index) for p in self.parts)

    def __iter__(self) -> Iterator[tuple[T, ...]]:
        """Iterate in lockstep."""
        return zip(*self.parts, strict=True)


def mixed_radix(parts: Sequence[Seq[T]], index: int) -> tuple[T, ...]:
    """Element ``index`` of the product of ``parts`` (last part fastest)."""
    picks: list[T] = []
    for p in reversed(parts):
        index, r = divmod(index, p.size)
        picks.append(p.get(r))
    picks.reverse()
    return tuple(picks)


def lazy_product(parts: Sequence[Seq[T]]) -> Iterator[tuple[T, ...]]:
    """Like :func:`itertools.product` (first part slowest) but never materialises a large part."""
    large = [i for i, p in enumerate(parts) if p.size > MATERIALIZE_LIMIT]
    if not large:
        return itertools.product(*(tuple(p) for p in parts))
    cut = large[-1] + 1
    outer = parts[:cut]
    inner = [tuple(p) for p in parts[cut:]]
    return _odometer(outer, inner)


def _odometer(outer: Sequence[Seq[T]], inner: list[tuple[T, ...]]) -> Iterator[tuple[T, ...]]:
    if any(p.size == 0 for p in outer) or any(not t for t in inner):
        return
    iters = [iter(p) for p in outer]
    current = [next(it) for it in iters]
    while True:
        head = tuple(current)
        for tail in itertools.product(*inner):
            yield head + tail
        # advance the odometer, last outer part fastest
        k = len(iters) - 1
        while k >= 0:
            try:
                current[k] = next(iters[k])
                break
            except StopIteration:
                iters[k] = iter(outer[k])
                current[k] = next(iters[k])
                k -= 1
        if k < 0:
            return
