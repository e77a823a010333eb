"""``expand``: arguments -> a lazy :class:`Sweep` (cartesian product, first argument slowest)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from hydraflow.sweep.errors import SweepSyntaxError
from hydraflow.sweep.parser import Parsed, parse_argument
from hydraflow.sweep.seq import Mapped, Seq, Zip, lazy_product, mixed_radix

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from hydraflow.sweep.native import NativeExpander


def _single(value: str) -> tuple[str, ...]:
    return (value,)


class Sweep:
    """A lazy stream of jobs; each job is a list of plain Hydra override strings.

    Memory does not grow with the grid: only each argument's own values are held (and those lazily
    where they are ranges), never the product.

    >>> s = expand(["a=1,2", "b=x,y,z"])
    >>> s.count, s[0], s[-1]
    (6, ['a=1', 'b=x'], ['a=2', 'b=z'])
    >>> [len(b) for b in s.batches(4)]
    [4, 2]
    """

    def __init__(self, factors: Sequence[Seq[tuple[str, ...]]], order: Sequence[int] | None = None) -> None:
        """Product of ``factors`` (first slowest); ``order`` permutes the flattened overrides of a job."""
        self._factors = tuple(factors)
        self._order = tuple(order) if order is not None else None
        count = 1
        for f in self._factors:
            count *= f.size
        self._count = count

    @property
    def factors(self) -> tuple[Seq[tuple[str, ...]], ...]:
        """The independent parts of the product: one per argument, or per group of paired arguments.

        Each is a lazy sequence (``size``, ``get(i)``, iteration) of the overrides that part gives a job;
        their sizes multiply to :attr:`count`. Checking each part's overrides covers every job without
        enumerating the product (a 10^12-job sweep of 12 ranges has 12 x 10 values to check, not 10^12 jobs).

        >>> [list(f) for f in expand(["a=1,2", "b=x,y,z"]).factors]
        [[('a=1',), ('a=2',)], [('b=x',), ('b=y',), ('b=z',)]]
        """
        return self._factors

    @property
    def count(self) -> int:
        """Exact number of jobs, computed without enumerating."""
        return self._count

    def __len__(self) -> int:
        """Number of jobs (``OverflowError`` past ``sys.maxsize``; use :attr:`count`)."""
        return self._count

    def __bool__(self) -> bool:
        """A sweep always has at least one job (and ``len()`` may overflow, so truth does not use it)."""
        return self._count > 0

    def _assemble(self, combo: tuple[tuple[str, ...], ...]) -> list[str]:
        flat = [o for part in combo for o in part]
        if self._order is None:
            return flat
        return [flat[j] for j in self._order]

    def __iter__(self) -> Iterator[list[str]]:
        """Jobs in order: the last argument varies fastest."""
        if self._order is None and all(isinstance(f, Mapped) and f.fn is _single for f in self._factors):
            # fast path: one override per factor
            inner: list[Seq[str]] = [f.inner for f in self._factors]  # type: ignore[attr-defined]
            return map(list, lazy_product(inner))
        return map(self._assemble, lazy_product(self._factors))

    def __getitem__(self, index: int) -> list[str]:
        """Job ``index`` (negative indices count from the end)."""
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(f"job index out of range (the sweep has {self._count} jobs)")
        return self._assemble(mixed_radix(self._factors, index))

    def batches(self, size: int | None = None) -> Iterator[list[list[str]]]:
        """Jobs in consecutive lists of at most ``size`` (all jobs in one list if ``size`` is ``None``)."""
        if size is not None and size < 1:
            raise ValueError(f"batch size must be at least 1, got {size}")
        it = iter(self)
        while batch := list(itertools.islice(it, size)):
            yield batch

    def __repr__(self) -> str:
        """Short description."""
        return f"<Sweep of {self._count} jobs>"


def _check_duplicates(parsed: Sequence[Parsed]) -> None:
    """Like Hydra, a key may be set by one argument only (its ``|`` sections may repeat it)."""
    seen: dict[str, Parsed] = {}
    for p in parsed:
        for key, col in p.keys:
            other = seen.setdefault(key, p)
            if other is not p:
                raise SweepSyntaxError(
                    p.text,
                    col,
                    f"duplicate key {key!r}: also set by argument {other.index + 1} ({other.text!r})",
                    p.index,
                )


def _factors(parsed: Sequence[Parsed]) -> tuple[list[Seq[tuple[str, ...]]], list[int] | None]:
    """One factor per argument, or per pairing tag (at the position of its first member)."""
    units: list[list[Parsed]] = []
    groups: dict[str, list[Parsed]] = {}
    for p in parsed:
        if p.tag is None:
            units.append([p])
        elif p.tag in groups:
            groups[p.tag].append(p)
        else:
            groups[p.tag] = [p]
            units.append(groups[p.tag])
    factors: list[Seq[tuple[str, ...]]] = []
    positions: list[int] = []
    for unit in units:
        first = unit[0]
        for member in unit[1:]:
            if member.overrides.size != first.overrides.size:
                raise SweepSyntaxError(
                    member.text,
                    member.tag_col,
                    f"paired sweep @{first.tag}: {first.display_key!r} has {first.overrides.size} values "
                    f"but {member.display_key!r} has {member.overrides.size}",
                    member.index,
                )
        if len(unit) == 1:
            factors.append(Mapped(first.overrides, _single))
        else:
            factors.append(Zip([p.overrides for p in unit]))
        positions.extend(p.index for p in unit)
    if positions == sorted(positions):
        return factors, None
    where = {pos: k for k, pos in enumerate(positions)}
    return factors, [where[i] for i in range(len(positions))]


def expand(args: Sequence[str], *, native: NativeExpander | None = None) -> Sweep:
    """Expand command-line style sweep arguments into a lazy :class:`Sweep` of jobs.

    Cartesian product across arguments, the first argument varying slowest (like Hydra's BasicSweeper);
    arguments sharing a pairing tag (``@name:``) vary in lockstep at the position of the first of them.

    >>> list(expand(["a=1,2", "b=0:0.2:0.1"]))  # doctest: +NORMALIZE_WHITESPACE
    [['a=1', 'b=0'], ['a=1', 'b=0.1'], ['a=1', 'b=0.2'], ['a=2', 'b=0'], ['a=2', 'b=0.1'], ['a=2', 'b=0.2']]
    >>> list(expand(["lr=@w:1e-3,1e-4", "warmup=@w:100,1000"]))
    [['lr=1e-3', 'warmup=100'], ['lr=1e-4', 'warmup=1000']]

    Args:
        args: override strings ``key=value`` in the extended syntax (also ``+key=``, ``++key=``, ``~key``).
        native: expands an argument that uses Hydra's own functions (``choice()``, ``glob()``, ``sort()``
            ...; ``range()`` with number arguments needs none); see :mod:`hydraflow.sweep.native` for the
            protocol and :func:`hydraflow.hydra_adapter.native.make_native_expander` for Hydra's.

    Raises:
        SweepSyntaxError: for any malformed argument, with its column.
    """
    if isinstance(args, str):
        raise TypeError("expand() takes a sequence of arguments, not a single string")
    parsed: list[Parsed] = [parse_argument(text, i, native) for i, text in enumerate(args)]
    _check_duplicates(parsed)
    factors, order = _factors(parsed)
    return Sweep(factors, order)


__all__ = ["Sweep", "expand"]
