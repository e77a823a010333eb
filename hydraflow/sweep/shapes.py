"""Whether joined values read as numbers, decided from the shape of each part without enumerating a product.

A value joined from parts (``(1,2)e(3,6)`` -> ``1e3``, ``1e6``, ...) is normalised when it reads as a number
with an optional SI prefix or exponent suffix. Whether *every* value of a product does (a key suffix such as
``lr/m`` scales only then), and how large such a number can get, follows from a small automaton run over each
part's distinct values: the states reached after a part depend only on the states before it, so a product of
25 parts is 25 small steps instead of 2**25 values.

A state is the automaton's phase with the largest exponents and digit counts read so far (appending a digit
is monotone in each, so keeping the largest per phase bounds every value): see :func:`magnitude_bound`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

State = tuple[str, int, int, int, int]
"""``(phase, |exponent 1|, |exponent 2|, integer digits, fraction digits)``, each up to :data:`CAP`."""

CAP = 10**6
"""Exponents and digit counts are tracked up to here (anything larger is beyond every limit anyway)."""

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


def _move(state: State, ch: str) -> State:
    phase, e1, e2, whole, fraction = state
    nxt = _MOVES[phase].get(_CLASSES[ch], "dead")
    if nxt == "dead":
        return DEAD
    if nxt == "int":
        whole = min(whole + 1, CAP)
    elif nxt == "frac":
        fraction = min(fraction + 1, CAP)
    elif nxt == "exp1":
        e1 = min(e1 * 10 + int(ch), CAP)
    elif nxt == "exp2":
        e2 = min(e2 * 10 + int(ch), CAP)
    return (nxt, e1, e2, whole, fraction)


START: State = ("start", 0, 0, 0, 0)
DEAD: State = ("dead", 0, 0, 0, 0)


ALL_STATES: frozenset[State] = frozenset((phase, CAP, CAP, CAP, CAP) for phase in _MOVES)
"""Every phase with the largest exponents: the answer when nothing is known about a part's values."""


def run(state: State, text: str) -> State:
    """The state after reading ``text`` from ``state``.

    >>> run(START, "1.5e-3")
    ('exp1', 3, 0, 1, 1)
    >>> run(START, "1e3e12"), run(START, "4k"), run(START, "cnn")
    (('exp2', 3, 12, 1, 0), ('si', 0, 0, 1, 0), ('dead', 0, 0, 0, 0))
    """
    if _OUTSIDE.search(text):
        return DEAD
    for ch in text:
        state = _move(state, ch)
        if state == DEAD:
            break
    return state


def merge(states: Iterable[State]) -> frozenset[State]:
    """One state per phase, with the largest exponents and digit counts of that phase (bounds of all).

    >>> sorted(merge([("exp1", 3, 0, 2, 0), ("exp1", 12, 0, 1, 0), ("int", 0, 0, 4, 0)]))
    [('exp1', 12, 0, 2, 0), ('int', 0, 0, 4, 0)]
    """
    best: dict[str, tuple[int, ...]] = {}
    for phase, *numbers in states:
        old = best.get(phase, (0, 0, 0, 0))
        best[phase] = tuple(map(max, old, numbers))
    return frozenset((phase, *numbers) for phase, numbers in best.items())  # type: ignore[misc]


def reach_values(states: frozenset[State], values: Iterable[str]) -> frozenset[State]:
    """The states reached from any of ``states`` by reading any of ``values`` (merged per phase)."""
    live = [s for s in states if s != DEAD]
    out = {DEAD} if DEAD in states else set()
    for value in values:
        out.update(run(s, value) for s in live)
    return merge(out)


def accepting(state: State) -> bool:
    """Whether a value that ends in ``state`` reads as a number with an optional SI prefix or exponent."""
    return state[0] in _ACCEPTING_PHASES


def magnitude_bound(state: State) -> int:
    """A bound of ``|adjusted exponent|`` of a number ending in ``state`` (its power of ten, either sign).

    The digits before or after the point move it by at most their count, each exponent by its magnitude, an
    SI prefix by at most 15.

    >>> magnitude_bound(("exp2", 1, 12, 3, 0)), magnitude_bound(("si", 0, 0, 1, 2))
    (16, 17)
    """
    phase, e1, e2, whole, fraction = state
    return max(whole, fraction) + e1 + e2 + (15 if phase == "si" else 0)


def digits_bound(state: State) -> int:
    """A bound of the significant digits of a number ending in ``state``.

    >>> digits_bound(("frac", 0, 0, 3, 4))
    7
    """
    return state[3] + state[4]


__all__ = [
    "ALL_STATES",
    "DEAD",
    "START",
    "State",
    "accepting",
    "digits_bound",
    "magnitude_bound",
    "merge",
    "reach_values",
    "run",
]
