"""Numbers in the grammar: ranges, and the checks that keep every computed number within the limits.

Each check runs when the sweep is parsed, from the shape of the values (never by enumerating a product), so a
sweep that parses produces only numbers that can be computed exactly, and counting it stays instant.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

from hydraflow.sweep.decimals import (
    SI_PREFIXES,
    NumberOutOfRange,
    check_value,
    format_number,
    is_number,
    parse_number,
    parse_suffixed,
    scale,
    shorten,
    sub,
    suffix_exponent,
)
from hydraflow.sweep.hydra_range import FloatRange
from hydraflow.sweep.limits import CHECK_LIMIT, MAX_DIGITS, MAX_EXPONENT
from hydraflow.sweep.seq import SMALL, Concat, Items, Joined, NumRange, Undecidable
from hydraflow.sweep.shapes import digits_bound, magnitude_bound

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hydraflow.sweep.errors import Where
    from hydraflow.sweep.seq import Seq


def parse_range(ctx: Where, text: str, col: int) -> Seq[str]:  # noqa: C901
    """Parse ``start:stop[:step][:suffix]`` or ``number:suffix``."""
    parts: list[tuple[str, int]] = []
    pos = 0
    for piece in text.split(":"):
        stripped = piece.lstrip()
        parts.append((stripped.rstrip(), col + pos + len(piece) - len(stripped)))
        pos += len(piece) + 1
    exponent = 0
    last, last_col = parts[-1]
    if last and not is_number(last):
        e = suffix_exponent(last)
        if e is None:
            known = " ".join(SI_PREFIXES)
            raise ctx.error(
                last_col,
                f"unknown SI prefix or exponent {shorten(last)} "
                f"(known: {known}, e<N>, E<N> with |N| <= {MAX_EXPONENT})",
            )
        exponent = e
        parts.pop()
    if len(parts) > 3:  # noqa: PLR2004
        raise ctx.error(parts[3][1], "too many range parts: expected start:stop[:step][:suffix]")

    def num(i: int, what: str, default: Decimal | None = None) -> Decimal:
        piece, pcol = parts[i]
        if not piece:
            if default is not None:
                return default
            raise ctx.error(pcol, f"missing {what}")
        if not is_number(piece):
            raise ctx.error(
                pcol, f"{what} {shorten(piece)} is not a number (quote a string that holds ':': key='...')"
            )
        try:
            return parse_number(piece, exponent)
        except NumberOutOfRange as exc:
            raise ctx.error(pcol, str(exc)) from None

    if len(parts) == 1:
        return Items([format_number(num(0, "number"))])
    start = num(0, "start", Decimal(0))
    stop = num(1, "stop")
    step = num(2, "step") if len(parts) == 3 else scale(Decimal(1), exponent)  # noqa: PLR2004
    if step == 0:
        raise ctx.error(parts[2][1], "zero step")
    shown = (parts[0][0] or "0", parts[1][0], parts[2][0] if len(parts) == 3 else "1")  # noqa: PLR2004
    check_precision(ctx, col, (start, stop, step), shown)
    diff = sub(stop, start)
    if diff != 0 and (diff > 0) != (step > 0):
        if len(parts) == 3:  # noqa: PLR2004
            direction = "up" if step > 0 else "down"
            raise ctx.error(
                parts[2][1],
                f"empty range: step {format_number(step)} counts {direction} "
                f"from {format_number(start)} but stop is {format_number(stop)}",
            )
        raise ctx.error(
            col,
            f"empty range: start {format_number(start)} is above stop {format_number(stop)} "
            f"(for a descending range give a negative step: {parts[0][0]}:{parts[1][0]}:-1)",
        )
    count = int(Fraction(diff) / Fraction(step)) + 1
    return NumRange(start, step, count)


def check_precision(
    ctx: Where, col: int, numbers: tuple[Decimal, Decimal, Decimal], shown: tuple[str, str, str]
) -> None:
    """Refuse a range whose values need more than ``MAX_DIGITS`` digits (``0:1e300:1e-300`` needs 601).

    The digits run from the largest magnitude down to the finest digit of start or step.
    """
    start, stop, step = numbers
    exponents = [d.as_tuple().exponent for d in (start, step) if d]
    quantum = min(e for e in exponents if isinstance(e, int))
    top = max(d.adjusted() for d in (start, stop, step) if d)
    needed = top - quantum + 1
    if needed > MAX_DIGITS:
        raise ctx.error(
            col,
            f"range needs {needed} significant digits for its values (from {shorten(shown[0], 24)} to "
            f"{shorten(shown[1], 24)} by {shorten(shown[2], 24)}); at most {MAX_DIGITS}",
        )


def check_joined(ctx: Where, joined: Joined, extra: int = 0) -> None:
    """Refuse, before any value is produced, a joined value that reads as a number beyond the limits.

    The shapes of the parts bound every such number (digit counts, exponent magnitudes; see
    :mod:`hydraflow.sweep.shapes`); only when those bounds are not enough are the values enumerated, up to
    ``CHECK_LIMIT``. ``extra`` is a key suffix's power of ten that will scale every value.
    """
    states = joined.number_states()
    if not states:
        return
    magnitude = max(magnitude_bound(s) for s in states) + abs(extra)
    digits = max(digits_bound(s) for s in states)
    if magnitude <= MAX_EXPONENT and digits <= MAX_DIGITS:
        return
    if joined.size > CHECK_LIMIT:
        reach = (
            f"numbers up to 1e{magnitude} or down to 1e-{magnitude}"
            if magnitude > MAX_EXPONENT
            else f"numbers of up to {digits} digits"
        )
        raise ctx.error(
            joined.col,
            f"the values joined by this item may read as {reach} (the limits are 1e-{MAX_EXPONENT}.."
            f"1e{MAX_EXPONENT} and {MAX_DIGITS} digits), and its {joined.size:,} values are too many to "
            f"check one by one (at most {CHECK_LIMIT:,})",
        )
    try:
        for value in joined.inner:
            number = parse_suffixed(value)
            if number is not None and extra:
                check_value(scale(number, extra), f"{value} times 1e{extra}")
    except NumberOutOfRange as exc:
        raise ctx.error(joined.col, f"{exc} (a value joined from this item)") from None


def is_numeric(ctx: Where, values: Seq[str]) -> bool:
    """Whether every value is a number (a key suffix scales only then), decided without enumerating."""
    try:
        return values.is_numeric()
    except Undecidable as exc:
        raise ctx.error(
            exc.col,
            "cannot tell without enumerating them whether all values of this item are numbers (a range of "
            f"more than {SMALL:,} non-integer values joined with other text), which a key suffix needs: "
            "write the scale into the values instead",
        ) from None


def _check_scaled_items(ctx: Where, values: Items[str], exponent: int) -> None:
    # a short plain number (no exponent) lies within 1e-40..1e40: only the others need reading
    quick = abs(exponent) <= MAX_EXPONENT - 40
    for i, text in enumerate(values.values):
        if quick and len(text) <= 40 and "e" not in text and "E" not in text:  # noqa: PLR2004
            continue
        try:
            parse_number(text, exponent)
        except NumberOutOfRange as exc:
            col = values.cols[i] if values.cols is not None else values.col
            raise ctx.error(col, str(exc)) from None


def check_scaled(ctx: Where, values: Seq[str], exponent: int) -> None:
    """Refuse a key suffix that scales a value beyond the limits (``lr/e300=1e4000``)."""
    if isinstance(values, Concat):
        for part in values.parts:
            check_scaled(ctx, part, exponent)
        return
    if isinstance(values, Joined):
        check_joined(ctx, values, exponent)
        return
    if isinstance(values, Items):
        _check_scaled_items(ctx, values, exponent)
        return
    texts: Sequence[str]
    if isinstance(values, NumRange):
        texts = [format_number(v) for v in values.extremes()]
    elif isinstance(values, FloatRange):
        texts = values.extremes()
    else:  # pragma: no cover - every numeric sequence is one of the above
        texts = list(values) if values.size <= CHECK_LIMIT else [values.get(0), values.get(values.size - 1)]
    try:
        for text in texts:
            parse_number(text, exponent)
    except NumberOutOfRange as exc:
        raise ctx.error(values.col, str(exc)) from None


__all__ = ["check_joined", "check_precision", "check_scaled", "is_numeric", "parse_range"]
