"""Hydra's ``range()``, computed lazily with exactly Hydra's values, without Hydra.

Hydra's ``range(start, stop, step)`` excludes ``stop``; with integer arguments it is Python's ``range``; with
any float argument Hydra adds ``Decimal(step)`` to ``Decimal(start)`` in the default 28-digit decimal context
and prints ``str(float(value))``. Hydra builds the whole list before a sweep starts (1.5 GB for 10^7 values);
here a range is a lazy sequence whose count is known at once, as long as every value is exact in 28 digits
(integers, and steps like ``0.5``). A float range whose additions round (``range(0, 1, 0.1)``) is computed one
value at a time, as Hydra does, up to :data:`~hydraflow.sweep.limits.ENUMERATE_LIMIT` values.

Only a call written with plain number arguments (positional, or named ``start``/``stop``/``step``) is
recognised; any other form goes to Hydra, which reports its own errors.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Context, Decimal
from fractions import Fraction

from hydraflow.sweep.decimals import NumberOutOfRange, parse_number, shorten
from hydraflow.sweep.limits import ENUMERATE_LIMIT
from hydraflow.sweep.seq import Items, NumRange, Progression, Seq, progression_extremes

_DIGITS = r"[0-9](?:_?[0-9])*"
_UINT = r"(?:0|[1-9](?:_?[0-9])*)"
_POINT_FLOAT = rf"(?:{_UINT}\.|{_UINT}?\.{_DIGITS})"
_INT_RE = re.compile(rf"[+-]?{_UINT}")
_FLOAT_RE = re.compile(rf"[+-]?(?:{_POINT_FLOAT}|(?:{_UINT}|{_POINT_FLOAT})[eE][+-]?{_DIGITS})")
_SPECIAL_RE = re.compile(r"[+-]?(?:[Ii][Nn][Ff]|[Nn][Aa][Nn])")
_CALL_RE = re.compile(r"[ \t]*range[ \t]*\(([^()\[\]{}'\"$\\]*)\)[ \t]*")
_NESTED_RE = re.compile(r"(?<![A-Za-z0-9_])range[ \t]*\(([^()]*)\)")
_NAMED_RE = re.compile(r"(start|stop|step)[ \t]*=[ \t]*(.*)", re.DOTALL)
_HYDRA_CONTEXT = Context(prec=28)
"""The decimal context Hydra's ``FloatRange`` adds in (the default context)."""
_WIDE = Context(prec=2000)
"""Exact for any sum of two finite floats' decimal expansions within the limits."""
_EXACT_DIGITS = 28


class RangeError(ValueError):
    """A ``range()`` refused: ``offset`` is the position of the problem in the call's text."""

    def __init__(self, message: str, offset: int = 0) -> None:
        """Keep the message and where the problem is."""
        super().__init__(message)
        self.message = message
        self.offset = offset


Number = int | float


@dataclass(frozen=True)
class RangeCall:
    """The arguments of a recognised ``range()``, as Hydra's grammar reads them (``int`` or ``float``)."""

    start: Number
    stop: Number
    step: Number

    @property
    def integral(self) -> bool:
        """All three are integers: Python's ``range``."""
        return all(isinstance(v, int) for v in (self.start, self.stop, self.step))


def _literal(text: str, offset: int) -> Number | None:
    """A Hydra int or float literal as Hydra reads it; ``None`` if ``text`` is none (Hydra decides)."""
    if _SPECIAL_RE.fullmatch(text):
        msg = f"range() needs finite numbers, got {text!r} (Hydra would count forever)"
        raise RangeError(msg, offset)
    is_int = _INT_RE.fullmatch(text) is not None
    if not is_int and _FLOAT_RE.fullmatch(text) is None:
        return None
    try:
        parse_number(text.replace("_", ""))
    except NumberOutOfRange as exc:
        raise RangeError(str(exc), offset) from None
    return int(text) if is_int else float(text)


def parse_range_call(text: str) -> RangeCall | None:
    """The arguments of ``text`` if it is exactly a ``range()`` call with number arguments, else ``None``.

    >>> parse_range_call("range(1, 10, 2)")
    RangeCall(start=1, stop=10, step=2)
    >>> parse_range_call("range(1e3)"), parse_range_call("range(start=1, stop=3)")
    (RangeCall(start=0, stop=1000.0, step=1), RangeCall(start=1, stop=3, step=1))
    >>> parse_range_call("range(x)") is None, parse_range_call("sort(range(3))") is None
    (True, True)

    Raises:
        RangeError: for an infinite or NaN argument, or a number beyond the grammar's limits.
    """
    m = _CALL_RE.fullmatch(text)
    if m is None:
        return None
    return _bind(m.group(1), m.start(1))


def _bind(args_text: str, base: int) -> RangeCall | None:
    names = ("start", "stop", "step")
    bound: dict[str, Number] = {}
    keyword_seen = False
    pos = 0
    pieces = args_text.split(",")
    if len(pieces) > len(names):
        return None
    for i, piece in enumerate(pieces):
        offset = base + pos + len(piece) - len(piece.lstrip(" \t"))
        pos += len(piece) + 1
        piece = piece.strip(" \t")  # noqa: PLW2901
        named = _NAMED_RE.fullmatch(piece)
        if named:
            keyword_seen = True
            offset += named.start(2)
            name, piece = named.group(1), named.group(2).strip(" \t")  # noqa: PLW2901
            if name in bound:
                return None
        elif keyword_seen:
            return None
        else:
            name = names[i]
        value = _literal(piece, offset)
        if value is None:
            return None
        bound[name] = value
    if "start" not in bound:
        return None
    if "stop" not in bound:
        bound["stop"], bound["start"] = bound["start"], 0
    return RangeCall(bound["start"], bound["stop"], bound.get("step", 1))


def estimated_size(call: RangeCall) -> int:
    """Number of values (exact unless float additions round, then within one)."""
    start, stop, step = (Fraction(Decimal(v)) for v in (call.start, call.stop, call.step))
    if step == 0:
        return 0
    return max(0, math.ceil((stop - start) / step))


class FloatRange(Progression):
    """A float ``range()`` whose values are all exact in 28 digits: ``str(float(start + i*step))``."""

    def value(self, index: int) -> Decimal:
        """``start + index*step`` without rounding."""
        return _WIDE.add(self.start, _WIDE.multiply(self.step, index))

    def following(self, value: Decimal) -> Decimal:
        """Hydra's own addition (exact here: see :func:`_exact_in_hydra_context`)."""
        return _HYDRA_CONTEXT.add(value, self.step)

    def text(self, value: Decimal) -> str:
        """As Hydra prints a float."""
        return str(float(value))

    def extremes(self) -> list[str]:
        """Texts of the values of largest and smallest non-zero magnitude."""
        return [str(float(v)) for v in progression_extremes(self.start, self.step, self.size)]


def _exact_in_hydra_context(start: Decimal, step: Decimal, size: int) -> bool:
    """Whether every sum Hydra forms (``start + i*step``, ``i <= size``) fits in 28 digits: no rounding."""
    exponents = [d.as_tuple().exponent for d in (start, step) if d]
    quantum = min((e for e in exponents if isinstance(e, int)), default=0)
    ends = [start, _WIDE.add(start, _WIDE.multiply(step, size))]
    top = max((d.adjusted() for d in ends if d), default=0)
    return top - quantum + 1 <= _EXACT_DIGITS


def range_values(call: RangeCall, text: str) -> Seq[str]:
    """The values of ``call`` as Hydra prints them, lazily when they are exact (see the module docstring).

    >>> list(range_values(RangeCall(1, 4, 1), "range(1,4)"))
    ['1', '2', '3']
    >>> list(range_values(RangeCall(0, 1.0, 0.25), "range(0,1.0,0.25)"))
    ['0.0', '0.25', '0.5', '0.75']
    >>> list(range_values(RangeCall(0, 0.3, 0.1), "range(0,0.3,0.1)"))
    ['0.0', '0.1', '0.2']
    >>> range_values(RangeCall(0, 10**12, 1), "range(0,10**12)").size
    1000000000000

    Raises:
        RangeError: zero step, no values, or a rounding float range of more than ``ENUMERATE_LIMIT`` values.
    """
    if call.step == 0:
        raise RangeError("range() step must not be zero (Hydra would count forever)")
    size = estimated_size(call)
    if size == 0:
        raise RangeError(f"{text.strip()!r} expands to no values")
    if call.integral:
        return NumRange(Decimal(call.start), Decimal(call.step), size)
    start, stop, step = (Decimal(v) for v in (call.start, call.stop, call.step))
    if _exact_in_hydra_context(start, step, size):
        return FloatRange(start, step, size)
    if size > ENUMERATE_LIMIT + 1:
        raise RangeError(
            f"{text.strip()!r} has about {size:,} values and a step that is not exact in Hydra's 28-digit "
            f"arithmetic, so its values can only be computed one by one (at most {ENUMERATE_LIMIT:,}); "
            "use start:stop:step instead (exact decimals, lazy, stop included)"
        )
    values: list[str] = []
    value = start
    while (value < stop) if step > 0 else (value > stop):
        values.append(str(float(value)))
        value = _HYDRA_CONTEXT.add(value, step)
    if not values:  # pragma: no cover - size > 0 means the first value is inside
        raise RangeError(f"{text.strip()!r} expands to no values")
    return Items(values)


def check_nested_ranges(text: str) -> None:
    """Refuse a ``range()`` in another Hydra function that Hydra would enumerate too long, or forever.

    Hydra turns ``sort(range(...))``, ``shuffle(range(...))`` ... into a list: at most ``ENUMERATE_LIMIT``.

    >>> check_nested_ranges("sort(range(1, 5), reverse=true)")
    >>> check_nested_ranges("shuffle(range(0, 1e9))")
    Traceback (most recent call last):
    ...
    hydraflow.sweep.hydra_range.RangeError: range(0, 1e9) has 1,000,000,000 values and Hydra builds ...
    """
    for m in _NESTED_RE.finditer(text):
        call = _bind(m.group(1), m.start(1))
        if call is None:
            continue
        if call.step == 0:
            raise RangeError("range() step must not be zero (Hydra would count forever)", m.start())
        size = estimated_size(call)
        if size > ENUMERATE_LIMIT:
            outer = text.split("(", 1)[0].strip()
            raise RangeError(
                f"{m.group(0)} has {size:,} values and Hydra builds the whole list for {outer}(): at most "
                f"{ENUMERATE_LIMIT:,}; sweep the range on its own (a=range(...) is lazy) or use fewer values",
                m.start(),
            )


__all__ = [
    "FloatRange",
    "RangeCall",
    "RangeError",
    "check_nested_ranges",
    "estimated_size",
    "parse_range_call",
    "range_values",
    "shorten",
]
