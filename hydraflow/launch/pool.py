"""The forked process pool: one process per Hydra job, at most ``workers`` at a time.

Used by ``hydraflow_local`` (the pool runs the whole batch on this machine) and by the packed array tasks of
``hydraflow_slurm``/``hydraflow_pbs`` (each task runs its jobs in a pool inside its allocation,
:mod:`hydraflow.launch.packing`).

The parent (a Hydra application, or a packed task that restored one) forks one child per job. The child gets
its job config from a :class:`~hydraflow.hydra_adapter.compose.JobComposer` (the parent composes the config
once per combination of config groups before forking; the child applies its value overrides to its
copy-on-write copy — the same config ``config_loader.load_sweep_config`` would return), takes its
:class:`Slot` (CPU affinity, GPU environment), runs the job with Hydra's ``run_job`` and sends the pickled
:class:`~hydra.core.utils.JobReturn` back through a pipe, preceded by its job directory. A child that dies
without sending a result (segfault, ``os._exit``, OOM kill, timeout) becomes a ``FAILED`` JobReturn whose
error names the exit code or signal and the job's log; the other jobs go on. No threads are used in the
parent (forking a threaded process is unsafe), so the pool is a single ``selectors`` loop over the result
pipes and, where the kernel has them, pidfds.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import selectors
import signal
import sys
import time
import traceback
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from hydra.core.utils import JobReturn, JobStatus

from hydraflow.launch import remote
from hydraflow.launch.common import (
    JobFailedError,
    Progress,
    describe_exit,
    failure_line,
    job_output_dir,
    redirect,
    run_in_sweep,
)
from hydraflow.launch.dedup import warm_up
from hydraflow.launch.payload import dumps, error_payload, return_payload, unpickle_return

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from hydra.types import HydraContext, TaskFunction
    from omegaconf import DictConfig

    from hydraflow.hydra_adapter.compose import JobComposer

log = logging.getLogger(__name__)

_READ_SIZE = 1 << 16
_POLL_S = 0.05  # wake-up period when the kernel has no pidfd_open
_HEADER_END = b"\0"  # the child's job directory comes first in its pipe, ended by a NUL byte


@dataclass(frozen=True)
class Slot:
    """What one running job gets: the CPUs it is pinned to and environment variables (its GPUs).

    A pool with slots runs at most one job per slot; a job keeps its slot until it ends.
    """

    cpus: frozenset[int] | None = None  # os.sched_setaffinity in the child; None: inherit the parent's
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PoolSettings:
    """How the pool runs its jobs."""

    workers: int  # jobs at once (with slots: at most one per slot)
    timeout_s: float | None = None  # per-job wall-clock limit
    kill_grace_s: float = 5.0  # SIGTERM -> SIGKILL
    redirect_output: bool = True  # stdout.log / stderr.log in each job directory
    progress: str = "auto"  # Progress mode
    label: str = "hydraflow_local"  # name in log lines and the progress display


@dataclass
class _Child:
    job_num: int  # Hydra job number
    overrides: list[str]
    pid: int
    rfd: int
    pidfd: int | None
    started: float
    slot: int | None
    chunks: list[bytes] = field(default_factory=list)
    eof: bool = False
    exited: bool = False
    wait_status: int = 0
    stop_reason: str | None = None  # why the launcher stopped it (timeout, interrupt)
    term_sent: float | None = None
    kill_sent: bool = False


class Pool:
    """Run jobs in forked processes, ``settings.workers`` at a time (see the module docstring).

    ``composer``: a fresh (not yet planned) composer for the master config. ``slots``: what each running job
    gets (CPUs, GPU environment); ``job_id(num)``: the job's ``hydra.job.id``; ``on_start(num)`` /
    ``on_result(num, ret)``: called in the parent when a job's process starts / when its result is in;
    ``child_signals``: signal dispositions set in each child before its job runs.
    """

    def __init__(
        self,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        composer: JobComposer,
        settings: PoolSettings,
        *,
        slots: Sequence[Slot] | None = None,
        job_id: Callable[[int], str] = str,
        on_start: Callable[[int], None] | None = None,
        on_result: Callable[[int, JobReturn], None] | None = None,
        child_signals: Mapping[int, Any] | None = None,
    ) -> None:
        """Prepare the pool (nothing is started yet)."""
        self.hydra_context = hydra_context
        self.task_function = task_function
        self.composer = composer
        self.settings = settings
        self.slots = list(slots) if slots else None
        self.job_id = job_id
        self.on_start = on_start
        self.on_result = on_result
        self.child_signals = dict(child_signals or {})
        self.workers = len(self.slots) if self.slots else settings.workers
        self.free_slots = deque(range(len(self.slots))) if self.slots else deque()
        self.selector = selectors.DefaultSelector()
        self.running: dict[int, _Child] = {}  # pid -> child
        self.use_pidfd = hasattr(os, "pidfd_open")
        self.stopping = False  # set by stop_starting(): the running jobs end, no new one starts

    # ---------------------------------------------------------------- parent side
    def run(self, jobs: Sequence[tuple[int, Sequence[str]]]) -> list[JobReturn]:
        """Run every ``(job number, overrides)``; their JobReturns in the given order (crashes are FAILED)."""
        results: dict[int, JobReturn] = {}
        order = [num for num, _ in jobs]
        pending = deque((num, list(overrides)) for num, overrides in jobs)
        label = self.settings.label
        progress = Progress(len(jobs), mode=self.settings.progress, label=label)
        self.composer.plan([overrides for _, overrides in pending])
        warm_up(self.task_function)
        # Objects that exist now are never scanned by the children's garbage collector: without this, the
        # first collection in each child touches every object and copies most of the parent's memory.
        gc.freeze()
        try:
            while (pending and not self.stopping) or self.running:
                while pending and len(self.running) < self.workers and not self.stopping:
                    self._start(*pending.popleft())
                progress.update(running=len(self.running))
                self._wait_for_events()
                for child in self._finished_children():
                    ret = self._collect(child)
                    results[child.job_num] = ret
                    failed = ret.status != JobStatus.COMPLETED
                    if failed:
                        log.warning("%s", failure_line(child.job_num, ret))
                    if self.on_result is not None:
                        self.on_result(child.job_num, ret)
                    progress.job_done(failed=failed, running=len(self.running))
                self._enforce_timeouts()
        except BaseException as exc:
            n = len(self.running)
            if n:
                log.warning("%s: interrupted, stopping %d running job%s", label, n, "" if n == 1 else "s")
                self._stop_all("the launcher was interrupted")
            if isinstance(exc, KeyboardInterrupt):  # said above: exit 130 (128 + SIGINT), no traceback
                raise SystemExit(130) from None
            raise
        finally:
            gc.unfreeze()
            progress.close()
            self.selector.close()
        missing = [num for num in order if num not in results]
        if missing and not self.stopping:  # pragma: no cover - the loop only ends when every job has a result
            raise RuntimeError(f"{label}: no result for jobs {missing}")
        return [results[num] for num in order if num in results]

    def stop_starting(self) -> None:
        """Start no more jobs: :meth:`run` returns once the running ones end, with their results only.

        Safe in a signal handler.
        """
        self.stopping = True

    def _start(self, job_num: int, overrides: list[str]) -> None:
        # not gc.freeze()-d like the objects made before the pool: the parent drops a base once all jobs of
        # its combination have started, and frozen objects would only be freed at the end of the batch
        self.composer.prepare(overrides)
        slot = self.free_slots.popleft() if self.slots else None
        rfd, wfd = os.pipe()
        for stream in (sys.stdout, sys.stderr):  # unflushed text would be written twice after fork
            with contextlib.suppress(OSError, ValueError):  # a closed or broken stream has nothing to flush
                stream.flush()
        with warnings.catch_warnings():
            # Python >= 3.12 warns when forking a process that has threads (the child gets only the forking
            # thread). The child runs nothing but its job and os._exit; under filterwarnings=error the
            # warning would surface in the parent *after* the child exists and orphan it.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which ends with os._exit
            os.close(rfd)
            self._child_main(wfd, job_num, overrides, slot)
        os.close(wfd)
        self.composer.started(overrides)  # the child has its copy of the base
        os.set_blocking(rfd, False)
        pidfd = None
        if self.use_pidfd:
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                self.use_pidfd = False
        child = _Child(job_num, overrides, pid, rfd, pidfd, time.monotonic(), slot)
        self.running[pid] = child
        self.selector.register(rfd, selectors.EVENT_READ, child)
        if pidfd is not None:
            self.selector.register(pidfd, selectors.EVENT_READ, child)
        if self.on_start is not None:
            self.on_start(job_num)

    def _wait_for_events(self) -> None:
        timeout = 0.5 if self.use_pidfd else _POLL_S
        now = time.monotonic()
        for child in self.running.values():
            deadline = self._next_deadline(child)
            if deadline is not None:
                timeout = min(timeout, max(0.0, deadline - now))
        for key, _ in self.selector.select(timeout):
            child = key.data
            if key.fd == child.rfd:
                self._read(child)
            else:  # the pidfd became readable: the process has exited
                self._reap(child)

    def _read(self, child: _Child) -> None:
        while not child.eof:
            try:
                chunk = os.read(child.rfd, _READ_SIZE)
            except BlockingIOError:
                return
            if not chunk:
                child.eof = True
                self.selector.unregister(child.rfd)
            else:
                child.chunks.append(chunk)

    def _reap(self, child: _Child) -> None:
        if child.exited:
            return
        pid, status = os.waitpid(child.pid, os.WNOHANG)
        if pid == 0:
            return
        child.exited = True
        child.wait_status = status
        if child.pidfd is not None:
            self.selector.unregister(child.pidfd)
            os.close(child.pidfd)
            child.pidfd = None

    def _finished_children(self) -> list[_Child]:
        done = []
        for child in list(self.running.values()):
            if not child.exited and (child.pidfd is None or child.eof):
                self._reap(child)
            if child.exited:
                self._read(child)  # the rest of the result, if a grandchild still holds the pipe open
                if not child.eof:
                    self.selector.unregister(child.rfd)
                os.close(child.rfd)
                del self.running[child.pid]
                if child.slot is not None:
                    self.free_slots.append(child.slot)
                done.append(child)
        return sorted(done, key=lambda c: c.job_num)

    def _next_deadline(self, child: _Child) -> float | None:
        if child.term_sent is not None:
            return None if child.kill_sent else child.term_sent + self.settings.kill_grace_s
        if self.settings.timeout_s is None:
            return None
        return child.started + self.settings.timeout_s

    def _enforce_timeouts(self) -> None:
        now = time.monotonic()
        for child in self.running.values():
            deadline = self._next_deadline(child)
            if deadline is None or now < deadline:
                continue
            if child.term_sent is None:
                child.stop_reason = (
                    f"timed out after {self.settings.timeout_s:g} s (hydra.launcher.timeout_s)"
                )
                self._signal(child, signal.SIGTERM)
                child.term_sent = now
            elif not child.kill_sent:
                self._signal(child, signal.SIGKILL)
                child.kill_sent = True

    def _signal(self, child: _Child, signum: int) -> None:
        if not child.exited:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signum)

    def _stop_all(self, reason: str) -> None:
        """Terminate every running child (SIGTERM, then SIGKILL after the grace period) and reap it."""
        for child in self.running.values():
            child.stop_reason = reason
            self._signal(child, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.kill_grace_s
        while any(not c.exited for c in self.running.values()):
            for child in self.running.values():
                self._reap(child)
            if time.monotonic() > deadline:
                for child in self.running.values():
                    self._signal(child, signal.SIGKILL)
                for child in self.running.values():
                    if not child.exited:
                        os.waitpid(child.pid, 0)
                        child.exited = True
                break
            time.sleep(0.02)
        for child in self.running.values():
            with contextlib.suppress(OSError):
                os.close(child.rfd)
            if child.pidfd is not None:
                with contextlib.suppress(OSError):
                    os.close(child.pidfd)
        self.running.clear()

    def _collect(self, child: _Child) -> JobReturn:
        data = b"".join(child.chunks)
        header, _, data = data.partition(_HEADER_END)
        job_dir = header.decode(errors="replace")
        payload: dict[str, Any] | None = None
        if data:
            try:
                payload = pickle.loads(data)  # noqa: S301 - our own child's bytes
            # a child killed while writing leaves a truncated pickle, which fails in many ways: no result
            except Exception:  # noqa: BLE001
                payload = None
        exit_code = os.waitstatus_to_exitcode(child.wait_status)
        exit_text = describe_exit(exit_code)
        what = f"job #{child.job_num} ({' '.join(child.overrides) or 'no overrides'})"
        if payload is None:
            reason = child.stop_reason or "died without returning a result"
            error = JobFailedError(f"{what} {reason}: {exit_text}{self._where(job_dir)}", exit_code=exit_code)
            return JobReturn(overrides=child.overrides, status=JobStatus.FAILED, _return_value=error)
        ret = unpickle_return(payload)
        if ret is None:
            text = payload.get("error") or "unknown error"
            error = JobFailedError(f"{what} failed{self._where(job_dir)}:\n{text}")
            return JobReturn(overrides=child.overrides, status=JobStatus.FAILED, _return_value=error)
        if ret.overrides is None:
            ret.overrides = child.overrides
        remote.restore_traceback(ret)
        return ret

    def _where(self, job_dir: str) -> str:
        """`` (log: DIR/stderr.log)`` / `` (job directory: DIR)`` for an error message; empty if unknown."""
        if not job_dir:
            return ""
        if self.settings.redirect_output:
            return f" (log: {Path(job_dir) / 'stderr.log'})"
        return f" (job directory: {job_dir})"

    # ---------------------------------------------------------------- child side
    def _child_main(  # pragma: no cover - runs in the child
        self, wfd: int, job_num: int, overrides: list[str], slot: int | None
    ) -> NoReturn:
        code = 0
        sent_header = [False]

        def send_header(job_dir: str) -> None:
            _write_all(wfd, job_dir.encode() + _HEADER_END)
            sent_header[0] = True

        try:
            self._child_setup(slot)
            payload = self._child_run(job_num, overrides, send_header)
        except BaseException as exc:  # noqa: BLE001 - the child reports everything, even SystemExit
            code = 1
            payload = error_payload(exc, job_num)
        try:
            if not sent_header[0]:
                _write_all(wfd, _HEADER_END)
            _write_all(wfd, dumps(payload))
            os.close(wfd)
        except BaseException:  # noqa: BLE001 - the parent reports a child without a result by its exit code
            code = 3
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
            os._exit(code)

    def _child_setup(self, slot: int | None) -> None:  # pragma: no cover - child only
        """Signals as a plain process has them, the other children's pipes closed, the slot taken."""
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for signum, disposition in self.child_signals.items():
            signal.signal(signum, disposition)
        for other in self.running.values():
            for fd in (other.rfd, other.pidfd):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        self.selector.close()
        if slot is not None and self.slots is not None:
            _take(self.slots[slot])

    def _child_run(  # pragma: no cover - child only
        self, job_num: int, overrides: list[str], send_header: Callable[[str], None]
    ) -> dict[str, Any]:
        sweep_config = self.composer.compose(overrides, in_place=True)
        redirect_output = self.settings.redirect_output
        logs: list[tuple[str, str]] = []

        def before_run(config: DictConfig) -> None:
            job_dir = job_output_dir(config)
            send_header(str(job_dir))
            if redirect_output:
                logs.append((str(job_dir / "stdout.log"), str(job_dir / "stderr.log")))
                _redirect_output(job_dir)

        ret = run_in_sweep(
            self.hydra_context,
            self.task_function,
            sweep_config,
            self.job_id(job_num),
            job_num,
            before_run=before_run,
        )
        if ret.status == JobStatus.FAILED and isinstance(ret._return_value, BaseException):  # noqa: SLF001
            # stderr closed by the job: the result still goes back
            with contextlib.suppress(OSError, ValueError):
                traceback.print_exception(ret._return_value, file=sys.stderr)  # noqa: SLF001
            remote.keep_traceback(ret, logs[0] if logs else None)  # the launcher shows where it happened
        return return_payload(ret, job_num)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _take(slot: Slot) -> None:  # pragma: no cover - child only
    """Pin this process to the slot's CPUs and set its environment (before the job's code runs)."""
    if slot.cpus is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, slot.cpus)
    os.environ.update(slot.env)


def _redirect_output(job_dir: Path) -> None:  # pragma: no cover - child only
    """Send the child's stdout/stderr to ``stdout.log``/``stderr.log`` in its job directory."""
    redirect(job_dir / "stdout.log", 1)
    redirect(job_dir / "stderr.log", 2)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115


__all__ = ["Pool", "PoolSettings", "Slot"]
