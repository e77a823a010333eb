"""Whether joined values read as numbers, decided from the shape of each part without enumerating a product.

A value joined from parts (``(1,2)e(3,6)`` -> ``1e3``, ``1e6``, ...) is normalised when it reads as a number
with an optional SI prefix or exponent suffix. Whether *every* value of a product does (a key suffix such as
``lr/m`` scales only then), and how large such a number can get, follows from a small automaton run over each
part's distinct values: the states reached after a part depend only on the states before it, so a product of
25 parts is 25 small steps instead of 2**25 values.

The states also count the digits of each exponent (1, 2, or 3 and more), which bounds the magnitude of any
number a product can spell: see :func:`exponent_bound`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

State = tuple[str, int, int]
"""``(phase, digits of the first exponent, digits of the second)``; digit counts stop at 3 (3 or more)."""

_DIGIT, _SIGN, _POINT, _EXP, _SI, _OTHER = range(6)
_CLASSES = {
    **dict.fromkeys("0123456789", _DIGIT),
    "+": _SIGN,
    "-": _SIGN,
    ".": _POINT,
    "e": _EXP,
    "E": _EXP,
    **dict.fromkeys("fpnumkMGT", _SI),
}
_OUTSIDE = re.compile(r"[^0-9+\-.eEfpnumkMGT]")
_ACCEPTING_PHASES = frozenset({"int", "int.", "frac", "exp1", "exp2", "si"})

# phase -> character class -> next phase ("exp1"/"exp2" count their digits)
_MOVES: dict[str, dict[int, str]] = {
    "start": {_DIGIT: "int", _SIGN: "sign", _POINT: "."},
    "sign": {_DIGIT: "int", _POINT: "."},
    "int": {_DIGIT: "int", _POINT: "int.", _EXP: "e1", _SI: "si"},
    "int.": {_DIGIT: "frac", _EXP: "e1", _SI: "si"},
    ".": {_DIGIT: "frac"},
    "frac": {_DIGIT: "frac", _EXP: "e1", _SI: "si"},
    "e1": {_DIGIT: "exp1", _SIGN: "e1sign"},
    "e1sign": {_DIGIT: "exp1"},
    "exp1": {_DIGIT: "exp1", _EXP: "e2", _SI: "si"},
    "e2": {_DIGIT: "exp2", _SIGN: "e2sign"},
    "e2sign": {_DIGIT: "exp2"},
    "exp2": {_DIGIT: "exp2"},
    "si": {},
    "dead": {},
}


def _move(state: State, cls: int) -> State:
    phase, d1, d2 = state
    nxt = _MOVES[phase].get(cls, "dead")
    if nxt == "dead":
        return DEAD
    if nxt == "exp1":
        d1 = min(d1 + 1, 3) if phase == "exp1" else 1
    elif nxt == "exp2":
        d2 = min(d2 + 1, 3) if phase == "exp2" else 1
    return (nxt, d1, d2)


START: State = ("start", 0, 0)
DEAD: State = ("dead", 0, 0)


def _build() -> dict[State, tuple[State, ...]]:
    table: dict[State, tuple[State, ...]] = {}
    todo = [START, DEAD]
    while todo:
        state = todo.pop()
        if state in table:
            continue
        table[state] = tuple(_move(state, cls) for cls in range(6))
        todo.extend(table[state])
    return table


_TABLE = _build()
ALL_STATES: frozenset[State] = frozenset(_TABLE)
"""Every state: the answer when nothing is known about a part's values."""


def run(state: State, text: str) -> State:
    """The state after reading ``text`` from ``state``.

    >>> run(START, "1.5e-3")
    ('exp1', 1, 0)
    >>> run(START, "1e3e12"), run(START, "4k"), run(START, "cnn")
    (('exp2', 1, 2), ('si', 0, 0), ('dead', 0, 0))
    """
    if _OUTSIDE.search(text):
        return DEAD
    for ch in text:
        state = _TABLE[state][_CLASSES[ch]]
        if state == DEAD:
            break
    return state


def reach_values(states: frozenset[State], values: Iterable[str]) -> frozenset[State]:
    """The states reached from any of ``states`` by reading any of ``values``."""
    live = [s for s in states if s != DEAD]
    out = {DEAD} if DEAD in states else set()
    for value in values:
        out.update(run(s, value) for s in live)
    return frozenset(out)


def accepting(state: State) -> bool:
    """Whether a value that ends in ``state`` reads as a number with an optional SI prefix or exponent."""
    return state[0] in _ACCEPTING_PHASES


def exponent_bound(state: State) -> int:
    """How far the exponents written in a value ending in ``state`` can move its magnitude (powers of ten).

    >>> exponent_bound(("exp2", 1, 2)), exponent_bound(("si", 0, 0)), exponent_bound(("exp1", 3, 0))
    (108, 15, 999)
    """
    phase, d1, d2 = state
    bound = (10**d1 - 1 if d1 else 0) + (10**d2 - 1 if d2 else 0)
    return bound + (15 if phase == "si" else 0)


__all__ = ["ALL_STATES", "DEAD", "START", "State", "accepting", "exponent_bound", "reach_values", "run"]
