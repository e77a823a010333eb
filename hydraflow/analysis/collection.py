"""RunCollection: filter, sort, group and tabulate many runs.

This module does not import :mod:`hydraflow.analysis.run` (which imports it for ``Run.load``): what a
collection needs of its runs is the :class:`RunLike` protocol, which :class:`~hydraflow.analysis.Run` meets.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar, cast, overload

from hydraflow.analysis._errors import MultipleRunsFoundError, NoRunFoundError
from hydraflow.analysis.values import MISSING, flatten_dict, lookup_plain, to_hashable

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

__all__ = [
    "Backend",
    "Criterion",
    "GroupBy",
    "RunCollection",
    "RunLike",
    "config_keys",
    "matches",
    "to_hashable",
]


class RunLike(Protocol):
    """What a :class:`RunCollection` uses of its runs (:class:`~hydraflow.analysis.Run` has all of it)."""

    _config: dict[str, Any] | None  # the parsed config, read directly on the hot paths
    cfg_type: type | None

    @property
    def run_id(self) -> str:
        """The run id."""
        ...

    @property
    def config(self) -> dict[str, Any]:
        """The parsed config."""
        ...

    def lookup(self, key: str) -> Any:
        """The value of ``key``, or MISSING."""
        ...

    def get(self, key: str, default: Any = ...) -> Any:
        """The value of ``key``, else ``default``."""
        ...

    def typed_value(self, key: str, value: Any) -> Any:
        """``value`` at ``key`` as the run's config type types it."""
        ...


R = TypeVar("R", bound=RunLike)
Backend = Literal["arrow", "pandas", "polars"]
Criterion = Callable[[Any], bool] | tuple[str, Any] | Mapping[str, Any]


def matches(value: Any, criterion: Any) -> bool:
    """Whether a value matches a filter criterion.

    - a callable: ``criterion(value)`` is true;
    - a list or set: the value is one of its items (a list value must equal a list criterion's items, or
      be one of them when the criterion is a list of lists);
    - a tuple of two: ``lo <= value <= hi`` (inclusive; None on either side means unbounded);
    - anything else: equality.

    >>> matches(3, [1, 3]), matches(3, (1, 3)), matches(3, lambda v: v > 2), matches([1, 2], [1, 2])
    (True, True, True, True)
    """
    if callable(criterion):
        return bool(criterion(value))
    if isinstance(value, Enum) and not isinstance(criterion, Enum):  # typed config: Color.RED matches "RED"
        return matches(value.name, criterion) or _plain_match(value, criterion)
    return _plain_match(value, criterion)


def _plain_match(value: Any, criterion: Any) -> bool:  # noqa: PLR0911
    if isinstance(criterion, (list, set, frozenset)):
        if isinstance(value, list):
            if value == list(criterion):
                return True
            return any(isinstance(c, list) and c == value for c in criterion)
        try:
            return value in criterion
        except TypeError:  # unhashable value tested against a set
            return False
    if isinstance(criterion, tuple) and len(criterion) == 2 and not isinstance(value, (list, tuple)):  # noqa: PLR2004
        lo, hi = criterion
        if value is None:
            return False
        try:
            return (lo is None or lo <= value) and (hi is None or value <= hi)
        except TypeError:
            return False
    if isinstance(criterion, tuple) and isinstance(value, list):
        return list(criterion) == value
    return bool(value == criterion)


class RunCollection(Sequence[R], Generic[R]):
    """An ordered, immutable collection of runs (a :class:`~collections.abc.Sequence`).

    Every selecting method returns a new collection. Keys are dotted (``"model.lr"``, ``"metrics.loss"``;
    ``model__lr`` in keyword form) and are looked up like :meth:`Run.get`: config, then impl, then info.
    """

    def __init__(self, runs: Iterable[R] = ()) -> None:
        """Collect runs (usually made by :meth:`Run.load`)."""
        self._runs: list[R] = list(runs)

    # ------------------------------------------------------------------ sequence protocol

    def __len__(self) -> int:
        """Number of runs."""
        return len(self._runs)

    def __iter__(self) -> Iterator[R]:
        """Iterate over the runs."""
        return iter(self._runs)

    @overload
    def __getitem__(self, index: int) -> R: ...
    @overload
    def __getitem__(self, index: slice) -> RunCollection[R]: ...

    def __getitem__(self, index: int | slice) -> R | RunCollection[R]:
        """A run by position, or a sub-collection by slice."""
        if isinstance(index, slice):
            return RunCollection(self._runs[index])
        return self._runs[index]

    def __add__(self, other: RunCollection[R]) -> RunCollection[R]:
        """Concatenate two collections."""
        if not isinstance(other, RunCollection):
            return NotImplemented
        return RunCollection([*self._runs, *other._runs])

    def __bool__(self) -> bool:
        """True if there is at least one run."""
        return bool(self._runs)

    def __repr__(self) -> str:
        """``RunCollection(<n> runs)``."""
        return f"RunCollection({len(self._runs)} runs)"

    # ------------------------------------------------------------------ values

    def values(self, key: str, default: Any = MISSING) -> list[Any]:
        """The value of ``key`` for every run (see :meth:`Run.get`)."""
        return _values(self._runs, key, default)

    def map(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
        """Lazily apply ``function(run, *args, **kwargs)`` to every run."""
        return (function(run, *args, **kwargs) for run in self._runs)

    def unique(self, key: str, default: Any = MISSING) -> list[Any]:
        """The distinct values of ``key``, in order of first appearance (lists and dicts compare by value)."""
        seen: set[Hashable] = set()
        out: list[Any] = []
        for v in self.values(key, default):
            h = to_hashable(v)
            if h not in seen:
                seen.add(h)
                out.append(v)
        return out

    def n_unique(self, key: str, default: Any = MISSING) -> int:
        """The number of distinct values of ``key``."""
        return len(self.unique(key, default))

    # ------------------------------------------------------------------ selection

    def _mask(self, criteria: tuple[Any, ...], kwargs: Mapping[str, Any]) -> list[bool]:
        """Which runs match all criteria (column by column: one key at a time over the remaining runs)."""
        tests: list[Callable[[R], bool]] = []
        pairs: list[tuple[str, Any]] = []
        for c in criteria:
            if isinstance(c, tuple) and len(c) == 2 and isinstance(c[0], str):  # noqa: PLR2004
                pairs.append(c)
            elif isinstance(c, Mapping):
                pairs.extend(c.items())
            elif callable(c):
                tests.append(c)
            else:
                msg = f"a filter criterion must be a callable, a (key, value) tuple or a mapping, not {c!r}"
                raise TypeError(msg)
        pairs.extend(kwargs.items())
        runs = self._runs
        alive = list(range(len(runs)))
        for key, crit in pairs:
            test = _matcher(crit)
            col = _column([runs[i] for i in alive], key)
            alive = [i for i, v in zip(alive, col, strict=True) if v is not MISSING and test(v)]
        for t in tests:
            alive = [i for i in alive if t(runs[i])]
        mask = [False] * len(runs)
        for i in alive:
            mask[i] = True
        return mask

    def filter(self, *criteria: Criterion, **kwargs: Any) -> RunCollection[R]:
        """The runs matching every criterion.

        Criteria: a callable taking a run; a ``(key, value)`` tuple; a mapping of keys to values; or keyword
        arguments (``model__lr=0.1`` for ``"model.lr"``). Values match as in :func:`matches`: a list means
        "any of", a 2-tuple an inclusive range, a callable a predicate on the value, anything else equality.

        A run that does not have a key does not match a criterion on that key (so :meth:`exclude` keeps it).
        """
        mask = self._mask(criteria, kwargs)
        return RunCollection([r for r, m in zip(self._runs, mask, strict=True) if m])

    def exclude(self, *criteria: Criterion, **kwargs: Any) -> RunCollection[R]:
        """The runs :meth:`filter` would drop (same criteria)."""
        mask = self._mask(criteria, kwargs)
        return RunCollection([r for r, m in zip(self._runs, mask, strict=True) if not m])

    def _describe(self, criteria: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
        parts = [repr(c) for c in criteria] + [f"{k}={v!r}" for k, v in kwargs.items()]
        return ", ".join(parts) or "no criteria"

    def try_get(self, *criteria: Criterion, **kwargs: Any) -> R | None:
        """The single run matching the criteria, or None if no run matches.

        Raises:
            MultipleRunsFoundError: Several runs match.
        """
        found = self.filter(*criteria, **kwargs)
        if len(found) > 1:
            ids = ", ".join(r.run_id for r in found[:5]) + (" ..." if len(found) > 5 else "")  # noqa: PLR2004
            msg = f"{len(found)} runs match {self._describe(criteria, kwargs)} (expected one): {ids}"
            raise MultipleRunsFoundError(msg)
        return found[0] if found else None

    def get(self, *criteria: Criterion, **kwargs: Any) -> R:
        """The single run matching the criteria.

        Raises:
            NoRunFoundError: No run matches.
            MultipleRunsFoundError: Several runs match.
        """
        run = self.try_get(*criteria, **kwargs)
        if run is None:
            msg = f"no run matches {self._describe(criteria, kwargs)} (among {len(self)} runs)"
            raise NoRunFoundError(msg)
        return run

    def first(self, *criteria: Criterion, **kwargs: Any) -> R:
        """The first run (matching the criteria, if given).

        Raises:
            NoRunFoundError: No run matches.
        """
        return self._matching(criteria, kwargs)[0]

    def last(self, *criteria: Criterion, **kwargs: Any) -> R:
        """The last run (matching the criteria, if given).

        Raises:
            NoRunFoundError: No run matches.
        """
        return self._matching(criteria, kwargs)[-1]

    def _matching(self, criteria: tuple[Criterion, ...], kwargs: dict[str, Any]) -> RunCollection[R]:
        """The runs matching the criteria (all runs without any); NoRunFoundError when there are none."""
        found = self.filter(*criteria, **kwargs) if criteria or kwargs else self
        if not found:
            msg = f"no run matches {self._describe(criteria, kwargs)} (among {len(self)} runs)"
            raise NoRunFoundError(msg)
        return found

    def sort(self, *keys: str | Callable[[R], Any], reverse: bool = False) -> RunCollection[R]:
        """Sorted by the keys (stable). Runs missing a key (or with None) go last, also with ``reverse``.

        Raises:
            TypeError: Values of one key cannot be compared (e.g. numbers and strings mixed).
        """
        if not keys:
            return RunCollection(self._runs)

        def value(run: R, key: str | Callable[[R], Any]) -> Any:
            return key(run) if callable(key) else run.get(key, None)

        runs = list(self._runs)
        for key in reversed(keys):
            present = [r for r in runs if value(r, key) is not None]
            absent = [r for r in runs if value(r, key) is None]
            try:
                present.sort(key=lambda r, k=key: value(r, k), reverse=reverse)  # type: ignore[misc]
            except TypeError as exc:
                msg = f"cannot sort by {key!r}: {exc}"
                raise TypeError(msg) from None
            runs = present + absent
        return RunCollection(runs)

    def group_by(self, *keys: str) -> GroupBy[R]:
        """Group runs by the values of one or more keys (a run missing a key is grouped under None).

        The group key is the value for one key and a tuple of values for several; lists become tuples.
        """
        if not keys:
            msg = "group_by needs at least one key"
            raise ValueError(msg)
        groups: dict[Hashable, list[R]] = {}
        cols = [[None if v is MISSING else to_hashable(v) for v in _column(self._runs, k)] for k in keys]
        if len(keys) == 1:
            for run, g in zip(self._runs, cols[0], strict=True):
                groups.setdefault(g, []).append(run)
        else:
            for run, g in zip(self._runs, zip(*cols, strict=True), strict=True):
                groups.setdefault(g, []).append(run)
        return GroupBy(keys, {k: RunCollection(v) for k, v in groups.items()})

    def sample(self, k: int, seed: int | random.Random | None = None) -> RunCollection[R]:
        """``k`` distinct runs drawn at random (the global random state is not touched).

        Args:
            k: How many runs.
            seed: An int for reproducible draws, a :class:`random.Random` to draw from, or None.

        Raises:
            ValueError: ``k`` is negative or larger than the collection.
        """
        if not 0 <= k <= len(self._runs):
            msg = f"sample size {k} must be between 0 and {len(self._runs)}"
            raise ValueError(msg)
        rng = seed if isinstance(seed, random.Random) else random.Random(seed)  # noqa: S311 - not crypto
        return RunCollection(rng.sample(self._runs, k))

    def shuffle(self, seed: int | random.Random | None = None) -> RunCollection[R]:
        """The runs in random order (see :meth:`sample` for ``seed``)."""
        return self.sample(len(self._runs), seed)

    # ------------------------------------------------------------------ frames

    def _default_keys(self) -> list[str]:
        return ["run_id", *(k for k in config_keys(self._runs) if k != "run_id")]

    def to_arrow(
        self,
        *keys: str | tuple[str, Any],
        defaults: Mapping[str, Any] | None = None,
        **computed: Callable[[R], Any],
    ) -> pa.Table:
        """A :class:`pyarrow.Table` with one row per run.

        Args:
            keys: Column keys (see :meth:`Run.get`), or ``(key, default)`` pairs. None: ``run_id`` and every
                config key (flattened).
            defaults: Defaults by key; a callable default is called with the run.
            computed: Extra columns: name -> function of the run.

        A key a run does not have becomes null (or its default). Lists become list columns, dicts struct
        columns; values that do not fit one Arrow type (e.g. numbers mixed with strings) become strings.
        """
        import pyarrow as pa

        from hydraflow.analysis.frame import column

        defaults = dict(defaults or {})
        names: list[str] = []
        for k in keys or (() if computed else tuple(self._default_keys())):
            if isinstance(k, tuple):
                name, default = k
                defaults[name] = default
            else:
                name = k
            names.append(name)
        cols: dict[str, pa.Array] = {}
        for name in names:
            cols[name] = column(_values(self._runs, name, defaults.get(name)))
        for name, fn in computed.items():
            cols[name] = column([fn(run) for run in self._runs])
        return pa.table(cols) if cols else pa.table({}).slice(0, 0)

    def to_frame(
        self,
        *keys: str | tuple[str, Any],
        defaults: Mapping[str, Any] | None = None,
        backend: Backend = "arrow",
        **computed: Callable[[R], Any],
    ) -> Any:
        """Like :meth:`to_arrow`, as an Arrow table (default) or a pandas / polars DataFrame (``backend``)."""
        from hydraflow.analysis.frame import convert

        return convert(self.to_arrow(*keys, defaults=defaults, **computed), backend)

    def to_pandas(
        self,
        *keys: str | tuple[str, Any],
        defaults: Mapping[str, Any] | None = None,
        **computed: Callable[[R], Any],
    ) -> pd.DataFrame:
        """:meth:`to_arrow` as a pandas DataFrame (nulls in integer columns give nullable ``Int64``)."""
        return cast("pd.DataFrame", self.to_frame(*keys, defaults=defaults, backend="pandas", **computed))

    def to_polars(
        self,
        *keys: str | tuple[str, Any],
        defaults: Mapping[str, Any] | None = None,
        **computed: Callable[[R], Any],
    ) -> pl.DataFrame:
        """:meth:`to_arrow` as a polars DataFrame."""
        return cast("pl.DataFrame", self.to_frame(*keys, defaults=defaults, backend="polars", **computed))


def config_keys(runs: Iterable[RunLike]) -> list[str]:
    """Every flattened config key of the runs (``"model.lr"``), in order of first appearance."""
    keys: dict[str, None] = {}
    for run in runs:
        keys.update(dict.fromkeys(flatten_dict(run.config)))
    return list(keys)


def _column(runs: list[R], key: str) -> list[Any]:
    """``[run.lookup(key) for run in runs]``, walking the raw configs directly where possible."""
    parts = key.replace("__", ".").split(".")
    out: list[Any] = []
    append = out.append
    for run in runs:
        cfg = run._config  # noqa: SLF001 - the fast path of this module's own Run
        value = MISSING if cfg is None else lookup_plain(cfg, parts)
        if value is MISSING or isinstance(value, (dict, list)) or (isinstance(value, str) and "${" in value):
            value = run.lookup(key)  # missing (maybe in impl/info), a container or an interpolation
        elif run.cfg_type is not None:
            value = run.typed_value(key, value)
        append(value)
    return out


def _values(runs: list[R], key: str, default: Any) -> list[Any]:
    """``[run.get(key, default) for run in runs]`` (KeyError naming the run when missing without default)."""
    col = _column(runs, key)
    return [run.get(key, default) if v is MISSING else v for run, v in zip(runs, col, strict=True)]


def _matcher(criterion: Any) -> Callable[[Any], bool]:
    """A one-argument test equivalent to ``matches(value, criterion)``, faster for the common cases."""
    if callable(criterion) or isinstance(criterion, tuple):
        return lambda v: matches(v, criterion)
    if isinstance(criterion, (list, set, frozenset)):
        try:
            members = frozenset(criterion)
        except TypeError:  # unhashable items (lists of lists)
            return lambda v: matches(v, criterion)

        def member(v: Any) -> bool:
            if isinstance(v, (list, Enum)):
                return matches(v, criterion)
            try:
                return v in members
            except TypeError:
                return matches(v, criterion)

        return member

    def equal(v: Any) -> bool:
        return (v == criterion and not isinstance(v, list)) or (isinstance(v, Enum) and matches(v, criterion))

    return equal


class GroupBy(Mapping[Hashable, RunCollection[R]]):
    """Result of :meth:`RunCollection.group_by`: group key -> :class:`RunCollection` (first-seen order)."""

    def __init__(self, by: tuple[str, ...], groups: dict[Hashable, RunCollection[R]]) -> None:
        """Hold the groups (made by :meth:`RunCollection.group_by`)."""
        self.by = by
        self.groups = groups

    def __getitem__(self, key: Hashable) -> RunCollection[R]:
        """The runs of one group."""
        return self.groups[key]

    def __iter__(self) -> Iterator[Hashable]:
        """The group keys."""
        return iter(self.groups)

    def __len__(self) -> int:
        """Number of groups."""
        return len(self.groups)

    def __repr__(self) -> str:
        """``GroupBy(by=..., <n> groups)``."""
        return f"GroupBy(by={self.by!r}, {len(self.groups)} groups)"

    def agg(self, *keys: str, backend: Backend = "arrow", **aggs: Callable[[RunCollection[R]], Any]) -> Any:
        """One row per group: the group-by keys, then ``keys`` (lists of the group's values), then ``aggs``.

        Args:
            keys: Keys whose values are collected per group (a list column).
            backend: ``"arrow"`` (default), ``"pandas"`` or ``"polars"``.
            aggs: Column name -> function of the group's :class:`RunCollection` (``n=len``,
                ``loss=lambda g: mean(g.values("metrics.loss"))``).
        """
        import pyarrow as pa

        from hydraflow.analysis.frame import column, convert

        group_keys = list(self.groups)
        cols: dict[str, pa.Array] = {}
        for i, name in enumerate(self.by):
            vals = [k if len(self.by) == 1 else k[i] for k in group_keys]  # type: ignore[index]
            cols[name] = column([list(v) if isinstance(v, tuple) else v for v in vals])
        for key in keys:
            cols[key] = column([g.values(key, None) for g in self.groups.values()])
        for name, fn in aggs.items():
            cols[name] = column([fn(g) for g in self.groups.values()])
        return convert(pa.table(cols), backend)
