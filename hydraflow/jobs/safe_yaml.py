"""Reading a job file's text safely: bounded YAML, plain tags only, a linear shell-style argument splitter.

A job file is read by people and written by tools; either can hand it something hostile or absurd. What is
refused here, with the line of the problem:

- a file larger than :data:`MAX_FILE_BYTES`, or with more than :data:`MAX_NODES` YAML nodes (a job file
  holds a few dozen; hundreds of thousands take minutes to compose);
- nesting deeper than :data:`MAX_DEPTH` (PyYAML composes recursively: ~500 levels exhaust the stack);
- any tag but YAML's plain ones (``!!python/object/apply:...`` is never constructed here, since only
  ``yaml.safe`` classes are used, but it is refused rather than silently read as text).

:func:`split_args` splits a string into arguments like :func:`shlex.split` (POSIX rules), in time linear in
its length (``shlex`` grows each word one character at a time: a 50 MB word takes hours).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from collections.abc import Iterator

MAX_FILE_BYTES = 4 * 1024 * 1024
"""Largest job file read (4 MiB; sweeps belong in ranges and lists, not in megabytes of values)."""

MAX_NODES = 200_000
"""Most YAML nodes (scalars, lists, mappings) in a job file."""

MAX_DEPTH = 32
"""Deepest nesting of lists and mappings (a job file needs 6)."""

PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp")
)
"""The tags YAML gives plain scalars, lists and mappings; any other tag is refused."""

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML has it (25-50x faster), else the pure-Python one; both are safe."""


class UnsafeYAML(ValueError):  # noqa: N818 - reads as what happened
    """The text is refused before or while it is composed; ``line`` (1-based) is where, when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        """Keep the message and the position."""
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def _mark(event: yaml.Event | yaml.Node) -> tuple[int | None, int | None]:
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (None, None)


def compose(text: str) -> yaml.Node | None:
    """The YAML node tree of ``text`` (``None`` for an empty document), within the limits above.

    >>> compose("jobs: {a: {run: x}}").value[0][0].value
    'jobs'
    >>> compose("a: " + "[" * 40 + "]" * 40)
    Traceback (most recent call last):
    ...
    hydraflow.jobs.safe_yaml.UnsafeYAML: nested more than 32 levels deep

    Raises:
        UnsafeYAML: for a file too large, too many nodes, too deep or with a tag that is not plain.
        yaml.YAMLError: for text that is not YAML (its problem mark says where).
    """
    size = len(text.encode("utf-8", "surrogatepass")) if len(text) * 4 > MAX_FILE_BYTES else len(text)
    if size > MAX_FILE_BYTES:
        msg = f"the job file has {size / 2**20:.1f} MiB; at most {MAX_FILE_BYTES / 2**20:.0f} MiB are read"
        raise UnsafeYAML(msg, 1)
    _prescan(yaml.parse(text, Loader=_LOADER))
    root = yaml.compose(text, Loader=_LOADER)
    if root is not None:
        _check_tags(root)
    return root


def _prescan(events: Iterator[yaml.Event]) -> None:
    """Count nodes and nesting from the event stream (iterative, unlike composing) and check explicit tags."""
    depth = nodes = 0
    for event in events:
        if isinstance(event, (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            nodes += 1
            if nodes > MAX_NODES:
                raise UnsafeYAML(f"more than {MAX_NODES:,} YAML values", *_mark(event))
            tag = getattr(event, "tag", None)
            if tag is not None and tag != "!" and _long_tag(tag) not in PLAIN_TAGS:
                raise UnsafeYAML(_tag_message(_long_tag(tag)), *_mark(event))
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise UnsafeYAML(f"nested more than {MAX_DEPTH} levels deep", *_mark(event))
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


def _long_tag(tag: str) -> str:
    return "tag:yaml.org,2002:" + tag[2:] if tag.startswith("!!") else tag


def _tag_message(tag: str) -> str:
    shown = "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag
    return (
        f"YAML tag {shown!r} is not allowed in a job file: write plain strings, numbers, lists and mappings"
    )


def _check_tags(root: yaml.Node) -> None:
    """Every node (each shared one once: aliases never multiply the work) has a plain tag."""
    seen: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.tag not in PLAIN_TAGS:
            raise UnsafeYAML(_tag_message(node.tag), *_mark(node))
        if isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                todo.extend((key, value))


# ------------------------------------------------------------------------------------------- arguments

_WS = " \t\r\n"
_WORD_RE = re.compile(r"""(?:[^ \t\r\n'"\\]+|'[^']*'|"(?:[^"\\]|\\[\s\S])*"|\\[\s\S])+""")
_PIECE_RE = re.compile(r"""[^'"\\]+|'([^']*)'|"((?:[^"\\]|\\[\s\S])*)"|\\([\s\S])""")
_DQ_ESCAPE_RE = re.compile(r"""\\([\\"])""")


def split_args(text: str) -> list[str]:
    r"""Split ``text`` into arguments as :func:`shlex.split` does (POSIX), in linear time.

    Whitespace separates arguments; single quotes keep everything; double quotes keep everything but ``\"``
    and ``\\``; a backslash outside quotes keeps the next character.

    >>> split_args(''' a 'b c' "d \\"e\\" f" g\\ h ''')
    ['a', 'b c', 'd "e" f', 'g h']
    >>> split_args("x 'unclosed")
    Traceback (most recent call last):
    ...
    ValueError: No closing quotation

    Raises:
        ValueError: for an unclosed quote or a final lone backslash (the messages of :mod:`shlex`).
    """
    out: list[str] = []
    pos = 0
    for m in _WORD_RE.finditer(text):
        if text[pos : m.start()].strip(_WS):  # an unmatched quote or a final backslash
            raise ValueError(_failure(text[pos:]))
        out.append("".join(_unquote(m.group(0))))
        pos = m.end()
    if text[pos:].strip(_WS):
        raise ValueError(_failure(text[pos:]))
    return out


def _failure(rest: str) -> str:
    """:mod:`shlex`'s message for ``rest``, which ends inside a quote or right after a backslash."""
    quote = ""
    escaped = False
    for ch in rest:
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote and ch == quote:
            quote = ""
        elif not quote and ch in "'\"":
            quote = ch
    return "No escaped character" if escaped else "No closing quotation"


def _unquote(word: str) -> Iterator[str]:
    for m in _PIECE_RE.finditer(word):
        single, double, escaped = m.groups()
        if single is not None:
            yield single
        elif double is not None:
            yield _DQ_ESCAPE_RE.sub(r"\1", double)
        elif escaped is not None:
            yield escaped
        else:
            yield m.group(0)


__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "PLAIN_TAGS",
    "UnsafeYAML",
    "compose",
    "split_args",
]
