"""Lazy sequences: sized, indexable, re-iterable, never materialising a product."""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from bisect import bisect_right
from decimal import Decimal
from typing import TYPE_CHECKING, Generic, TypeVar

from hydraflow.sweep.decimals import add, format_number, is_number, mul

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

T = TypeVar("T")
U = TypeVar("U")

MATERIALIZE_LIMIT = 1 << 16
"""Sequences up to this size may be turned into tuples when iterating products."""


class Seq(ABC, Generic[T]):
    """A lazy sequence with an exact size (a Python ``int``, unbounded) and random access."""

    size: int

    @abstractmethod
    def get(self, index: int) -> T:
        """Element ``index`` (``0 <= index < size``)."""

    @abstractmethod
    def __iter__(self) -> Iterator[T]:
        """Iterate in order without materialising."""

    def is_numeric(self) -> bool:
        """Whether every element is a plain decimal number (only meaningful for string sequences)."""
        return all(isinstance(v, str) and is_number(v) for v in self)


class Items(Seq[T]):
    """Explicit values; ``solid`` marks atomic tokens (quoted strings, lists, dicts) that cannot be joined."""

    def __init__(self, values: Sequence[T], *, solid: bool = False) -> None:
        """Wrap ``values``."""
        self.values = tuple(values)
        self.size = len(self.values)
        self.solid = solid

    def get(self, index: int) -> T:
        """Element ``index``."""
        return self.values[index]

    def __iter__(self) -> Iterator[T]:
        """Iterate over the values."""
        return iter(self.values)


class NumRange(Seq[str]):
    """``start, start+step, ...`` (``size`` values), exact decimals formatted by :func:`format_number`."""

    solid = False

    def __init__(self, start: Decimal, step: Decimal, size: int) -> None:
        """Arithmetic progression of ``size`` values."""
        self.start = start
        self.step = step
        self.size = size

    def get(self, index: int) -> str:
        """Value ``index``."""
        return format_number(add(self.start, mul(self.step, Decimal(index))))

    def __iter__(self) -> Iterator[str]:
        """Iterate by exact repeated addition."""
        value = self.start
        for _ in range(self.size):
            yield format_number(value)
            value = add(value, self.step)

    def is_numeric(self) -> bool:
        """Always numeric."""
        return True


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
