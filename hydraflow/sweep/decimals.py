"""Exact decimal numbers: parsing within the limits, SI prefixes and exponents, shortest exact formatting.

Every number the grammar computes with is read by :func:`parse_number`, which checks its size *from the text*
(digits and exponent) before building a :class:`~decimal.Decimal`, so no input can make the arithmetic round,
build a huge integer or run for long: a number beyond the limits raises :class:`NumberOutOfRange`.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal, Inexact, InvalidOperation, Rounded

from hydraflow.sweep.limits import MAX_DIGITS, MAX_EXPONENT, MAX_EXPONENT_TEXT

# Numbers within the limits need at most MAX_DIGITS digits, and the arithmetic of ranges at most about twice
# that; Inexact/Rounded are trapped, so a result that would need more digits raises instead of drifting.
_CONTEXT = Context(prec=400, Emax=999_999, Emin=-999_999, traps=[InvalidOperation, Inexact, Rounded])

_INT_TEXT_LIMIT = 4000
"""Integers with more digits print in scientific notation (Python refuses ``str`` of much longer ints)."""

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
_PARTS_RE = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?)(\d+))?")
_EXPONENT_RE = re.compile(r"[eE]([+-]?)(\d+)")
_SUFFIXED_RE = re.compile(rf"({NUMBER_PATTERN})([fpnumkMGT]|[eE][+-]?\d+)?")


class NumberOutOfRange(ValueError):  # noqa: N818 - reads as what happened
    """A number beyond the limits (``MAX_EXPONENT``, ``MAX_DIGITS``); ``str()`` says which and why."""


def shorten(text: str, width: int = 40) -> str:
    """``text`` cut in the middle when longer than ``width`` (for error messages).

    >>> shorten("1" * 100)
    "'1111111111111111...11111111' (100 characters)"
    >>> shorten("1e5")
    "'1e5'"
    """
    if len(text) <= width:
        return repr(text)
    return f"{text[:16] + '...' + text[-8:]!r} ({len(text)} characters)"


def is_number(text: str) -> bool:
    """Whether ``text`` is a plain decimal number (sign, digits, point, exponent).

    >>> is_number("1e-3"), is_number("-.5"), is_number("1k"), is_number("inf")
    (True, True, False, False)
    """
    return _NUMBER_RE.fullmatch(text) is not None


def _exponent_value(sign: str, digits: str) -> int | None:
    """The exponent written ``sign digits``, or ``None`` when it has too many digits to be read."""
    digits = digits.lstrip("0") or "0"
    if len(digits) > MAX_EXPONENT_TEXT:
        return None
    return -int(digits) if sign == "-" else int(digits)


def _too_many_digits(text: str) -> NumberOutOfRange:
    return NumberOutOfRange(f"number with more than {MAX_DIGITS} significant digits: {shorten(text)}")


def _out_of_range(text: str, extra: int) -> NumberOutOfRange:
    times = f" times 1e{extra}" if extra else ""
    return NumberOutOfRange(
        f"number out of range: {shorten(text)}{times} is beyond 1e{MAX_EXPONENT} or below 1e-{MAX_EXPONENT}"
    )


def parse_number(text: str, extra: int = 0) -> Decimal:
    """Read the plain decimal number ``text`` times ``10**extra``, exactly, if it is within the limits.

    >>> parse_number("0.1") + parse_number("0.2") == parse_number("0.3")
    True
    >>> parse_number("1.500e2"), parse_number("-2", extra=-3)
    (Decimal('1.5E+2'), Decimal('-0.002'))
    >>> parse_number("1e999999999")
    Traceback (most recent call last):
    ...
    hydraflow.sweep.decimals.NumberOutOfRange: number out of range: '1e999999999' is beyond 1e300 ...

    Raises:
        ValueError: if ``text`` is not a plain number.
        NumberOutOfRange: if the number is beyond ``1e300``, below ``1e-300`` (and not 0), or has more than
            100 significant digits.
    """
    m = _PARTS_RE.fullmatch(text)
    if m is None or not (m.group(2) or m.group(3)):
        raise ValueError(f"not a number: {shorten(text)}")
    sign, whole, fraction, exp_sign, exp_digits = m.groups()
    fraction = fraction or ""
    digits = (whole + fraction).lstrip("0")
    significant = digits.rstrip("0")
    if not significant:
        return Decimal((sign == "-", (0,), 0))
    exponent = _exponent_value(exp_sign, exp_digits) if exp_digits else 0
    if exponent is None:
        raise _out_of_range(text, extra)
    # value = significant * 10**(exponent - len(fraction) + trailing zeros) * 10**extra
    exponent += extra - len(fraction) + len(digits) - len(significant)
    adjusted = exponent + len(significant) - 1
    if not -MAX_EXPONENT <= adjusted <= MAX_EXPONENT:
        raise _out_of_range(text, extra)
    if len(significant) > MAX_DIGITS:
        raise _too_many_digits(text)
    return Decimal((sign == "-", tuple(map(int, significant)), exponent))


def check_value(value: Decimal, text: str = "") -> Decimal:
    """``value`` if it is within the limits, else :class:`NumberOutOfRange` (``text`` names it).

    >>> check_value(Decimal("1e300"))
    Decimal('1E+300')
    >>> check_value(Decimal("1e301"), "a")
    Traceback (most recent call last):
    ...
    hydraflow.sweep.decimals.NumberOutOfRange: number out of range: 'a' is beyond 1e300 or below 1e-300
    """
    if value and not -MAX_EXPONENT <= value.adjusted() <= MAX_EXPONENT:
        raise _out_of_range(text or str(value), 0)
    if len(value.normalize(_CONTEXT).as_tuple().digits) > MAX_DIGITS:
        raise NumberOutOfRange(f"number with more than {MAX_DIGITS} significant digits: {text or value}")
    return value


def suffix_exponent(suffix: str) -> int | None:
    """Power of ten of an SI prefix (``k``) or exponent form (``e-3``, ``E8``); ``None`` if neither.

    >>> [suffix_exponent(s) for s in ["k", "e-3", "E8", "K", "e999", "e" + "9" * 5000]]
    [3, -3, 8, None, None, None]
    """
    if suffix in SI_PREFIXES:
        return SI_PREFIXES[suffix]
    m = _EXPONENT_RE.fullmatch(suffix)
    if m is None:
        return None
    exponent = _exponent_value(m.group(1), m.group(2))
    return exponent if exponent is not None and abs(exponent) <= MAX_EXPONENT else None


def parse_suffixed(text: str) -> Decimal | None:
    """Parse a number with an optional SI prefix or exponent suffix; ``None`` if ``text`` is not one.

    >>> parse_suffixed("4k"), parse_suffixed("1e-1"), parse_suffixed("2e2"), parse_suffixed("cnn")
    (Decimal('4E+3'), Decimal('0.1'), Decimal('2E+2'), None)

    Raises:
        NumberOutOfRange: if ``text`` is such a number but beyond the limits (``1e5000``, ``1k`` with
            ``e999`` ...).
    """
    m = _SUFFIXED_RE.fullmatch(text)
    if m is None:
        return None
    extra = 0
    if m.group(2):
        if m.group(2) in SI_PREFIXES:
            extra = SI_PREFIXES[m.group(2)]
        else:
            e = _EXPONENT_RE.fullmatch(m.group(2))
            exponent = _exponent_value(e.group(1), e.group(2)) if e else None
            if exponent is None or abs(exponent) > 2 * MAX_EXPONENT:
                raise _out_of_range(text, 0)
            extra = exponent
    try:
        return parse_number(m.group(1), extra)
    except NumberOutOfRange as exc:
        raise (_too_many_digits(text) if "digits" in str(exc) else _out_of_range(text, 0)) from None


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
    sign, digit_tuple, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # noqa: S101 - finite by construction
    mantissa = "".join(map(str, digit_tuple)).lstrip("0")
    if not mantissa:
        return "0"
    stripped = mantissa.rstrip("0")
    exponent += len(mantissa) - len(stripped)
    mantissa = stripped
    neg = "-" if sign else ""
    sci_exp = exponent + len(mantissa) - 1
    scientific = mantissa[0] + (f".{mantissa[1:]}" if len(mantissa) > 1 else "") + f"e{sci_exp}"
    if exponent >= 0:  # an integer
        return neg + (mantissa + "0" * exponent if sci_exp < _INT_TEXT_LIMIT else scientific)
    point = len(mantissa) + exponent
    positional_len = len(mantissa) + 1 if point > 0 else 2 - point + len(mantissa)
    if len(scientific) < positional_len:
        return neg + scientific
    if point > 0:
        return f"{neg}{mantissa[:point]}.{mantissa[point:]}"
    return f"{neg}0.{'0' * -point}{mantissa}"
