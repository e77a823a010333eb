"""The process pool of ``hydraflow_local``: forked processes, one per job, at most ``n_jobs`` at a time.

The parent (the Hydra application, already initialised) forks one child per job, at most ``n_jobs`` at a
time. The child gets its job config from a :class:`~hydraflow.hydra_adapter.compose.JobComposer` (the parent
composes the config once per combination of config groups before forking; the child applies its value
overrides to its copy-on-write copy — the same config ``config_loader.load_sweep_config`` would return),
runs it with Hydra's ``run_job`` and sends the pickled :class:`~hydra.core.utils.JobReturn` back through a
pipe. A child that dies without sending a result (segfault, ``os._exit``, OOM kill, timeout) becomes a
``FAILED`` JobReturn whose error names the exit code or signal; the other jobs go on. No threads are used
in the parent (forking a threaded process is unsafe), so the pool is a single ``selectors`` loop over the
result pipes and, where the kernel has them, pidfds.
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

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from hydraflow.hydra_adapter.compose import JobComposer
from hydraflow.launch.common import (
    JobFailedError,
    Progress,
    describe_exit,
    first_error_line,
    redirect,
    run_in_sweep,
)
from hydraflow.launch.local.payload import dumps, error_payload, return_payload, unpickle_return

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from hydraflow.launch.common import Batch
    from hydraflow.launch.config import LocalConfig

log = logging.getLogger(__name__)

_READ_SIZE = 1 << 16
_POLL_S = 0.05  # wake-up period when the kernel has no pidfd_open


@dataclass
class _Child:
    index: int  # position in the batch
    job_num: int  # Hydra job number (initial_job_idx + index)
    overrides: list[str]
    pid: int
    rfd: int
    pidfd: int | None
    started: float
    chunks: list[bytes] = field(default_factory=list)
    eof: bool = False
    exited: bool = False
    wait_status: int = 0
    stop_reason: str | None = None  # why the launcher stopped it (timeout, interrupt)
    term_sent: float | None = None
    kill_sent: bool = False


class Pool:
    """Run the jobs of one batch in forked processes, ``n_jobs`` at a time (see the module docstring)."""

    def __init__(self, batch: Batch, options: LocalConfig, n_jobs: int) -> None:
        """Prepare the pool for ``batch`` (nothing is started yet)."""
        self.hydra_context = batch.hydra_context
        self.task_function = batch.task_function
        self.options = options
        self.n_jobs = n_jobs
        self.selector = selectors.DefaultSelector()
        self.running: dict[int, _Child] = {}  # pid -> child
        self.use_pidfd = hasattr(os, "pidfd_open")
        self.composer = JobComposer(batch.hydra_context.config_loader, batch.config)

    # ---------------------------------------------------------------- parent side
    def run(self, jobs: list[list[str]], initial_job_idx: int) -> list[JobReturn]:
        """Run every job; their JobReturns in job order (a crashed child gives a FAILED one)."""
        results: list[JobReturn | None] = [None] * len(jobs)
        pending = deque(range(len(jobs)))
        progress = Progress(len(jobs), mode=self.options.progress, label="hydraflow_local")
        self.composer.plan(jobs)
        # Objects that exist now are never scanned by the children's garbage collector: without this, the
        # first collection in each child touches every object and copies most of the parent's memory.
        gc.freeze()
        try:
            while pending or self.running:
                while pending and len(self.running) < self.n_jobs:
                    index = pending.popleft()
                    self._start(index, initial_job_idx + index, jobs[index])
                progress.update(running=len(self.running))
                self._wait_for_events()
                for child in self._finished_children():
                    ret = self._collect(child)
                    results[child.index] = ret
                    failed = ret.status != JobStatus.COMPLETED
                    if failed:
                        log.warning("#%d FAILED: %s", child.job_num, first_error_line(ret))
                    progress.job_done(failed=failed, running=len(self.running))
                self._enforce_timeouts()
        except BaseException as exc:
            n = len(self.running)
            if n:
                log.warning(
                    "hydraflow_local: interrupted, stopping %d running job%s", n, "" if n == 1 else "s"
                )
                self._stop_all("the launcher was interrupted")
            if isinstance(exc, KeyboardInterrupt):  # said above: exit 130 (128 + SIGINT), no traceback
                raise SystemExit(130) from None
            raise
        finally:
            gc.unfreeze()
            progress.close()
            self.selector.close()
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:  # pragma: no cover - the loop only ends when every job has a result
            raise RuntimeError(f"hydraflow_local: no result for jobs {missing}")
        return [r for r in results if r is not None]

    def _start(self, index: int, job_num: int, overrides: list[str]) -> None:
        # not gc.freeze()-d like the objects made before the pool: the parent drops a base once all jobs of
        # its combination have started, and frozen objects would only be freed at the end of the batch
        self.composer.prepare(overrides)
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
            self._child_main(wfd, job_num, overrides)
        os.close(wfd)
        self.composer.started(overrides)  # the child has its copy of the base
        os.set_blocking(rfd, False)
        pidfd = None
        if self.use_pidfd:
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                self.use_pidfd = False
        child = _Child(index, job_num, overrides, pid, rfd, pidfd, time.monotonic())
        self.running[pid] = child
        self.selector.register(rfd, selectors.EVENT_READ, child)
        if pidfd is not None:
            self.selector.register(pidfd, selectors.EVENT_READ, child)

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
                done.append(child)
        return sorted(done, key=lambda c: c.index)

    def _next_deadline(self, child: _Child) -> float | None:
        if child.term_sent is not None:
            return None if child.kill_sent else child.term_sent + self.options.kill_grace_s
        if self.options.timeout_s is None:
            return None
        return child.started + self.options.timeout_s

    def _enforce_timeouts(self) -> None:
        now = time.monotonic()
        for child in self.running.values():
            deadline = self._next_deadline(child)
            if deadline is None or now < deadline:
                continue
            if child.term_sent is None:
                child.stop_reason = f"timed out after {self.options.timeout_s:g} s (hydra.launcher.timeout_s)"
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
        deadline = time.monotonic() + self.options.kill_grace_s
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
        payload: dict[str, Any] | None = None
        data = b"".join(child.chunks)
        if data:
            try:
                payload = pickle.loads(data)  # noqa: S301 - our own child's bytes
            # a child killed while writing leaves a truncated pickle, which fails in many ways: no result
            except Exception:  # noqa: BLE001
                payload = None
        exit_text = describe_exit(os.waitstatus_to_exitcode(child.wait_status))
        if payload is None:
            reason = child.stop_reason or "died without returning a result"
            error = JobFailedError(
                f"job #{child.job_num} ({' '.join(child.overrides) or 'no overrides'}) {reason}: {exit_text}"
            )
            return JobReturn(overrides=child.overrides, status=JobStatus.FAILED, _return_value=error)
        ret = unpickle_return(payload)
        if ret is None:
            text = payload.get("error") or "unknown error"
            error = JobFailedError(f"job #{child.job_num} ({' '.join(child.overrides)}) failed:\n{text}")
            return JobReturn(overrides=child.overrides, status=JobStatus.FAILED, _return_value=error)
        if ret.overrides is None:
            ret.overrides = child.overrides
        return ret

    # ---------------------------------------------------------------- child side
    def _child_main(self, wfd: int, job_num: int, overrides: list[str]) -> NoReturn:  # pragma: no cover
        code = 0
        try:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            for other in self.running.values():
                for fd in (other.rfd, other.pidfd):
                    if fd is not None:
                        with contextlib.suppress(OSError):
                            os.close(fd)
            self.selector.close()
            payload = self._child_run(job_num, overrides)
        except BaseException as exc:  # noqa: BLE001 - the child reports everything, even SystemExit
            code = 1
            payload = error_payload(exc, job_num)
        try:
            data = dumps(payload)
            view = memoryview(data)
            while view:
                written = os.write(wfd, view)
                view = view[written:]
            os.close(wfd)
        except BaseException:  # noqa: BLE001 - the parent reports a child without a result by its exit code
            code = 3
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
            os._exit(code)

    def _child_run(self, job_num: int, overrides: list[str]) -> dict[str, Any]:  # pragma: no cover
        sweep_config = self.composer.compose(overrides, in_place=True)
        before_run = _redirect_output if self.options.redirect_output else None
        ret = run_in_sweep(
            self.hydra_context, self.task_function, sweep_config, str(job_num), job_num, before_run=before_run
        )
        if ret.status == JobStatus.FAILED and isinstance(ret._return_value, BaseException):  # noqa: SLF001
            # stderr closed by the job: the result still goes back
            with contextlib.suppress(OSError, ValueError):
                traceback.print_exception(ret._return_value, file=sys.stderr)  # noqa: SLF001
        return return_payload(ret, job_num)


def _redirect_output(sweep_config: DictConfig) -> None:  # pragma: no cover - child only
    """Send the child's stdout/stderr to ``stdout.log``/``stderr.log`` in its job directory."""
    HydraConfig.instance().set_config(sweep_config)
    job_dir = Path(str(OmegaConf.select(sweep_config, "hydra.sweep.dir"))) / str(
        OmegaConf.select(sweep_config, "hydra.sweep.subdir")
    )
    redirect(job_dir / "stdout.log", 1)
    redirect(job_dir / "stderr.log", 2)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115


__all__ = ["Pool"]
