"""Code shared by the launcher backends: batch start-up, errors, progress display, exit-status text."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from hydra.core.utils import JobReturn
    from hydra.types import HydraContext, TaskFunction
    from omegaconf import DictConfig

log = logging.getLogger("hydraflow.launch")


class JobFailedError(RuntimeError):
    """A job ended without a normal result: crash, signal, timeout, scheduler cancellation, node failure.

    ``exit_code``: the job process's exit code when it died without a result (negative: killed by a signal).
    """

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        """The message, and the exit code of the job's process when known."""
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Batch:
    """One batch of jobs handed to a launcher by the sweeper, with what Hydra gave the launcher."""

    hydra_context: HydraContext
    task_function: TaskFunction
    config: DictConfig  # the sweep's master config
    job_overrides: Sequence[Sequence[str]]
    initial_job_idx: int  # Hydra job number of the batch's first job

    def start(self) -> Path:
        """What every launcher does before its first job: Hydra's globals and logging, the sweep directory.

        Returns the sweep directory (created, with ``hydra.sweep.mode`` applied when set).
        """
        from hydra.core.utils import configure_log, setup_globals

        config = self.config
        setup_globals()
        configure_log(config.hydra.hydra_logging, config.hydra.verbose)
        sweep_dir = Path(str(config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in config.hydra.sweep and config.hydra.sweep.mode is not None:
            sweep_dir.chmod(int(str(config.hydra.sweep.mode), 8))
        return sweep_dir

    def log_jobs(self) -> None:
        """One log line per job of the batch, as Hydra's own launchers write them (``#N : overrides``)."""
        from hydra.core.utils import filter_overrides

        for offset, overrides in enumerate(self.job_overrides):
            log.info("\t#%d : %s", self.initial_job_idx + offset, " ".join(filter_overrides(overrides)))


def run_in_sweep(
    hydra_context: HydraContext,
    task_function: TaskFunction,
    sweep_config: DictConfig,
    job_id: str,
    job_num: int,
    *,
    before_run: Callable[[DictConfig], None] | None = None,
) -> JobReturn:
    """Run one job of a sweep with Hydra's ``run_job``, numbered as Hydra's launchers number them.

    ``before_run`` gets the numbered config just before the job starts (e.g. to redirect its output).
    """
    from hydra.core.utils import run_job

    number_job(sweep_config, job_id, job_num)
    if before_run is not None:
        before_run(sweep_config)
    return run_job(
        hydra_context=hydra_context,
        task_function=task_function,
        config=sweep_config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


def number_job(sweep_config: DictConfig, job_id: str, job_num: int) -> None:
    """Set ``hydra.job.id`` and ``hydra.job.num`` of a job's config, as Hydra's launchers do."""
    from omegaconf import open_dict

    with open_dict(sweep_config):
        sweep_config.hydra.job.id = job_id
        sweep_config.hydra.job.num = job_num


def job_output_dir(sweep_config: DictConfig) -> Path:
    """A numbered job's output directory as ``run_job`` makes it (``hydra.sweep.dir``/``hydra.sweep.subdir``).

    Hydra's config is set to the job's first (``${hydra:...}`` interpolations), as ``run_job`` does.
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    HydraConfig.instance().set_config(sweep_config)
    sweep_dir = Path(str(OmegaConf.select(sweep_config, "hydra.sweep.dir")))
    return (sweep_dir / str(OmegaConf.select(sweep_config, "hydra.sweep.subdir"))).absolute()


def redirect(path: Path, fd: int) -> None:
    """Send file descriptor ``fd`` (1: stdout, 2: stderr) to the end of ``path`` (created with its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, fd)
    os.close(target)


def plural(count: int, word: str, suffix: str = "s") -> str:
    """``count word`` with the plural suffix when needed.

    >>> plural(1, "job"), plural(3, "job"), plural(2, "batch", "es")
    ('1 job', '3 jobs', '2 batches')
    """
    return f"{count} {word}{'' if count == 1 else suffix}"


def array_id(job_id: str) -> str:
    """The array part of a submitit job id (``"12_3"`` -> ``"12"``; ``"12"`` -> ``"12"``).

    >>> array_id("12_3"), array_id("12"), array_id("124.pbs01_7")
    ('12', '12', '124.pbs01')
    """
    base, sep, index = job_id.rpartition("_")
    return base if sep and index.isdigit() else job_id


def first_error_line(ret: JobReturn) -> str:
    """The first line of a failed job's error, for the ``#N FAILED: ...`` log line."""
    value = ret._return_value  # noqa: SLF001
    text = f"{type(value).__name__}: {value}" if isinstance(value, BaseException) else repr(value)
    lines = text.strip().splitlines()
    return lines[0] if lines else text


def failure_line(job_num: int, ret: JobReturn) -> str:
    """``#N FAILED: <first line of the error> (log: <job dir>/stderr.log)``: one line per failed job.

    The log is named when the job got as far as its directory (``ret.hydra_cfg``) and left a ``stderr.log``
    there, unless the error names its log already.
    """
    line = f"#{job_num} FAILED: {first_error_line(ret)}"
    if "(log: " in line or ret.hydra_cfg is None:
        return line
    with contextlib.suppress(Exception):  # a config without the runtime node: no log to name
        path = Path(str(ret.hydra_cfg.hydra.runtime.output_dir)) / "stderr.log"
        if path.exists():
            line += f" (log: {path})"
    return line


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
