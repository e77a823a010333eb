"""Code shared by the launcher backends: errors, progress display, exit-status text, CPU count."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from typing import TextIO

log = logging.getLogger("hydraflow.launch")


class JobFailedError(RuntimeError):
    """A job ended without a normal result: crash, signal, timeout, scheduler cancellation, node failure."""


def usable_cpus() -> int:
    """Number of CPU cores this process may run on (affinity mask when the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def describe_exit(code: int) -> str:
    """Human-readable text for an exit code as returned by ``os.waitstatus_to_exitcode``.

    >>> describe_exit(0)
    'exit code 0'
    >>> describe_exit(-11)
    'killed by signal SIGSEGV (11)'
    """
    if code >= 0:
        return f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = "unknown signal"
    return f"killed by signal {name} ({-code})"


def format_duration(seconds: float) -> str:
    """Short ``h:mm:ss`` / ``m:ss`` text.

    >>> format_duration(5.2)
    '0:05'
    >>> format_duration(3725)
    '1:02:05'
    """
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Done / failed / running / ETA: a live line on a terminal, or log lines at most every few seconds.

    ``mode``: ``auto`` (a live line when ``stream`` is a terminal, log lines otherwise), ``bar``, ``log`` or
    ``none``.
    """

    redraw_s = 0.1

    def __init__(
        self,
        total: int,
        *,
        mode: str = "auto",
        label: str = "hydraflow",
        stream: TextIO | None = None,
        log_every_s: float = 5.0,
    ) -> None:
        """Start counting ``total`` jobs."""
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        if mode == "auto":
            isatty = getattr(self.stream, "isatty", None)
            mode = "bar" if isatty is not None and isatty() else "log"
        self.mode = mode
        self.done = 0
        self.failed = 0
        self.running = 0
        self.started = time.monotonic()
        self.log_every_s = log_every_s
        self._last_draw = 0.0
        self._last_log = self.started
        self._drawn = False

    def text(self) -> str:
        """The status line, e.g. ``12/200 done, 1 failed, 2 running, 0:03 elapsed, ETA 0:45``."""
        elapsed = time.monotonic() - self.started
        parts = [f"{self.done}/{self.total} done"]
        parts.append(f"{self.failed} failed")
        parts.append(f"{self.running} running")
        parts.append(f"{format_duration(elapsed)} elapsed")
        if 0 < self.done < self.total:
            eta = elapsed / self.done * (self.total - self.done)
            parts.append(f"ETA {format_duration(eta)}")
        return f"{self.label}: " + ", ".join(parts)

    def update(self, *, running: int | None = None) -> None:
        """Record the number of running jobs and redraw if it is time to."""
        if running is not None:
            self.running = running
        self._emit(force=False)

    def job_done(self, *, failed: bool, running: int | None = None) -> None:
        """Count one finished job."""
        self.done += 1
        self.failed += int(failed)
        if running is not None:
            self.running = running
        self._emit(force=self.done == self.total)

    def _emit(self, *, force: bool) -> None:
        now = time.monotonic()
        if self.mode == "bar":
            if force or now - self._last_draw >= self.redraw_s:
                self.stream.write("\r\x1b[K" + self.text())
                self.stream.flush()
                self._last_draw = now
                self._drawn = True
        elif self.mode == "log" and (force or now - self._last_log >= self.log_every_s):
            log.info("%s", self.text())
            self._last_log = now

    def close(self) -> None:
        """End the live line (the terminal cursor goes to a fresh line)."""
        if self.mode == "bar" and self._drawn:
            self.stream.write("\r\x1b[K" + self.text() + "\n")
            self.stream.flush()
