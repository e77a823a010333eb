"""Warning and error types of the analysis API."""

from __future__ import annotations


class CorruptRunWarning(UserWarning):
    """A run directory was skipped (or its info is incomplete) because its files are missing or broken.

    The message names the directory and what is wrong with it. Silence or escalate it with the usual
    :mod:`warnings` filters, e.g. ``warnings.simplefilter("error", CorruptRunWarning)``.
    """


class RunLoadError(ValueError):
    """A single run directory given to :meth:`Run.load` cannot be loaded."""


class RunLookupError(LookupError):
    """Base class of the errors raised by :meth:`RunCollection.get` and friends."""


class NoRunFoundError(RunLookupError):
    """No run matches the criteria."""


class MultipleRunsFoundError(RunLookupError):
    """Several runs match criteria that should select exactly one run."""
