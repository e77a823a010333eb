"""The one exception type of the sweep grammar."""

from __future__ import annotations


class SweepSyntaxError(ValueError):
    """A malformed sweep argument, with the position of the problem.

    Attributes:
        text: the offending argument, as given.
        column: 0-based column of the problem inside ``text``.
        message: what is wrong, in one sentence.
        argument: index of the argument in the list given to :func:`~hydraflow.sweep.expand`,
            or ``None`` when not known.

    ``str(error)`` is the message, the argument and a caret line under the column:

    >>> e = SweepSyntaxError("a=5:3", 2, "empty range: start 5 is above stop 3 with step 1")
    >>> print(e)
    empty range: start 5 is above stop 3 with step 1
    a=5:3
      ^
    """

    def __init__(self, text: str, column: int, message: str, argument: int | None = None) -> None:
        """Create the error; ``column`` is clamped into ``[0, len(text)]``."""
        self.text = text
        self.column = max(0, min(column, len(text)))
        self.message = message
        self.argument = argument
        super().__init__(self._render())

    def _render(self) -> str:
        return f"{self.message}\n{self.text}\n{' ' * self.column}^"

    def __str__(self) -> str:
        """Message, argument text and caret line."""
        return self._render()

    def __reduce__(self) -> tuple[type[SweepSyntaxError], tuple[str, int, str, int | None]]:
        """Pickle support (the default would call ``__init__`` with the rendered text only)."""
        return (type(self), (self.text, self.column, self.message, self.argument))

    def with_argument(self, argument: int) -> SweepSyntaxError:
        """Return a copy of this error that records the index of the argument."""
        return SweepSyntaxError(self.text, self.column, self.message, argument)


class Where:
    """The argument being parsed (its text and index): makes errors at a column of it.

    >>> Where("a=5:3", 0).error(2, "empty range").column
    2
    """

    def __init__(self, text: str, index: int | None) -> None:
        """The argument ``text``, the ``index``-th of the sweep."""
        self.text = text
        self.index = index

    def error(self, col: int, message: str) -> SweepSyntaxError:
        """A :class:`SweepSyntaxError` at column ``col`` of the argument."""
        return SweepSyntaxError(self.text, col, message, self.index)
