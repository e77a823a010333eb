"""Parse one sweep argument (``key=value`` in the extended syntax) into a lazy sequence of overrides."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from hydraflow.sweep.decimals import format_number, parse_number, suffix_exponent
from hydraflow.sweep.errors import SweepSyntaxError, Where
from hydraflow.sweep.limits import MAX_NESTING
from hydraflow.sweep.native import native_section
from hydraflow.sweep.numbers import check_joined, check_scaled, is_numeric, parse_range
from hydraflow.sweep.seq import Concat, Items, Joined, Mapped, NumRange, Product, Seq

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator, Sequence

HYDRA_FUNCTIONS = frozenset(
    {"choice", "range", "interval", "glob", "sort", "shuffle", "tag", "int", "float", "str", "bool"}
)
"""Names of the functions of Hydra's override grammar: a section starting with one goes to Hydra."""

_KEY_RE = re.compile(r"[A-Za-z0-9_$\-./@+]+")
_SECTION_KEY_RE = re.compile(r"\s*(\+\+|\+|~)?([A-Za-z0-9_$\-./@+]+)=")
_ID = r"[A-Za-z_$][A-Za-z0-9_$\-]*"
_DOT_PATH = rf"{_ID}(?:\.(?:{_ID}|\d+))*"
_GROUP_ID = r"[A-Za-z_][A-Za-z0-9_\-]*"
_HYDRA_KEY_RE = re.compile(rf"(?:{_GROUP_ID}(?:/{_GROUP_ID})+|{_DOT_PATH})(?:@(?:{_DOT_PATH})?)?")
"""A key of Hydra's override grammar: ``a.b.c``, ``group/sub``, ``group@package``."""


def _check_key(ctx: Where, key: str, col: int) -> str:
    if not _HYDRA_KEY_RE.fullmatch(key):
        raise ctx.error(col, f"{key!r} is not a valid Hydra key (a.b.c, group/name or group@package)")
    return key


_TAG_RE = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*):")
_FUNC_TAIL_RE = re.compile(r"(?<![A-Za-z0-9_$\-])([A-Za-z_]+)\s*$")
_RANGE_START = frozenset("0123456789+-.:")
_ESCAPABLE = frozenset("()[]{}:=, \t\\")
"""Characters Hydra's grammar lets a backslash escape in an unquoted value."""
_UNQUOTED_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ \t:/-\\+.$%*@?|,")
"""Characters Hydra's grammar accepts in an unquoted value (besides quotes, brackets, braces, escapes)."""


_ESCAPE_OR_CHAR = re.compile(r"\\[()\[\]{}:=, \t\\]|(.)", re.DOTALL)
"""One escape sequence Hydra accepts (no group), or any other single character (group 1)."""


def _check_unquoted(ctx: Where, tok: Token) -> None:
    """Reject characters Hydra's override grammar would reject, at their column."""
    for match in _ESCAPE_OR_CHAR.finditer(tok.text):
        c = match.group(1)
        if c is None or c in _UNQUOTED_OK:
            continue
        hint = (
            " or escape it as \\=; a '|' section names its key right after the '|': a=1|b=2"
            if c == "="
            else ""
        )
        raise ctx.error(
            tok.col + match.start(),
            f"character {c!r} is not allowed in an unquoted value by Hydra's grammar; "
            f"quote the value (a='...'){hint}",
        )


TokenKind = Literal["(", ")", ",", "|", "text", "atom"]


@dataclass
class Token:
    """A lexical token of a value, with its absolute column in the argument."""

    kind: TokenKind
    text: str
    col: int
    solid: bool = False


@dataclass
class Parsed:
    """One argument, parsed: its overrides as a lazy sequence, its keys and its pairing tag."""

    index: int
    text: str
    overrides: Seq[str]
    keys: list[tuple[str, int]] = field(default_factory=list)
    tag: str | None = None
    tag_col: int = 0
    key_col: int = 0
    display_key: str = ""


# ---------------------------------------------------------------------------------------------- lexer


def _scan_quoted(ctx: Where, s: str, i: int, base: int) -> int:
    """Return the index just past the quoted string starting at ``s[i]``."""
    quote = s[i]
    j = i + 1
    while j < len(s):
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c == quote:
            return j + 1
        j += 1
    raise ctx.error(base + i, f"unterminated quoted string (missing closing {quote})")


def _too_deep(ctx: Where, col: int) -> SweepSyntaxError:
    return ctx.error(col, f"nested more than {MAX_NESTING} levels deep (parentheses, brackets and braces)")


def _bare_chars(
    ctx: Where, s: str, i: int, base: int, escapable: Collection[str] | None = None
) -> Iterator[tuple[int, str]]:
    """``(index, character)`` from ``s[i]`` on, leaving out quoted strings and backslash escapes.

    ``escapable``: the characters a backslash escapes (``None``: any character).
    """
    while i < len(s):
        c = s[i]
        if c == "\\" and (escapable is None or s[i + 1 : i + 2] in escapable) and i + 1 < len(s):
            i += 2
        elif c in "'\"":
            i = _scan_quoted(ctx, s, i, base)
        else:
            yield i, c
            i += 1


def _scan_nested(ctx: Where, s: str, i: int, base: int, outer: int = 0) -> int:
    """Return the index just past the bracket/brace group starting at ``s[i]`` (inside ``outer`` levels)."""
    closing = {"[": "]", "{": "}"}
    stack: list[tuple[str, int]] = []
    for j, c in _bare_chars(ctx, s, i, base):
        if c in "[{":
            if outer + len(stack) >= MAX_NESTING:
                raise _too_deep(ctx, base + j)
            stack.append((closing[c], j))
        elif c in "]}":
            if not stack or stack[-1][0] != c:
                expected = f" (expected {stack[-1][0]!r})" if stack else ""
                raise ctx.error(base + j, f"unbalanced {c!r}{expected}")
            stack.pop()
            if not stack:
                return j + 1
    opener = s[stack[-1][1]] if stack else s[i]
    col = stack[-1][1] if stack else i
    raise ctx.error(base + col, f"unclosed {opener!r}")


def _scan_interpolation(ctx: Where, s: str, i: int, base: int) -> int:
    """Return the index just past the ``${...}`` starting at ``s[i]`` (Hydra: no ``}`` inside, not empty)."""
    end = s.find("}", i + 2)
    if end < 0:
        raise ctx.error(base + i, "unclosed '${'")
    if end == i + 2:
        raise ctx.error(base + i, "empty interpolation '${}'")
    return end + 1


def _split_top(ctx: Where, text: str, base: int, sep: str) -> list[tuple[str, int]]:
    """Split ``text`` at top-level ``sep`` (outside quotes, brackets, braces); pieces with their columns."""
    pieces: list[tuple[str, int]] = []
    depth = 0
    start = 0
    for i, c in _bare_chars(ctx, text, 0, base, _ESCAPABLE):
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == sep and depth == 0:
            pieces.append((text[start:i], base + start))
            start = i + 1
            if sep == ":":  # a dict entry: only the first ':' separates key and value
                break
    pieces.append((text[start:], base + start))
    return pieces


def _check_element(ctx: Where, text: str, col: int) -> None:
    """Check one element of a Hydra list or dict (``col`` = column of ``text``)."""
    stripped = text.strip()
    scol = col + len(text) - len(text.lstrip())
    if not stripped:
        raise ctx.error(col, "empty element")
    i = 0
    while i < len(stripped):
        c = stripped[i]
        if c == "\\" and stripped[i + 1 : i + 2] in _ESCAPABLE and i + 1 < len(stripped):
            i += 2
        elif c in "'\"[{":
            j = _scan_quoted(ctx, stripped, i, scol) if c in "'\"" else _scan_nested(ctx, stripped, i, scol)
            if i != 0 or j != len(stripped):
                raise ctx.error(scol + i, f"{_describe(c)} cannot be joined with other text")
            if c in "[{":
                _check_container(ctx, stripped, scol)
            i = j
        elif c == "$" and stripped.startswith("${", i):
            i = _scan_interpolation(ctx, stripped, i, scol)
        elif c not in _UNQUOTED_OK or c == ",":
            raise ctx.error(scol + i, f"character {c!r} is not allowed here by Hydra's grammar; quote it")
        else:
            i += 1


def _check_container(ctx: Where, text: str, col: int) -> None:
    """Check a Hydra list ``[...]`` or dict ``{...}`` value the way Hydra's grammar would."""
    inner = text[1:-1]
    if not inner.strip():
        return
    for element, ecol in _split_top(ctx, inner, col + 1, ","):
        if text[0] == "[":
            _check_element(ctx, element, ecol)
            continue
        entry = _split_top(ctx, element, ecol, ":")
        if len(entry) == 1:
            raise ctx.error(ecol + len(element), "expected 'key: value' in a dict")
        if not entry[0][0].strip():
            raise ctx.error(ecol, "expected 'key: value' in a dict")
        key, kcol = entry[0]
        for k, c in enumerate(key):
            if c not in _UNQUOTED_OK or c in "$,":
                raise ctx.error(kcol + k, f"character {c!r} is not allowed in a dict key")
        _check_element(ctx, entry[1][0], entry[1][1])


def tokenize(ctx: Where, value: str, base: int) -> list[Token]:  # noqa: C901
    """Split ``value`` (starting at column ``base`` of the argument) into tokens."""
    tokens: list[Token] = []
    text_start: int | None = None
    depth = 0
    i = 0

    def flush(end: int) -> None:
        nonlocal text_start
        if text_start is not None:
            tokens.append(Token("text", value[text_start:end], base + text_start))
            text_start = None

    while i < len(value):
        c = value[i]
        if c in "(),|":
            flush(i)
            if c == "(":
                depth += 1
                if depth > MAX_NESTING:
                    raise _too_deep(ctx, base + i)
            elif c == ")":
                depth = max(0, depth - 1)
            tokens.append(Token(c, c, base + i))  # type: ignore[arg-type]
            i += 1
        elif c in "'\"":
            flush(i)
            j = _scan_quoted(ctx, value, i, base)
            tokens.append(Token("atom", value[i:j], base + i, solid=True))
            i = j
        elif c == "$" and value.startswith("${", i):
            flush(i)
            j = _scan_interpolation(ctx, value, i, base)
            tokens.append(Token("atom", value[i:j], base + i))
            i = j
        elif c in "[{":
            flush(i)
            j = _scan_nested(ctx, value, i, base, depth)
            _check_container(ctx, value[i:j], base + i)
            tokens.append(Token("atom", value[i:j], base + i, solid=True))
            i = j
        elif c in "]}":
            raise ctx.error(base + i, f"unbalanced {c!r}")
        else:
            if text_start is None:
                text_start = i
            i += 2 if c == "\\" and value[i + 1 : i + 2] in _ESCAPABLE else 1
    flush(len(value))
    return tokens


# ---------------------------------------------------------------------------------------------- values


def _join(parts: tuple[str, ...]) -> str:
    return "".join(parts)


class _Parser:
    """Recursive descent over the tokens of one section."""

    def __init__(self, ctx: Where, tokens: list[Token], end_col: int) -> None:
        self.ctx = ctx
        self.tokens = tokens
        self.i = 0
        self.end_col = end_col

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def col(self) -> int:
        tok = self.peek()
        return tok.col if tok else self.end_col

    def parse_list(self, opener: Token | None) -> Seq[str]:
        items: list[Seq[str]] = []
        while True:
            items.append(self.parse_item(top=opener is None))
            tok = self.peek()
            if tok is None:
                if opener is not None:
                    raise self.ctx.error(opener.col, "unclosed '('")
                break
            if tok.kind == ",":
                self.i += 1
                continue
            if tok.kind == ")":
                if opener is None:
                    raise self.ctx.error(tok.col, "unbalanced ')'")
                break
            raise self.ctx.error(tok.col, f"unexpected {tok.text!r}")  # pragma: no cover
        return items[0] if len(items) == 1 else Concat(items)

    def parse_item(self, *, top: bool) -> Seq[str]:
        start_col = self.col()
        item = self._item(top=top)
        item.col = start_col
        return item

    def _item(self, *, top: bool) -> Seq[str]:  # noqa: C901, PLR0912, PLR0915
        start_col = self.col()
        parts: list[Token | Seq[str]] = []
        group_cols: list[int] = []
        while (tok := self.peek()) is not None and tok.kind not in {",", ")"}:
            if tok.kind == "(":
                nxt = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else None
                if nxt is not None and nxt.kind == ")":
                    raise self.ctx.error(tok.col, "empty parentheses")
                if parts and isinstance(parts[-1], Token) and parts[-1].kind == "text":
                    m = _FUNC_TAIL_RE.search(parts[-1].text)
                    if m and m.group(1) in HYDRA_FUNCTIONS:
                        raise self.ctx.error(
                            parts[-1].col + m.start(1),
                            f"Hydra function {m.group(1)}() must be the whole value of a section "
                            f"(separate it with '|', e.g. a=1,2|{m.group(1)}(...))",
                        )
                self.i += 1
                inner = self.parse_list(tok)
                self.i += 1  # the ')'
                parts.append(inner)
                group_cols.append(tok.col)
            elif tok.kind == "|":
                raise self.ctx.error(
                    tok.col, "'|' separates sections at the top level only, not inside '(...)'"
                )
            else:
                if tok.kind == "text":
                    _check_unquoted(self.ctx, tok)
                parts.append(tok)
                self.i += 1
        # strip surrounding whitespace
        if parts and isinstance(parts[0], Token) and parts[0].kind == "text":
            t = parts[0]
            stripped = t.text.lstrip()
            parts[0] = Token("text", stripped, t.col + len(t.text) - len(stripped))
            if not stripped:
                parts.pop(0)
        if parts and isinstance(parts[-1], Token) and parts[-1].kind == "text":
            t = parts[-1]
            parts[-1] = Token("text", t.text.rstrip(), t.col)
            if not parts[-1].text:
                parts.pop()
        if not parts:
            raise self.ctx.error(start_col, "empty value")
        if not group_cols:
            toks = [p for p in parts if isinstance(p, Token)]
            if len(toks) == 1:
                t = toks[0]
                if t.kind == "text" and ":" in t.text and t.text[0] in _RANGE_START:
                    return parse_range(self.ctx, t.text, t.col)
                return Items([t.text], solid=t.solid)
            for t in toks:
                if t.solid:
                    raise self.ctx.error(t.col, f"{_describe(t.text)} cannot be joined with other text")
            return Items(["".join(t.text for t in toks)])
        seqs: list[Seq[str]] = []
        groups = iter(group_cols)
        for p in parts:
            if isinstance(p, Token):
                if p.solid:
                    raise self.ctx.error(p.col, f"{_describe(p.text)} cannot be joined with other text")
                seqs.append(Items([p.text]))
            else:
                gcol = next(groups)
                if len(parts) > 1 and getattr(p, "solid", False):
                    raise self.ctx.error(
                        gcol, "a quoted string, list or dict cannot be joined with other text"
                    )
                seqs.append(p)
        combined: Seq[str] = seqs[0] if len(seqs) == 1 else Product(seqs, _join)
        if not top or isinstance(combined, NumRange):  # a range's values are normalised numbers already
            return combined
        joined = Joined(combined, start_col)
        check_joined(self.ctx, joined)
        return joined


def _describe(token: str) -> str:
    return {"'": "a quoted string", '"': "a quoted string", "[": "a list", "{": "a dict"}.get(
        token[0], "this value"
    )


# ---------------------------------------------------------------------------------------------- argument


def _split_sections(tokens: list[Token]) -> list[list[Token]]:
    sections: list[list[Token]] = [[]]
    depth = 0
    for tok in tokens:
        if tok.kind == "(":
            depth += 1
        elif tok.kind == ")":
            depth -= 1
        if tok.kind == "|" and depth <= 0:
            sections.append([])
        else:
            sections[-1].append(tok)
    return sections


@dataclass(frozen=True)
class _scale_fn:  # noqa: N801 - used like a function; a class so that sweeps pickle
    exponent: int

    def __call__(self, value: str) -> str:
        return format_number(parse_number(value, self.exponent))


@dataclass(frozen=True)
class _with_key:  # noqa: N801 - used like a function; a class so that sweeps pickle
    prefix: str

    def __call__(self, value: str) -> str:
        return self.prefix + value


_PLAIN_LIST_RE = re.compile(r"[A-Za-z0-9_ \t/\-+.%*?]+(?:,[A-Za-z0-9_ \t/\-+.%*?]+)*")
"""A comma list of plain values: no range, group, quote, bracket, interpolation, escape, tag or ``|``."""


def _plain_list(value: str, base: int) -> Items[str] | None:
    """``value`` as a list of plain values (read in one pass), or ``None`` when it needs the grammar.

    >>> _plain_list(" 1, x ,2.5", 2).values, _plain_list(" 1, x ,2.5", 2).cols
    (('1', 'x', '2.5'), (3, 6, 9))
    >>> _plain_list("1,,2", 2) is None, _plain_list("1:3", 2) is None
    (True, True)
    """
    if not _PLAIN_LIST_RE.fullmatch(value):
        return None
    pieces = value.split(",")
    values = [p.strip() for p in pieces]
    if not all(values):
        return None
    starts = itertools.accumulate((len(p) + 1 for p in pieces[:-1]), initial=base)
    cols = tuple(start + len(p) - len(p.lstrip()) for start, p in zip(starts, pieces, strict=True))
    items = Items(values, cols=cols)
    items.col = cols[0]
    return items


def _split_key_suffix(key: str) -> tuple[str, int] | None:
    """``("lr", -3)`` for ``lr/m``; ``None`` when the last path segment is no SI prefix or exponent."""
    if "/" not in key or "@" in key:
        return None
    base, _, last = key.rpartition("/")
    e = suffix_exponent(last)
    if e is None or not base:
        return None
    return base, e


def parse_argument(text: str, index: int = 0, native: Callable[[str], Sequence[str]] | None = None) -> Parsed:
    """Parse one ``key=value`` argument of the extended syntax into a lazy sequence of plain overrides.

    >>> list(parse_argument("a=1:3").overrides)
    ['a=1', 'a=2', 'a=3']
    >>> list(parse_argument("model=(cnn,vit)_(small,large)").overrides)
    ['model=cnn_small', 'model=cnn_large', 'model=vit_small', 'model=vit_large']
    >>> list(parse_argument("lr/m=1,2|b=3").overrides)
    ['lr=1e-3', 'lr=2e-3', 'b=3']
    >>> parse_argument("lr=@w:1,2").tag
    'w'
    """
    ctx = Where(text, index)
    m = re.match(r"(\+\+|\+|~)?", text)
    prefix = m.group(0) if m else ""
    eq = text.find("=")
    if eq < 0:
        key = text[len(prefix) :]
        if not key:
            raise ctx.error(len(prefix), "missing key")
        if prefix == "~" and _KEY_RE.fullmatch(key):
            _check_key(ctx, key, 1)
            return Parsed(index, text, Items([text]), [(key, 1)], key_col=1, display_key=text)
        raise ctx.error(len(text), "expected key=value" + (" (or ~key)" if not prefix else ""))
    key = text[len(prefix) : eq]
    if not key:
        raise ctx.error(len(prefix), "missing key before '='")
    if not _KEY_RE.fullmatch(key):
        bad = next((i for i, c in enumerate(key) if not _KEY_RE.fullmatch(c)), 0)
        raise ctx.error(len(prefix) + bad, f"invalid character {key[bad]!r} in key")
    value = text[eq + 1 :]
    base = eq + 1
    parsed = Parsed(index, text, Items([]), key_col=len(prefix), display_key=prefix + key)
    tm = _TAG_RE.match(value)
    if tm:
        parsed.tag = tm.group(1)
        parsed.tag_col = base
        base += tm.end()
        value = value[tm.end() :]
        if not value:
            raise ctx.error(base, f"empty value after pairing tag @{parsed.tag}:")
    elif not value.strip():  # `key=`: Hydra's empty value
        parsed.overrides = Items([text[:base]])
        parsed.keys.append((_check_key(ctx, key, len(prefix)), len(prefix)))
        return parsed
    plain = _plain_list(value, base)
    if plain is not None:  # the common large case, without the general tokenizer: a=0,1,2,...
        _finish(ctx, parsed, [_Section(prefix, key, len(prefix), plain, None)])
        return parsed
    tokens = tokenize(ctx, value, base)
    sections = _split_sections(tokens)
    bars = [t.col for t in tokens if t.kind == "|"]
    records = [
        _section(ctx, native, tokens_n, n, bars, base, (prefix, key, len(prefix)))
        for n, tokens_n in enumerate(sections)
    ]
    _finish(ctx, parsed, records)
    return parsed


def _section(  # noqa: PLR0917
    ctx: Where,
    native: Callable[[str], Sequence[str]] | None,
    section: list[Token],
    n: int,
    bars: list[int],
    base: int,
    inherited: tuple[str, str, int],
) -> _Section:
    """Parse section ``n`` (between ``|`` bars) of an argument's value."""
    start = bars[n - 1] + 1 if n > 0 else base
    end = bars[n] if n < len(bars) else len(ctx.text)
    if not section or all(t.kind == "text" and not t.text.strip() for t in section):
        if not bars:
            raise ctx.error(start, "empty value")
        if n == 0:
            raise ctx.error(bars[0], "leading '|'")
        if n == len(bars):
            raise ctx.error(bars[-1], "trailing '|'")
        raise ctx.error(start, "empty '|' section")
    prefix, key, key_col = inherited
    first = section[0]
    if n > 0 and first.kind == "text":
        if _TAG_RE.match(first.text.lstrip()):
            raise ctx.error(first.col, "a pairing tag @name: must start the argument's value")
        km = _SECTION_KEY_RE.match(first.text)
        if km:  # the section names its own key
            prefix, key, key_col = km.group(1) or "", km.group(2), first.col + km.start(2)
            start = first.col + km.end()
            rest = first.text[km.end() :]
            section = ([Token("text", rest, start)] if rest else []) + section[1:]
            if not section:
                raise ctx.error(start, "empty value")
    text = ctx.text[start:end]
    fm = re.match(r"\s*([A-Za-z_]+)\s*\(", text)
    if fm and fm.group(1) in HYDRA_FUNCTIONS:  # the whole section goes to Hydra
        values, out = native_section(ctx, native, prefix + key, text, (start, start + fm.start(1)))
        return _Section(prefix, key, key_col, values, out)
    return _Section(prefix, key, key_col, _Parser(ctx, section, end).parse_list(None), None)


def _finish(ctx: Where, parsed: Parsed, records: list[_Section]) -> None:
    """Apply key suffixes, prepend keys, record the keys: the argument's overrides."""
    # `key/SUFFIX` scales only if every value given to that key in this argument is a number
    numeric: dict[str, bool] = {}
    for r in records:
        if _split_key_suffix(r.key) is not None:
            numeric[r.key] = numeric.get(r.key, True) and r.values is not None and is_numeric(ctx, r.values)
    seqs: list[Seq[str]] = []
    for r in records:
        split = _split_key_suffix(r.key)
        if split and numeric[r.key] and r.values is not None:
            check_scaled(ctx, r.values, split[1])
            seqs.append(Mapped(Mapped(r.values, _scale_fn(split[1])), _with_key(f"{r.prefix}{split[0]}=")))
            parsed.keys.append((_check_key(ctx, split[0], r.key_col), r.key_col))
            continue
        if r.native_out is not None:
            seqs.append(r.native_out)
        elif r.values is not None:  # pragma: no branch - a record has values or native output
            seqs.append(Mapped(r.values, _with_key(f"{r.prefix}{r.key}=")))
        parsed.keys.append((_check_key(ctx, r.key, r.key_col), r.key_col))
    parsed.overrides = seqs[0] if len(seqs) == 1 else Concat(seqs)


@dataclass
class _Section:
    prefix: str
    key: str
    key_col: int
    values: Seq[str] | None  # None: a native expansion whose outputs are not plain `key=value` strings
    native_out: Seq[str] | None  # the overrides as Hydra wrote them (None: `key=value` from `values`)


__all__ = ["HYDRA_FUNCTIONS", "Parsed", "parse_argument", "tokenize"]
