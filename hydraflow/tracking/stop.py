"""Stop signals during a job: its MLflow run ends ``KILLED``, with an end time, before the process dies.

What each launcher sends to a running job, and what :class:`StopGuard` makes of it:

- ``hydraflow_local``: Ctrl-C at a terminal (SIGINT to every process of the group), then SIGTERM from the
  pool to every child still running, and SIGKILL ``kill_grace_s`` later; ``timeout_s``: SIGTERM, then
  SIGKILL. SIGINT raises ``KeyboardInterrupt`` in the job, SIGTERM (default action: die) raises
  :class:`JobStopped`; the run is closed ``KILLED`` and the process then dies by that signal, as it would have
  without hydraflow.
- SLURM (``scancel``, the controller's Ctrl-C, a node or time limit): SIGCONT + SIGTERM, SIGKILL after
  ``KillWait``. submitit ignores SIGTERM in its tasks (preemption sends it before the USR2 that requeues), so
  the job is not interrupted: the run is marked ``KILLED`` at once, from a helper thread, and the job goes
  on. If the job then finishes after all, its run ends ``FINISHED``.
- submitit's USR2 (time limit, preemption) and PBS's SIGTERM (``qdel``): submitit's handler checkpoints,
  requeues and raises ``SystemExit``; the run is closed ``KILLED`` and a requeued job resumes it.

A signal that arrives while the run is being closed is ignored: closing is short, and the launchers follow
up with SIGKILL. Because the run is marked ``KILLED`` before anything slow is uploaded, a SIGKILL during the
upload still leaves ``KILLED`` with an end time; a rerun resumes any run that is not ``FINISHED``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, NoReturn

from typing_extensions import Self

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType, TracebackType

__all__ = ["STOP_SIGNALS", "JobStopped", "StopGuard", "die_by"]

log = logging.getLogger("hydraflow")

#: The signals a launcher or a scheduler sends to stop a job (those this platform has).
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGUSR2") if hasattr(signal, name)
)


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15.

    >>> signal_name(15), signal_name(2)
    ('SIGTERM', 'SIGINT')
    """
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class JobStopped(BaseException):
    """A stop signal whose default action ends the process (SIGTERM, SIGHUP, SIGUSR2) reached the job."""

    def __init__(self, signum: int) -> None:
        """Remember the signal."""
        super().__init__(f"stopped by {signal_name(signum)}")
        self.signum = signum


class StopGuard:
    """While active (main thread only), a stop signal interrupts the job or marks its run (see the module).

    ``mark_killed`` marks the run ``KILLED`` with an end time (one store call); it runs in a helper thread
    when the job is not interrupted (submitit's SIGTERM): never inside the signal handler, whose thread may
    be holding a lock the store needs.
    """

    def __init__(self, mark_killed: Callable[[], None]) -> None:
        """Prepare the guard (nothing is installed before ``__enter__``)."""
        self.mark_killed = mark_killed
        self.signum: int | None = None  # the first stop signal received
        self.closing = False  # the run is being closed: signals are ignored
        self._previous: dict[int, Any] = {}
        self._marker: threading.Thread | None = None

    def __enter__(self) -> Self:
        """Install the handlers (not outside the main thread, where Python cannot)."""
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in STOP_SIGNALS:
            previous = signal.getsignal(signum)
            if previous in {signal.SIG_IGN, None}:  # ignored on purpose, or set outside Python: left alone
                continue
            self._previous[signum] = previous
            signal.signal(signum, self._handle)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Restore the handlers; wait for a pending mark."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()
        self.wait()

    @property
    def stopped(self) -> bool:
        """Whether a stop signal reached the job."""
        return self.signum is not None

    def wait(self, timeout: float = 30.0) -> None:
        """Wait until a mark started by a signal has reached the store (before the run's final status)."""
        marker = self._marker
        if marker is not None:
            marker.join(timeout)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.closing:
            return
        first = self.signum is None
        self.signum = signum
        previous = self._previous.get(signum)
        if previous is signal.default_int_handler:
            self.closing = True  # from here on the job unwinds: a second signal must not cut its close short
            raise KeyboardInterrupt
        if callable(previous):  # e.g. submitit's: it may return (SIGTERM ignored) or raise (requeue)
            if first:
                self._marker = threading.Thread(target=self._mark, name="hydraflow-mark-killed", daemon=True)
                self._marker.start()
            try:
                previous(signum, frame)
            except BaseException:
                self.closing = True
                raise
            return
        self.closing = True
        raise JobStopped(signum)

    def _mark(self) -> None:
        try:
            self.mark_killed()
        except Exception:  # any store error: the job's own close will try again
            log.exception("hydraflow: could not mark the run KILLED after %s", signal_name(self.signum or 0))


def die_by(signum: int) -> NoReturn:
    """End this process by ``signum`` with its default action (so the parent sees "killed by SIGTERM")."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(OSError, ValueError):
            handler.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # pragma: no cover - only if the signal is blocked
