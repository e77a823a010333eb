"""A fast reader for the block-style YAML that Hydra writes (``OmegaConf.to_yaml``), with a safe fallback.

PyYAML's ``CSafeLoader`` parses in C but resolves and constructs every node in Python (~0.1-0.3 ms per Hydra
config). Hydra's ``config.yaml`` files use a tiny subset of YAML: nested block mappings with plain keys, block
sequences, plain or quoted scalars, ``[]`` and ``{}``. :func:`load` reads that subset directly and returns
exactly what ``yaml.safe_load`` returns; scalars are resolved with PyYAML's own implicit resolvers (YAML 1.1:
``yes`` is True, ``1e3`` is a string). Anything outside the subset (flow collections, anchors, tags, block
scalars, comments, escapes, odd numbers like ``0x1F`` or ``1_000``) raises :class:`Unsupported`, and the
caller falls back to ``yaml.load(..., CSafeLoader)``.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

_ODD_SPACE = re.compile(r"[^\S \t\n]")


class Unsupported(Exception):  # noqa: N818 - a control-flow signal, not an error
    """The text uses YAML outside the fast subset."""


_RESOLVERS = yaml.SafeLoader.yaml_implicit_resolvers
_BOOL = yaml.constructor.SafeConstructor.bool_values
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")
_KEY = re.compile(r"[A-Za-z_][\w\-/.$]*\Z")
_QUOTED_KEY = re.compile(r"'((?:[^']|'')*)':(?: (.*))?\Z")
_BAD_START = frozenset("&*!|>%@`{[?#,\"'")
_FLOAT_SPECIAL = {
    ".inf": math.inf,
    ".Inf": math.inf,
    ".INF": math.inf,
    "+.inf": math.inf,
    "+.Inf": math.inf,
    "+.INF": math.inf,
    "-.inf": -math.inf,
    "-.Inf": -math.inf,
    "-.INF": -math.inf,
    ".nan": math.nan,
    ".NaN": math.nan,
    ".NAN": math.nan,
}


def _plain(text: str) -> Any:  # noqa: C901 - one branch per YAML type
    """Resolve a plain scalar like PyYAML's SafeLoader does."""
    tag = "tag:yaml.org,2002:str"
    for t, regexp in _RESOLVERS.get(text[:1] or "", ()):
        if regexp.match(text):
            tag = t
            break
    if tag == "tag:yaml.org,2002:str":
        if text == "-" or text[:1] in _BAD_START or ": " in text or " #" in text:
            raise Unsupported(text)
        if text.endswith(":") or text.startswith("- "):
            raise Unsupported(text)
        return text
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:bool":
        return _BOOL[text.lower()]
    if tag == "tag:yaml.org,2002:int":
        if _INT.match(text):
            return int(text)
        raise Unsupported(text)
    if tag == "tag:yaml.org,2002:float":
        if text in _FLOAT_SPECIAL:
            return _FLOAT_SPECIAL[text]
        if "_" in text or ":" in text:
            raise Unsupported(text)
        return float(text)
    raise Unsupported(text)  # timestamps, merge keys, ...


_CACHE: dict[str, Any] = {}
_KEYS: dict[str, bool] = {}


def _plain_key(key: str) -> bool:
    """Whether ``key`` is a plain key that YAML reads as this very string (memoised)."""
    ok = _KEYS.get(key)
    if ok is None:
        try:
            ok = bool(_KEY.match(key)) and _plain(key) == key
        except Unsupported:
            ok = False
        if len(_KEYS) < 100_000:  # noqa: PLR2004
            _KEYS[key] = ok
    return ok


def _scalar(text: str) -> Any:
    """An inline value; immutable results are memoised (sweeps repeat the same values in every run)."""
    try:
        return _CACHE[text]
    except KeyError:
        pass
    value = _scalar_uncached(text)
    if not isinstance(value, (list, dict)) and len(_CACHE) < 100_000:  # noqa: PLR2004
        _CACHE[text] = value
    return value


def _scalar_uncached(text: str) -> Any:
    if not text:
        return None
    first = text[0]
    if first == "'":
        if len(text) < 2 or not text.endswith("'") or "'" in text[1:-1].replace("''", ""):  # noqa: PLR2004
            raise Unsupported(text)
        return text[1:-1].replace("''", "'")
    if first == '"':
        inner = text[1:-1]
        if len(text) < 2 or not text.endswith('"') or "\\" in inner or '"' in inner:  # noqa: PLR2004
            raise Unsupported(text)
        return inner
    if text == "[]":
        return []
    if text == "{}":
        return {}
    return _plain(text)


_BAD_LINE = re.compile(r"^ *(?:[#\t%]|---|\.\.\.)", re.MULTILINE)
_SPLIT: dict[str, tuple[int, str]] = {}


def _lines(text: str) -> list[tuple[int, str]]:
    """Non-blank lines as (indent, content); comments, tabs and directives are not supported."""
    if _BAD_LINE.search(text):
        raise Unsupported("comment, tab or directive")
    out: list[tuple[int, str]] = []
    split = _SPLIT
    for raw in text.split("\n"):
        if not raw:
            continue
        hit = split.get(raw)
        if hit is None:
            line = raw.rstrip()
            if not line:
                continue
            stripped = line.lstrip(" ")
            hit = (len(line) - len(stripped), stripped)
            if len(split) < 200_000:  # noqa: PLR2004
                split[raw] = hit
        out.append(hit)
    return out


_NESTED: Any = object()
_EMPTY_LIST: Any = object()
_EMPTY_DICT: Any = object()
_LINES: dict[str, tuple[str, Any]] = {}


def _mapping_line(content: str) -> tuple[str, Any]:
    """``key: value`` -> (key, value); the value is _NESTED for ``key:`` (memoised: sweeps repeat lines)."""
    if content[0] == "'":  # OmegaConf quotes keys like 'null' or 'yes'
        m = _QUOTED_KEY.match(content)
        if m is None:
            raise Unsupported(content)
        key, rest = m.group(1).replace("''", "'"), m.group(2) or ""
    else:
        key, sep, rest = content.partition(":")
        if not sep or (rest and rest[0] != " ") or not _plain_key(key):
            raise Unsupported(content)
    rest = rest.strip()
    if not rest:
        value = _NESTED
    elif rest == "[]":
        value = _EMPTY_LIST
    elif rest == "{}":
        value = _EMPTY_DICT
    else:
        value = _scalar(rest)
    if len(_LINES) < 200_000:  # noqa: PLR2004
        _LINES[content] = (key, value)
    return key, value


class _Parser:
    def __init__(self, lines: list[tuple[int, str]]) -> None:
        self.lines = lines
        self.i = 0

    def block(self, indent: int) -> Any:
        _, content = self.lines[self.i]
        if content == "-" or content.startswith("- "):
            return self.sequence(indent)
        return self.mapping(indent)

    def _value_after(self, indent: int, *, in_mapping: bool) -> Any:
        """The value of ``key:`` / ``-`` with nothing after it: a nested block or null."""
        if self.i < len(self.lines):
            nxt, content = self.lines[self.i]
            if nxt > indent:
                return self.block(nxt)
            if in_mapping and nxt == indent and (content == "-" or content.startswith("- ")):
                return self.sequence(indent)  # PyYAML writes a mapping's sequence at the key's indent
        return None

    def mapping(self, indent: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        lines = self.lines
        n = len(lines)
        while self.i < n:
            ind, content = lines[self.i]
            if ind != indent:
                if ind < indent:
                    break
                raise Unsupported(content)
            hit = _LINES.get(content)
            if hit is None:
                if content == "-" or content.startswith("- "):
                    break
                hit = _mapping_line(content)
            key, value = hit
            if key in out:
                raise Unsupported(content)
            self.i += 1
            if value is _NESTED:
                value = self._value_after(indent, in_mapping=True)
            elif value is _EMPTY_LIST:
                value = []
            elif value is _EMPTY_DICT:
                value = {}
            out[key] = value
        return out

    def sequence(self, indent: int) -> list[Any]:
        out: list[Any] = []
        while self.i < len(self.lines):
            ind, content = self.lines[self.i]
            if ind != indent or not (content == "-" or content.startswith("- ")):
                if ind > indent:
                    raise Unsupported(content)
                break
            rest = content[2:].lstrip(" ") if len(content) > 1 else ""
            if not rest:
                self.i += 1
                out.append(self._value_after(indent, in_mapping=False))
                continue
            if rest.startswith("- "):
                raise Unsupported(content)
            key, sep, after = rest.partition(":")
            if sep and (not after or after[0] == " ") and _KEY.match(key):
                # "- key: value" starts a mapping indented like its first key
                child = indent + (len(content) - len(rest))
                self.lines[self.i] = (child, rest)
                out.append(self.mapping(child))
                continue
            self.i += 1
            out.append(_scalar(rest))
        return out


def _odd_space(text: str) -> bool:
    r"""Whether ``text`` has a BOM or whitespace other than space, tab and newline.

    A few substring tests for ASCII text (what Hydra writes: 0.2 us against 2.8 us for the regex on a
    240-byte config), the regex otherwise.

    >>> [_odd_space(t) for t in ("a: 1\n", "a: 1\r\n", "a: \x0c1", "a: caf\u00e9\n", "a:\u00a01")]
    [False, True, True, False, True]
    >>> _odd_space("\ufeffa: 1")
    True
    """
    if text.isascii():  # one `in` per character: any() over a tuple of them costs 3x as much
        return (
            "\r" in text
            or "\x0b" in text
            or "\x0c" in text
            or "\x1c" in text
            or "\x1d" in text
            or "\x1e" in text
            or "\x1f" in text
        )
    return "\ufeff" in text or _ODD_SPACE.search(text) is not None


def load(text: str | bytes) -> Any:
    """Parse Hydra-style YAML like ``yaml.safe_load``.

    Raises:
        Unsupported: The text is outside the fast subset (use PyYAML).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Unsupported(str(exc)) from None
    if _odd_space(text):
        # \r line endings; NEL, LS, PS (line breaks in YAML 1.1); NBSP and the like, which str.strip()
        # removes but YAML keeps
        raise Unsupported("line endings / BOM / whitespace other than space, tab and newline")
    lines = _lines(text)
    if not lines:
        return None
    if len(lines) == 1 and lines[0][0] == 0 and ":" not in lines[0][1] and not lines[0][1].startswith("-"):
        return _scalar(lines[0][1])
    parser = _Parser(lines)
    value = parser.block(lines[0][0])
    if parser.i != len(lines):
        raise Unsupported(lines[parser.i][1])
    return value
