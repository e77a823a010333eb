"""Warning and error types of the analysis API.

Where HydraFlow 0.23 raised another built-in type for the same situation, the error derives from both, so that
``except`` clauses written for either keep working: a lookup that finds no run (or several) is a
:class:`ValueError` as in HydraFlow and a :class:`LookupError`; a key a run does not have is an
:class:`AttributeError` as in HydraFlow and a :class:`KeyError`.
"""

from __future__ import annotations


class CorruptRunWarning(UserWarning):
    """A run directory was skipped (or its info is incomplete) because its files are missing or broken.

    The message names the directory and what is wrong with it. Silence or escalate it with the usual
    :mod:`warnings` filters, e.g. ``warnings.simplefilter("error", CorruptRunWarning)``.
    """


class RunLoadError(ValueError):
    """A run's config cannot be read (broken YAML, not a mapping, or a value that does not fit its type)."""


class RunLookupError(ValueError, LookupError):
    """Base class of the errors raised by :meth:`RunCollection.get` and friends."""


class NoRunFoundError(RunLookupError):
    """No run matches the criteria."""


class MultipleRunsFoundError(RunLookupError):
    """Several runs match criteria that should select exactly one run."""


class MissingKeyError(AttributeError, KeyError):
    """A run has no value for a key: not in its config, its ``impl`` or its info (:meth:`Run.get`)."""

    def __str__(self) -> str:
        """The message (not quoted, as :class:`KeyError` would quote it)."""
        return str(self.args[0]) if self.args else ""
