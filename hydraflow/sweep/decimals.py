"""Exact decimal numbers: parsing, SI prefixes and exponent suffixes, shortest exact formatting."""

from __future__ import annotations

import re
from decimal import Context, Decimal, Inexact, InvalidOperation, Rounded

# Enough digits for any value a sweep can reasonably hold; Inexact/Rounded are trapped, so a result that
# would need more digits raises instead of silently drifting.
_CONTEXT = Context(prec=400, Emax=999_999, Emin=-999_999, traps=[InvalidOperation, Inexact, Rounded])

MAX_EXPONENT = 300
"""Largest power of ten a sweep value may carry (doubles end near 1e308)."""
MAX_DIGITS = 100
"""Most significant digits a computed sweep value may carry (the arithmetic context holds 400)."""

SI_PREFIXES: dict[str, int] = {
    "f": -15,
    "p": -12,
    "n": -9,
    "u": -6,
    "m": -3,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
}
"""SI prefix letter -> power of ten."""

NUMBER_PATTERN = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NUMBER_RE = re.compile(NUMBER_PATTERN)
_EXPONENT_RE = re.compile(r"[eE][+-]?\d+")
_SUFFIXED_RE = re.compile(rf"({NUMBER_PATTERN})([fpnumkMGT]|[eE][+-]?\d+)?")


def is_number(text: str) -> bool:
    """Whether ``text`` is a plain decimal number (sign, digits, point, exponent).

    >>> is_number("1e-3"), is_number("-.5"), is_number("1k"), is_number("inf")
    (True, True, False, False)
    """
    return _NUMBER_RE.fullmatch(text) is not None


def parse_number(text: str) -> Decimal:
    """Parse a plain decimal number exactly.

    >>> parse_number("0.1") + parse_number("0.2") == parse_number("0.3")
    True

    Raises:
        ValueError: if ``text`` is not a plain number.
    """
    if not is_number(text):
        raise ValueError(f"not a number: {text!r}")
    return Decimal(text)


def suffix_exponent(suffix: str) -> int | None:
    """Power of ten of an SI prefix (``k``) or exponent form (``e-3``, ``E8``); ``None`` if neither.

    >>> [suffix_exponent(s) for s in ["k", "e-3", "E8", "K", "e999"]]
    [3, -3, 8, None, None]
    """
    if suffix in SI_PREFIXES:
        return SI_PREFIXES[suffix]
    if _EXPONENT_RE.fullmatch(suffix) and abs(int(suffix[1:])) <= MAX_EXPONENT:
        return int(suffix[1:])
    return None


def parse_suffixed(text: str) -> Decimal | None:
    """Parse a number with an optional SI prefix or exponent suffix; ``None`` if ``text`` is not one.

    >>> parse_suffixed("4k"), parse_suffixed("1e-1"), parse_suffixed("2e2"), parse_suffixed("cnn")
    (Decimal('4E+3'), Decimal('0.1'), Decimal('2E+2'), None)
    """
    m = _SUFFIXED_RE.fullmatch(text)
    if m is None:
        return None
    value = Decimal(m.group(1))
    if m.group(2):
        exponent = suffix_exponent(m.group(2))
        if exponent is None:  # pragma: no cover - the regex only admits known suffixes
            return None
        value = scale(value, exponent)
    return value


def scale(value: Decimal, exponent: int) -> Decimal:
    """``value * 10**exponent``, exactly."""
    return value.scaleb(exponent, _CONTEXT)


def add(a: Decimal, b: Decimal) -> Decimal:
    """Exact sum."""
    return _CONTEXT.add(a, b)


def sub(a: Decimal, b: Decimal) -> Decimal:
    """Exact difference."""
    return _CONTEXT.subtract(a, b)


def mul(a: Decimal, b: Decimal) -> Decimal:
    """Exact product."""
    return _CONTEXT.multiply(a, b)


def format_number(value: Decimal) -> str:
    """Shortest exact text of ``value``.

    Integers print as integers; other values as the shorter of positional and scientific notation
    (both parse back to the same number, and Hydra reads them as floats).

    >>> [format_number(Decimal(s)) for s in ["4E+3", "0.10", "-0", "1E-15", "1.5E-7", "0.001", "1000000.5"]]
    ['4000', '0.1', '0', '1e-15', '1.5e-7', '1e-3', '1000000.5']
    """
    if value == value.to_integral_value():
        return str(int(value))
    sign, digits, exponent = value.normalize(_CONTEXT).as_tuple()
    assert isinstance(exponent, int)  # noqa: S101 - finite by construction
    mantissa = "".join(map(str, digits))
    neg = "-" if sign else ""
    # positional: exponent < 0 here (non-integral)
    point = len(mantissa) + exponent
    positional = f"{mantissa[:point]}.{mantissa[point:]}" if point > 0 else f"0.{'0' * -point}{mantissa}"
    sci_exp = exponent + len(mantissa) - 1
    sci_mant = mantissa[0] + (f".{mantissa[1:]}" if len(mantissa) > 1 else "")
    scientific = f"{sci_mant}e{sci_exp}"
    best = scientific if len(scientific) < len(positional) else positional
    return neg + best
