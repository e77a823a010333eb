"""Collection: an immutable sequence of items to filter, sort, group and tabulate by key; GroupBy.

A :class:`Collection` reads an item's value for a key with its ``get(item, key, default)`` function (like
HydraFlow 0.23's ``Collection``; :func:`getattr` by default). :class:`~hydraflow.analysis.RunCollection` is
the collection of :class:`~hydraflow.analysis.Run` objects, with faster column reads.

Numbers of runs in the tens of thousands are the normal case: every selecting method reads one column at a
time (:meth:`Collection._lookup`), which a subclass can make fast. NumPy and polars are imported only by the
methods that return their objects.
"""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, cast, overload

from typing_extensions import Self

from hydraflow.analysis._errors import MultipleRunsFoundError, NoRunFoundError
from hydraflow.analysis.matching import matcher, matches
from hydraflow.analysis.values import MISSING, flatten_dict, to_hashable

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import polars as pl
    import pyarrow as pa

__all__ = ["Backend", "Collection", "Criterion", "Getter", "GroupBy", "config_keys", "matches", "to_hashable"]

I = TypeVar("I")  # noqa: E741 - the item type, named like HydraFlow's
C = TypeVar("C", bound="Collection[Any]")
Backend = Literal["arrow", "pandas", "polars"]
Getter = Callable[[Any, str, Any], Any]
Criterion = Callable[[Any], bool] | tuple[str, Any] | Mapping[str, Any] | Iterable[Any]


def _sort_key(value: Any) -> Any:
    """Enum members sort in the order of their class (they have no ``<`` of their own)."""
    if isinstance(value, Enum):
        return list(type(value)).index(value)
    return value


def _as_array(values: list[Any]) -> np.ndarray[Any, Any]:
    """``np.array(values)``; an object array where NumPy cannot make a regular one (ragged lists)."""
    import numpy as np

    try:
        return np.array(values)
    except ValueError:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out


class Collection(Sequence[I], Generic[I]):
    """An ordered, immutable collection of items (a :class:`~collections.abc.Sequence`).

    Every selecting method returns a new collection of the same class. A key's value is read with
    ``get(item, key, default)`` (default: :func:`getattr`); :class:`~hydraflow.analysis.RunCollection` reads
    dotted keys (``"model.lr"``, ``"metrics.loss"``; ``model__lr`` in keyword form) like :meth:`Run.get`.

    >>> c = Collection([{"x": 1, "y": "a"}, {"x": 2, "y": "b"}], lambda i, k, d: i.get(k, d))
    >>> c.filter(x=2).to_list("y"), c  # the repr names the first item, up to a "(" (as in HydraFlow)
    (['b'], Collection({'x': 1, 'y': 'a'}, n=2))
    """

    _noun: ClassVar[str] = "item"

    def __init__(self, items: Iterable[I] = (), get: Getter | None = None) -> None:
        """Collect items; ``get(item, key, default)`` reads a key's value (default: :func:`getattr`)."""
        self._items: list[I] = list(items)
        self._get: Getter = get if get is not None else getattr

    def _new(self, items: Iterable[I]) -> Self:
        """A collection of the same class and ``get`` holding ``items``."""
        return self.__class__(items, self._get)

    # ------------------------------------------------------------------ reading columns (the hooks)

    def _lookup(self, key: str, items: list[I]) -> list[Any]:
        """The value of ``key`` for each of ``items``; :data:`MISSING` where an item has none."""
        get = self._get

        def value(item: I) -> Any:
            try:
                return get(item, key, MISSING)
            except (AttributeError, KeyError):  # a get that raises for a missing key
                return MISSING

        return [value(item) for item in items]

    def _values(self, key: str, default: Any) -> list[Any]:
        """``[get(item, key, default) for item in self]``."""
        get = self._get
        return [get(item, key, default) for item in self._items]

    def _default_keys(self) -> list[str]:
        """The columns of :meth:`to_arrow` without keys (none for a generic collection)."""
        return []

    def _item_id(self, item: I) -> str:
        run_id = getattr(item, "run_id", None)
        return str(run_id) if isinstance(run_id, str) else repr(item)

    # ------------------------------------------------------------------ sequence protocol

    def __len__(self) -> int:
        """Number of items."""
        return len(self._items)

    def __iter__(self) -> Iterator[I]:
        """Iterate over the items."""
        return iter(self._items)

    def __bool__(self) -> bool:
        """True if there is at least one item."""
        return bool(self._items)

    @overload
    def __getitem__(self, index: int) -> I: ...
    @overload
    def __getitem__(self, index: slice) -> Self: ...
    @overload
    def __getitem__(self, index: str) -> pl.Series: ...
    @overload
    def __getitem__(self, index: Iterable[int]) -> Self: ...

    def __getitem__(self, index: int | slice | str | Iterable[int]) -> I | Self | pl.Series:
        """An item by position; a collection by slice or by positions (``c[[0, 2]]``); a column by key.

        ``c["model.lr"]`` is ``c.to_series("model.lr")``, a polars Series (usable as a filter mask:
        ``c.filter(c["model.lr"] > 0.01)``).
        """
        if isinstance(index, str):
            return self.to_series(index)
        if isinstance(index, slice):
            return self._new(self._items[index])
        if isinstance(index, Iterable):
            return self._new([self._items[int(i)] for i in index])
        return self._items[index.__index__()]

    def __add__(self, other: Collection[I]) -> Self:
        """Concatenate two collections."""
        if not isinstance(other, Collection):
            return NotImplemented
        return self._new([*self._items, *other._items])

    def __repr__(self) -> str:
        """``RunCollection(Run, n=12)`` (the class of the first item), or ``RunCollection(empty)``."""
        name = type(self).__name__
        if not self._items:
            return f"{name}(empty)"
        first = repr(self._items[0]).split("(", 1)[0]
        return f"{name}({first}, n={len(self._items)})"

    # ------------------------------------------------------------------ selection

    def _tests(self, criteria: tuple[Any, ...], kwargs: Mapping[str, Any]) -> list[Any]:
        """Criteria in a uniform form: ``(key, test)`` pairs, masks (lists of bools) and callables.

        Key criteria come first (one column read each), then masks, then callables on the items.
        """
        pairs: list[tuple[str, Any]] = []
        masks: list[list[bool]] = []
        calls: list[Callable[[I], Any]] = []
        for c in criteria:
            if isinstance(c, tuple) and len(c) == 2 and isinstance(c[0], str):  # noqa: PLR2004
                pairs.append(c)
            elif isinstance(c, Mapping):
                pairs.extend(c.items())
            elif callable(c):
                calls.append(c)
            elif isinstance(c, Iterable) and not isinstance(c, (str, bytes)):
                mask = [bool(m) for m in c]
                if len(mask) != len(self._items):
                    msg = f"a filter mask has {len(mask)} values for {len(self._items)} {self._noun}s"
                    raise ValueError(msg)
                masks.append(mask)
            else:
                msg = (
                    "a filter criterion must be a callable, a (key, value) tuple, a mapping or a boolean "
                    f"mask, not {c!r}"
                )
                raise TypeError(msg)
        pairs.extend(kwargs.items())
        return [*((k, matcher(v)) for k, v in pairs), *masks, *calls]

    def _narrow(self, criteria: tuple[Any, ...], kwargs: Mapping[str, Any], *, keep: bool) -> list[int]:
        """Positions of the items that match every criterion (``keep``) or none of them (not ``keep``)."""
        items = self._items
        alive = list(range(len(items)))
        for test in self._tests(criteria, kwargs):
            if not alive:
                break
            if isinstance(test, tuple):
                key, match = test
                col = self._lookup(key, [items[i] for i in alive])
                hits = [v is not MISSING and match(v) for v in col]
            elif isinstance(test, list):
                hits = [test[i] for i in alive]
            else:
                hits = [bool(test(items[i])) for i in alive]
            alive = [i for i, hit in zip(alive, hits, strict=True) if hit is keep]
        return alive

    def filter(self, *criteria: Criterion, **kwargs: Any) -> Self:
        """The items matching every criterion.

        Criteria: a callable taking an item; a ``(key, value)`` tuple; a mapping of keys to values; a boolean
        mask (a sequence of bools, one per item, e.g. ``c["lr"] > 0.01``); or keyword arguments
        (``model__lr=0.1`` for ``"model.lr"``). Values match as in :func:`matches`: a list means "any of", a
        2-tuple an inclusive range, a callable a predicate on the value, anything else equality.

        An item that does not have a key does not match a criterion on that key.
        """
        return self._new([self._items[i] for i in self._narrow(criteria, kwargs, keep=True)])

    def exclude(self, *criteria: Criterion, **kwargs: Any) -> Self:
        """The items matching none of the criteria (each criterion excludes the items it matches).

        Same criteria as :meth:`filter`; an item that does not have a key is kept by a criterion on that key.
        """
        return self._new([self._items[i] for i in self._narrow(criteria, kwargs, keep=False)])

    def _describe(self, criteria: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
        parts = [repr(c) for c in criteria] + [f"{k}={v!r}" for k, v in kwargs.items()]
        return ", ".join(parts) or "no criteria"

    def try_get(self, *criteria: Criterion, **kwargs: Any) -> I | None:
        """The single item matching the criteria, or None if no item matches.

        Raises:
            MultipleRunsFoundError: Several items match (a :class:`ValueError` and a :class:`LookupError`).
        """
        found = self._narrow(criteria, kwargs, keep=True)
        if len(found) > 1:
            ids = ", ".join(self._item_id(self._items[i]) for i in found[:5])
            ids += " ..." if len(found) > 5 else ""  # noqa: PLR2004
            msg = f"{len(found)} {self._noun}s match {self._describe(criteria, kwargs)} (expected one): {ids}"
            raise MultipleRunsFoundError(msg)
        return self._items[found[0]] if found else None

    def get(self, *criteria: Criterion, **kwargs: Any) -> I:
        """The single item matching the criteria.

        Raises:
            NoRunFoundError: No item matches (a :class:`ValueError` and a :class:`LookupError`).
            MultipleRunsFoundError: Several items match.
        """
        found = self.try_get(*criteria, **kwargs)
        if found is None:
            raise self._not_found(criteria, kwargs)
        return found

    def _not_found(self, criteria: tuple[Any, ...], kwargs: Mapping[str, Any]) -> NoRunFoundError:
        n = len(self._items)
        msg = f"no {self._noun} matches {self._describe(criteria, kwargs)} (among {n} {self._noun}s)"
        return NoRunFoundError(msg)

    def first(self, *criteria: Criterion, **kwargs: Any) -> I:
        """The first item (matching the criteria, if given).

        Raises:
            NoRunFoundError: No item matches.
        """
        found = self._narrow(criteria, kwargs, keep=True)
        if not found:
            raise self._not_found(criteria, kwargs)
        return self._items[found[0]]

    def last(self, *criteria: Criterion, **kwargs: Any) -> I:
        """The last item (matching the criteria, if given).

        Raises:
            NoRunFoundError: No item matches.
        """
        found = self._narrow(criteria, kwargs, keep=True)
        if not found:
            raise self._not_found(criteria, kwargs)
        return self._items[found[-1]]

    # ------------------------------------------------------------------ values

    def to_list(self, key: str, default: Any = MISSING) -> list[Any]:
        """The value of ``key`` for every item; a callable ``default`` is called with an item without one."""
        return self._values(key, default)

    def values(self, key: str, default: Any = MISSING) -> list[Any]:
        """Same as :meth:`to_list`."""
        return self._values(key, default)

    def to_numpy(self, key: str, default: Any = MISSING) -> np.ndarray[Any, Any]:
        """:meth:`to_list` as a NumPy array."""
        return _as_array(self._values(key, default))

    def to_series(self, key: str, default: Any = MISSING, *, name: str | None = None) -> pl.Series:
        """:meth:`to_list` as a polars Series named ``name`` (default: the key)."""
        import polars as pl

        from hydraflow.analysis.frame import column

        series = pl.from_arrow(column(self._values(key, default)))
        return cast("pl.Series", series).alias(name or key)

    def unique(self, key: str, default: Any = MISSING) -> np.ndarray[Any, Any]:
        """The distinct values of ``key`` as a NumPy array, sorted (unorderable: in order of appearance).

        Lists and dicts compare by value; list values give a 2-D array when they have one length.
        """
        seen: set[Hashable] = set()
        out: list[Any] = []
        for v in self._values(key, default):
            h = to_hashable(v)
            if h not in seen:
                seen.add(h)
                out.append(v)
        with contextlib.suppress(TypeError):  # None among strings, dicts, mixed types: order of appearance
            out.sort(key=_sort_key)
        return _as_array(out)

    def n_unique(self, key: str, default: Any = MISSING) -> int:
        """The number of distinct values of ``key``."""
        return len(self.unique(key, default))

    def map(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
        """Lazily apply ``function(item, *args, **kwargs)`` to every item."""
        return (function(item, *args, **kwargs) for item in self._items)

    # ------------------------------------------------------------------ order, groups, samples

    def sort(self, *keys: str | Callable[[I], Any], reverse: bool = False) -> Self:
        """Sorted by the keys (keys or functions of an item), ascending; descending with ``reverse``.

        ``reverse=True`` is the ascending order reversed (equal items too, as in HydraFlow). Items without
        a value (or with None) go last, also with ``reverse``.

        Raises:
            TypeError: Values of one key cannot be compared (e.g. numbers and strings mixed).
        """
        items = self._items
        order = list(range(len(items)))
        if not keys:
            return self._new(items)
        if reverse:
            order.reverse()
        for key in reversed(keys):
            col = [key(i) for i in items] if callable(key) else self._lookup(key, items)
            present = [i for i in order if col[i] is not MISSING and col[i] is not None]
            absent = [i for i in order if col[i] is MISSING or col[i] is None]
            try:
                present.sort(key=lambda i, c=col: _sort_key(c[i]), reverse=reverse)  # type: ignore[misc]
            except TypeError as exc:
                msg = f"cannot sort by {key!r}: {exc}"
                raise TypeError(msg) from None
            order = present + absent
        return self._new([items[i] for i in order])

    def group_by(self, *by: str) -> GroupBy[Self, I]:
        """Group items by the values of one or more keys (an item missing a key is grouped under None).

        The group key is the value for one key and a tuple of values for several; lists become tuples.
        Groups keep the order of first appearance.
        """
        if not by:
            msg = "group_by needs at least one key"
            raise ValueError(msg)
        items = self._items
        cols = [[None if v is MISSING else to_hashable(v) for v in self._lookup(k, items)] for k in by]
        groups: dict[Hashable, list[I]] = {}
        keys: Iterable[Hashable] = cols[0] if len(by) == 1 else zip(*cols, strict=True)
        for item, g in zip(items, keys, strict=True):
            groups.setdefault(g, []).append(item)
        return GroupBy(by, {k: self._new(v) for k, v in groups.items()})

    def sample(self, k: int, seed: int | random.Random | None = None) -> Self:
        """``k`` distinct items drawn at random (the global random state is not touched).

        Args:
            k: How many items.
            seed: An int for reproducible draws, a :class:`random.Random` to draw from, or None.

        Raises:
            ValueError: ``k`` is negative or larger than the collection.
        """
        if not 0 <= k <= len(self._items):
            msg = f"sample size {k} must be between 0 and {len(self._items)}"
            raise ValueError(msg)
        rng = seed if isinstance(seed, random.Random) else random.Random(seed)  # noqa: S311 - not crypto
        return self._new(rng.sample(self._items, k))

    def shuffle(self, seed: int | random.Random | None = None) -> Self:
        """The items in random order (see :meth:`sample` for ``seed``)."""
        return self.sample(len(self._items), seed)

    # ------------------------------------------------------------------ frames

    def to_arrow(
        self,
        *keys: str | tuple[str, Any],
        defaults: Mapping[str, Any] | None = None,
        **computed: Callable[[I], Any],
    ) -> pa.Table:
        """A :class:`pyarrow.Table` with one row per item.

        Args:
            keys: Column keys, or ``(key, default)`` pairs. None: ``run_id`` and every config key (flattened)
                for a :class:`~hydraflow.analysis.RunCollection`; no column for another collection.
            defaults: Defaults by key; a callable default is called with the item.
            computed: Extra columns: name -> function of the item.

        A key an item does not have becomes null (or its default). Lists become list columns, dicts struct
        columns; values that do not fit one Arrow type (e.g. numbers mixed with strings) become strings.
        """
        import pyarrow as pa

        from hydraflow.analysis.frame import column

        cols = {name: column(values) for name, values in self._columns(keys, defaults, computed).items()}
        return pa.table(cols) if cols else pa.table({}).slice(0, 0)

    def _columns(
        self,
        keys: tuple[str | tuple[str, Any], ...],
        defaults: Mapping[str, Any] | None,
        computed: Mapping[str, Callable[[I], Any]],
    ) -> dict[str, list[Any]]:
        """The values of the columns of :meth:`to_arrow`, by column name."""
        defaults = dict(defaults or {})
        names: list[str] = []
        for k in keys or (() if computed else tuple(self._default_keys())):
            if isinstance(k, tuple):
                name, default = k
                defaults[name] = default
            else:
                name = k
            names.append(name)
        cols = {name: self._values(name, defaults.get(name)) for name in names}
        for name, fn in computed.items():
            cols[name] = [fn(item) for item in self._items]
        return cols

    def to_frame(
        self,
        *keys: str | tuple[str, Any],
        defaults: Mapping[str, Any] | None = None,
        backend: Backend = "polars",
        **computed: Callable[[I], Any],
    ) -> Any:
        """:meth:`to_arrow` as a polars DataFrame (as in HydraFlow), or ``backend="arrow"`` / ``"pandas"``.

        In a polars DataFrame, a column of objects Arrow cannot hold (``"run"``, ``"cfg"``, ``"impl"``)
        is an ``Object`` column of the objects themselves; the other backends hold their text.
        """
        from hydraflow.analysis.frame import convert, polars_frame

        if backend == "polars":
            return polars_frame(self._columns(keys, defaults, computed))
        return convert(self.to_arrow(*keys, defaults=defaults, **computed), backend)

    def to_pandas(
        self,
        *keys: str | tuple[str, Any],
        defaults: Mapping[str, Any] | None = None,
        **computed: Callable[[I], Any],
    ) -> pd.DataFrame:
        """:meth:`to_arrow` as a pandas DataFrame (nulls in integer columns give nullable ``Int64``)."""
        return cast("pd.DataFrame", self.to_frame(*keys, defaults=defaults, backend="pandas", **computed))

    def to_polars(
        self,
        *keys: str | tuple[str, Any],
        defaults: Mapping[str, Any] | None = None,
        **computed: Callable[[I], Any],
    ) -> pl.DataFrame:
        """:meth:`to_arrow` as a polars DataFrame (same as :meth:`to_frame`)."""
        return cast("pl.DataFrame", self.to_frame(*keys, defaults=defaults, backend="polars", **computed))

    # ------------------------------------------------------------------ predicates for filter

    def _pair(self, left: str, right: str, default: Any) -> Callable[[I], tuple[Any, Any]]:
        get = self._get
        return lambda i: (get(i, left, default), get(i, right, default))

    def eq(self, left: str, right: str, *, default: Any = MISSING) -> Callable[[I], bool]:
        """A filter predicate: the values of two keys are equal (``c.filter(c.eq("a", "b"))``)."""
        pair = self._pair(left, right, default)
        return lambda i: bool(operator_eq(*pair(i)))

    def ne(self, left: str, right: str, *, default: Any = MISSING) -> Callable[[I], bool]:
        """A filter predicate: the values of two keys differ."""
        pair = self._pair(left, right, default)
        return lambda i: not operator_eq(*pair(i))

    def gt(self, left: str, right: str, *, default: Any = MISSING) -> Callable[[I], bool]:
        """A filter predicate: the value of ``left`` is greater than that of ``right``."""
        pair = self._pair(left, right, default)
        return lambda i: bool(_apply(pair(i), lambda a, b: a > b))

    def lt(self, left: str, right: str, *, default: Any = MISSING) -> Callable[[I], bool]:
        """A filter predicate: the value of ``left`` is less than that of ``right``."""
        pair = self._pair(left, right, default)
        return lambda i: bool(_apply(pair(i), lambda a, b: a < b))

    def ge(self, left: str, right: str, *, default: Any = MISSING) -> Callable[[I], bool]:
        """A filter predicate: the value of ``left`` is greater than or equal to that of ``right``."""
        pair = self._pair(left, right, default)
        return lambda i: bool(_apply(pair(i), lambda a, b: a >= b))

    def le(self, left: str, right: str, *, default: Any = MISSING) -> Callable[[I], bool]:
        """A filter predicate: the value of ``left`` is less than or equal to that of ``right``."""
        pair = self._pair(left, right, default)
        return lambda i: bool(_apply(pair(i), lambda a, b: a <= b))

    def startswith(self, key: str, prefix: str, *, default: Any = MISSING) -> Callable[[I], bool]:
        """A filter predicate: the value of ``key``, as text, starts with ``prefix``."""
        get = self._get
        return lambda i: str(get(i, key, default)).startswith(prefix)

    def endswith(self, key: str, suffix: str, *, default: Any = MISSING) -> Callable[[I], bool]:
        """A filter predicate: the value of ``key``, as text, ends with ``suffix``."""
        get = self._get
        return lambda i: str(get(i, key, default)).endswith(suffix)

    def match(
        self, key: str, pattern: str | re.Pattern[str], *, default: Any = MISSING, flags: int = 0
    ) -> Callable[[I], bool]:
        """A filter predicate: the value of ``key``, as text, matches a regular expression (re.match)."""
        get = self._get
        return lambda i: re.match(pattern, str(get(i, key, default)), flags) is not None


def config_keys(runs: Iterable[Any]) -> list[str]:
    """Every flattened config key of the runs (``run.config``), in order of first appearance.

    >>> class R:
    ...     config = {"a": {"b": 1}, "c": 2}
    >>> config_keys([R()])
    ['a.b', 'c']
    """
    keys: dict[str, None] = {}
    for run in runs:
        keys.update(dict.fromkeys(flatten_dict(run.config)))
    return list(keys)


def operator_eq(a: Any, b: Any) -> bool:
    """``a == b`` as a bool (NumPy/polars comparisons give arrays: all elements must be equal).

    >>> operator_eq([1, 2], [1, 2]), operator_eq(1, 2)
    (True, False)
    """
    result = a == b
    return bool(result.all()) if hasattr(result, "all") else bool(result)


def _apply(pair: tuple[Any, Any], op: Callable[[Any, Any], Any]) -> Any:
    return op(*pair)


class GroupBy(Mapping[Hashable, C], Generic[C, I]):
    """Result of :meth:`Collection.group_by`: group key -> collection of the group (first-seen order).

    Attributes:
        by: The keys the items were grouped by.
        groups: Group key -> collection (a value for one key, a tuple of values for several).
    """

    def __init__(self, by: tuple[str, ...], groups: dict[Hashable, C]) -> None:
        """Hold the groups (made by :meth:`Collection.group_by`)."""
        self.by = by
        self.groups = groups

    def __getitem__(self, key: Hashable) -> C:
        """The items of one group."""
        return self.groups[key]

    def __iter__(self) -> Iterator[Hashable]:
        """The group keys."""
        return iter(self.groups)

    def __len__(self) -> int:
        """Number of groups."""
        return len(self.groups)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is a group key."""
        return key in self.groups

    def __repr__(self) -> str:
        """``GroupBy(by=..., <n> groups)``."""
        return f"GroupBy(by={self.by!r}, {len(self.groups)} groups)"

    def agg(self, *keys: str, backend: Backend = "polars", **aggs: Callable[[C], Any]) -> Any:
        """One row per group: the group-by keys, then ``keys`` (lists of the group's values), then ``aggs``.

        Args:
            keys: Keys whose values are collected per group (a list column; None where an item has none).
            backend: ``"polars"`` (default, a polars DataFrame as in HydraFlow), ``"arrow"`` or ``"pandas"``.
            aggs: Column name -> function of the group's collection (``n=len``,
                ``loss=lambda g: mean(g.to_list("metrics.loss"))``).
        """
        import pyarrow as pa

        from hydraflow.analysis.frame import column, convert

        group_keys = list(self.groups)
        cols: dict[str, pa.Array] = {}
        for i, name in enumerate(self.by):
            vals = [k if len(self.by) == 1 else k[i] for k in group_keys]  # type: ignore[index]
            cols[name] = column([list(v) if isinstance(v, tuple) else v for v in vals])
        for key in keys:
            cols[key] = column([g._values(key, None) for g in self.groups.values()])  # noqa: SLF001
        for name, fn in aggs.items():
            cols[name] = column([fn(g) for g in self.groups.values()])
        return convert(pa.table(cols), backend)
