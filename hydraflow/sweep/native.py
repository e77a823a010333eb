"""Sections that call one of Hydra's functions (``choice()``, ``range()``, ``glob()`` ...).

``range()`` with number arguments is computed here, lazily (:mod:`hydraflow.sweep.hydra_range`); every other
call goes to a :data:`NativeExpander`, which expands it with Hydra's own parser.

**The NativeExpander protocol.** A callable that takes ONE argument in Hydra's syntax (``"a=choice(1,2)"``)
and returns its plain overrides (``["a=1", "a=2"]``) as a :class:`~collections.abc.Sequence` of strings:

- a ``list`` or ``tuple`` (any size) is copied and checked item by item;
- any other sequence (an object with ``__len__`` and ``__getitem__``) of more than
  :data:`~hydraflow.sweep.limits.ENUMERATE_LIMIT` items is used as it is, lazily: it is never copied or
  enumerated to count it, only its first and last items are checked (they must be ``key=value`` like all the
  others, or none of them is), and a key suffix (``lr/m``) does not scale it;
- an iterator or generator is copied into a list (avoid: it cannot be counted without enumerating it).

It raises any exception for an argument Hydra refuses: the first line of its message becomes the message of a
:class:`~hydraflow.sweep.SweepSyntaxError` at the function's column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hydraflow.sweep.errors import SweepSyntaxError, Where
from hydraflow.sweep.hydra_range import RangeError, check_nested_ranges, parse_range_call, range_values
from hydraflow.sweep.limits import ENUMERATE_LIMIT
from hydraflow.sweep.seq import Items, Mapped, Seq, View

NativeExpander = Callable[[str], Sequence[str]]
"""Expands ONE argument in Hydra's syntax (``"a=choice(1,2)"``) into plain overrides (``["a=1", "a=2"]``)."""


def native_section(
    ctx: Where,
    native: Callable[[str], Sequence[str]] | None,
    full_key: str,
    sec_text: str,
    cols: tuple[int, int],
) -> tuple[Seq[str] | None, Seq[str] | None]:
    """Expand a section that calls a Hydra function: its values (if plain) and its overrides (if not).

    ``cols``: the columns of the section and of the function's name in the argument.
    """
    sec_col, fcol = cols
    name = sec_text.strip().split("(", 1)[0].strip()
    call = sec_text.strip()
    if name == "interval":
        raise ctx.error(
            fcol,
            "interval() is a continuous range and cannot be enumerated; "
            "use an inclusive range start:stop:step instead",
        )
    try:
        if name == "range" and not full_key.startswith("~"):
            range_call = parse_range_call(sec_text)
            if range_call is not None:  # lazily, exactly as Hydra would, without Hydra
                values = range_values(range_call, call)
                values.col = fcol
                return values, None
        check_nested_ranges(sec_text)
    except RangeError as exc:
        raise ctx.error(sec_col + exc.offset if exc.offset else fcol, exc.message) from None
    if native is None:
        raise ctx.error(
            fcol,
            f"Hydra function {name}() needs Hydra to expand it "
            "(pass native=hydraflow.hydra_adapter.native.make_native_expander())",
        )
    return _split(_call(ctx, native, f"{full_key}={call}", fcol), full_key + "=", fcol)


def _call(ctx: Where, native: Callable[[str], Sequence[str]], argument: str, fcol: int) -> Sequence[str]:
    call = argument.split("=", 1)[1]
    try:
        out = native(argument)
        if not isinstance(out, Sequence):
            out = list(out)
    except SweepSyntaxError as e:
        raise ctx.error(fcol, e.message) from e
    except Exception as e:
        text = str(e).strip()
        first_line = text.splitlines()[0] if text else type(e).__name__
        if len(first_line) > 300:  # noqa: PLR2004
            first_line = first_line[:300] + "..."
        raise ctx.error(fcol, f"Hydra could not expand {call!r}: {first_line}") from e
    if not out:
        raise ctx.error(fcol, f"{call!r} expands to no values")
    return out


def _split(out: Sequence[str], head: str, fcol: int) -> tuple[Seq[str] | None, Seq[str] | None]:
    """The values of ``out`` when every override is ``head`` + value, else the overrides as they are."""
    overrides: Seq[str]
    if isinstance(out, (list, tuple)) or len(out) <= ENUMERATE_LIMIT:
        overrides = Items(out)
        plain = all(o.startswith(head) for o in out)
    else:  # a lazy result (see NativeExpander): its first and last overrides stand for all
        overrides = View(out)
        plain = out[0].startswith(head) and out[-1].startswith(head)
    overrides.col = fcol
    if not plain:
        return None, overrides
    values: Seq[str]
    if isinstance(overrides, Items):
        values = Items([o[len(head) :] for o in out])
    else:
        values = Mapped(overrides, _drop_prefix(len(head)))
    values.col = fcol
    return values, None


@dataclass(frozen=True)
class _drop_prefix:  # noqa: N801 - used like a function; a class so that sweeps pickle
    length: int

    def __call__(self, value: str) -> str:
        return value[self.length :]


__all__ = ["NativeExpander", "native_section"]
