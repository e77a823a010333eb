"""Filter criteria: whether a value matches a criterion (:func:`matches`), and fast tests for many values."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

from hydraflow.analysis.values import as_plain

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["matcher", "matches"]

_SCALARS = (int, float, str, bool, type(None))


def _plain_value(value: Any) -> Any:
    value = as_plain(value)
    return list(value) if isinstance(value, tuple) else value


def matches(value: Any, criterion: Any) -> bool:
    """Whether a value matches a filter criterion.

    - a callable: ``criterion(value)`` is true;
    - a list or set: the value is one of its items (a list value must equal a list criterion's items, or
      be one of them when the criterion is a list of lists);
    - a tuple of two: ``lo <= value <= hi`` (inclusive; None on either side means unbounded);
    - anything else: equality.

    OmegaConf lists and NumPy arrays count as lists, and a tuple value as a list.

    >>> matches(3, [1, 3]), matches(3, (1, 3)), matches(3, lambda v: v > 2), matches([1, 2], [1, 2])
    (True, True, True, True)
    >>> matches((1, 2), [1, 2]), matches(5, (None, 4))
    (True, False)
    """
    if callable(criterion):
        return bool(criterion(value))
    criterion = as_plain(criterion)
    value = _plain_value(value)
    if isinstance(value, Enum) and not isinstance(criterion, Enum):  # typed config: Color.RED matches "RED"
        return _plain_match(value.name, criterion) or _plain_match(value, criterion)
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


def matcher(criterion: Any) -> Callable[[Any], bool]:
    """A one-argument test equivalent to ``matches(value, criterion)``, faster for the common cases.

    >>> test = matcher(["a", "b"])
    >>> test("a"), test("c"), test(["a", "b"])
    (True, False, True)
    """
    if callable(criterion) or isinstance(criterion, tuple):
        return lambda v: matches(v, criterion)
    criterion = as_plain(criterion)
    if isinstance(criterion, (list, set, frozenset)):
        try:
            members = frozenset(criterion)
        except TypeError:  # unhashable items (lists of lists)
            return lambda v: matches(v, criterion)

        def member(v: Any) -> bool:
            if type(v) not in _SCALARS:
                return matches(v, criterion)
            return v in members

        return member

    def equal(v: Any) -> bool:
        if type(v) in _SCALARS:
            return bool(v == criterion)
        return matches(v, criterion)

    return equal
