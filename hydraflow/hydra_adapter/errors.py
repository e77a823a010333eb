"""The typed errors of a sweep: caught by type, never by their message.

All are Hydra ``CompactHydraException``s: when one reaches Hydra, it prints the message alone (no stack
trace) and the application exits with status 1.
"""

from __future__ import annotations

from hydra.errors import CompactHydraException


class SweepError(CompactHydraException):
    """A sweep that cannot run: bad syntax, a job the app's config rejects, bad sweeper settings."""


class NativeSweepError(SweepError, ValueError):
    """A call of one of Hydra's sweep functions that cannot be enumerated (``interval()`` ...)."""


class NeedsAppConfigError(NativeSweepError):
    """``glob()`` lists the options of a config group: only the app's config loader can expand it."""


class OverrideError(SweepError):
    """A job override that is not one plain Hydra override: Hydra cannot parse it, or it is still a sweep.

    Attributes:
        override: the override, as given.
    """

    def __init__(self, override: str, message: str) -> None:
        """Record the override and the message."""
        super().__init__(message)
        self.override = override


class InvalidJobError(SweepError):
    """A job that the app's config rejects (its config cannot be composed)."""


__all__ = ["InvalidJobError", "NativeSweepError", "NeedsAppConfigError", "OverrideError", "SweepError"]
