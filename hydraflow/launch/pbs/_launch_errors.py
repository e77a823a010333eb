"""How ``hydraflow_pbs`` reports a batch PBS refused: one line naming the cause, exit status 1."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from hydra.errors import CompactHydraException

if TYPE_CHECKING:
    from collections.abc import Iterator


class PBSLaunchError(CompactHydraException):
    """A PBS parameter or path the executor refuses, or a job ``qsub`` refused (Hydra prints the message)."""


@contextlib.contextmanager
def reported_briefly() -> Iterator[None]:
    """Turn the PBS executor's refusals into :class:`PBSLaunchError`; anything else passes unchanged.

    Usable as a decorator of the launcher's ``launch``. Nothing is left queued: the executor removes what it
    wrote for a refused submission, and the batch loop cancels the arrays already submitted.
    """
    try:
        yield
    except Exception as exc:
        from hydraflow.launch.pbs._executor import PBSSubmissionError
        from hydraflow.launch.pbs._script import PBSConfigError

        if isinstance(exc, PBSConfigError | PBSSubmissionError):
            raise PBSLaunchError(f"hydraflow_pbs: {exc}") from None
        raise
