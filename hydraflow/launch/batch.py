"""The array-launch loop of the batch-scheduler backends (SLURM, PBS): job callable, submission, wait.

A scheduler backend (:mod:`hydraflow.launch.slurm.backend`, :mod:`hydraflow.launch.pbs.backend`) provides a
:class:`Backend` (submit one array, query the states, cancel); :func:`run_batch` does the rest.

The controller pickles what every job needs (Hydra context, config, task function, Hydra's singletons)
**once** into the submitit folder; each array task carries only its overrides and job number and loads that shared
file on the worker, where it gets its config (from the controller's composition of its config-group combination,
see :mod:`hydraflow.hydra_adapter.compose`, or from ``load_sweep_config``) and runs ``run_job``.

Waiting costs one scheduler query per poll interval for the whole sweep (``poll_states``), plus a ``stat`` of
each outstanding job's result file. A job the scheduler reports finished without a result (cancelled, node
failure, killed) becomes a ``FAILED`` JobReturn naming that state. SIGINT/SIGTERM to the controller cancels
every outstanding job of the sweep and says so.
"""  # noqa: E501

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, setup_globals

from hydraflow.launch import remote
from hydraflow.launch.common import JobFailedError, Progress, array_id, first_error_line, plural, run_in_sweep

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from hydra.types import HydraContext, TaskFunction
    from omegaconf import DictConfig

    from hydraflow.launch.common import Batch
    from hydraflow.launch.config import QueueConfig

log = logging.getLogger(__name__)

# Scheduler states after which a job without a result file will never produce one.
TERMINAL_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "REVOKED",
        "TIMEOUT",
        "SPECIAL_EXIT",
        "GONE",  # not in the queue any more (queue-only polling)
    }
)
# States that may still turn into a requeued job: only given up on after a long grace period.
SLOW_TERMINAL_STATES = frozenset({"PREEMPTED"})
SLOW_GRACE_S = 120.0


@dataclass
class _Shared:
    hydra_context: HydraContext
    config: DictConfig
    task_function: TaskFunction
    singletons: dict[Any, Any]
    composed: dict[str, Any] | None = None  # JobComposer.export() of the controller (bases per combination)
    composer: Any = field(default=None, repr=False)  # JobComposer restored on the worker (not pickled)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["composer"] = None
        return state


_SHARED_CACHE: dict[str, _Shared] = {}


class HydraJob:
    """The pickled job callable: small (a path, the overrides go in as arguments); checkpointable."""

    def __init__(self, shared_path: str) -> None:
        """Point at the shared pickle written by the controller."""
        self.shared_path = shared_path

    def __call__(self, overrides: list[str], job_num: int) -> JobReturn:
        """Run one Hydra job on the worker."""
        import submitit

        shared = _load_shared(self.shared_path)
        Singleton.set_state(shared.singletons)
        setup_globals()
        sweep_config = _compose(shared, overrides)
        env = submitit.JobEnvironment()
        ret = run_in_sweep(shared.hydra_context, shared.task_function, sweep_config, env.job_id, job_num)
        _link_scheduler_logs(ret, env)
        remote.keep_traceback(ret, (str(env.paths.stdout), str(env.paths.stderr)))
        return ret

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Preemption/timeout: requeue the same job from the start (submitit's checkpoint protocol)."""
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def _compose(shared: _Shared, overrides: Sequence[str]) -> DictConfig:
    """The job's config: from the controller's base of its config-group combination when there is one."""
    loader = shared.hydra_context.config_loader
    if shared.composed and shared.composed.get("bases"):
        if shared.composer is None:
            from hydraflow.hydra_adapter.compose import JobComposer

            shared.composer = JobComposer.restore(loader, shared.config, shared.composed)
        cfg: DictConfig = shared.composer.compose(overrides)
        return cfg
    return loader.load_sweep_config(shared.config, list(overrides))


def _compose_bases(
    hydra_context: HydraContext, config: DictConfig, job_overrides: Sequence[Sequence[str]]
) -> dict[str, Any] | None:
    """In the controller: compose the config of each config-group combination shared by several jobs.

    Every array task then applies its value overrides to its combination's base instead of composing its
    config from scratch (~90 ms of a cold Python process). Bounded: combinations of at least
    ``_BASE_MIN_JOBS`` jobs, and no more than ``_BASE_BUDGET_S`` of controller time.
    """
    from hydraflow.hydra_adapter.compose import JobComposer

    composer = JobComposer(hydra_context.config_loader, config, min_jobs=_BASE_MIN_JOBS)
    composer.plan(job_overrides)
    deadline = time.monotonic() + _BASE_BUDGET_S
    for overrides in job_overrides:
        composer.prepare(overrides)
        if time.monotonic() > deadline:
            break
    exported = composer.export()
    return exported if exported["bases"] else None


_BASE_MIN_JOBS = 3
_BASE_BUDGET_S = 5.0


def _load_shared(path: str) -> _Shared:
    shared = _SHARED_CACHE.get(path)
    if shared is None:
        import cloudpickle

        with Path(path).open("rb") as f:
            shared = cloudpickle.load(f)
        _SHARED_CACHE[path] = shared
    return shared


def _link_scheduler_logs(ret: JobReturn, env: Any) -> None:
    """Make the scheduler's stdout/stderr of this job visible in the Hydra job directory."""
    if ret.hydra_cfg is None:  # the job failed before it had a config
        return
    out_dir = Path(str(ret.hydra_cfg.hydra.runtime.output_dir))
    with contextlib.suppress(OSError):  # e.g. the job removed its directory, or a link exists already
        for name, target in (("stdout.log", env.paths.stdout), ("stderr.log", env.paths.stderr)):
            link = out_dir / name
            if not link.exists() and Path(target).exists():
                link.symlink_to(Path(target).resolve())


def write_shared(
    folder: Path,
    hydra_context: HydraContext,
    config: DictConfig,
    task_function: TaskFunction,
    composed: dict[str, Any] | None = None,
) -> str:
    """Pickle the state shared by all jobs of a batch once; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"hydraflow_shared_{uuid.uuid4().hex}.pkl"
    shared = _Shared(hydra_context, config, task_function, Singleton.get_state(), composed)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        remote.dump(shared, f)  # the task function with its real file names (tracebacks on the cluster)
    tmp.replace(path)
    return str(path)


@dataclass
class Backend:
    """What a scheduler backend provides to :func:`run_batch`."""

    name: str  # e.g. "hydraflow_slurm"
    # submit one chunk (callable, overrides, job numbers) -> submitit jobs (one array)
    submit: Callable[[HydraJob, list[list[str]], list[int]], list[Any]]
    # one scheduler query for these (outstanding) jobs: submitit job id -> state (upper case)
    poll_states: Callable[[list[Any]], dict[str, str]]
    # cancel these outstanding jobs (one command per array/scheduler)
    cancel: Callable[[list[Any]], None]
    max_array_size: int  # tasks per job array: a larger batch is split
    conf: QueueConfig  # the launcher's settings (poll intervals, progress display)
    # whether a state is final (the job will not write a result after it); default: TERMINAL_STATES
    is_terminal: Callable[[str], bool] = TERMINAL_STATES.__contains__

    @property
    def result_grace_s(self) -> float:
        """How long a job the scheduler reports finished may take to show its result file."""
        return max(5.0, 2 * self.conf.poll_interval_s)


def run_batch(backend: Backend, batch: Batch, folder_root: Path) -> list[JobReturn]:
    """Submit the batch as arrays of at most ``backend.max_array_size`` tasks, wait, return JobReturns.

    ``folder_root``: the part of the submitit folder that is the same for every job (the shared pickle goes
    there).
    """
    sweep_dir = batch.start()
    job_overrides, initial_job_idx = batch.job_overrides, batch.initial_job_idx
    total = len(job_overrides)
    size = backend.max_array_size
    log.info(
        "%s: submitting %s as %s (at most %d tasks each); sweep output dir: %s",
        backend.name,
        plural(total, "job"),
        plural(-(-total // size), "job array"),
        size,
        sweep_dir,
    )
    batch.log_jobs()
    composed = _compose_bases(batch.hydra_context, batch.config, job_overrides)
    shared = write_shared(folder_root, batch.hydra_context, batch.config, batch.task_function, composed)
    fn = HydraJob(shared)
    jobs: list[Any] = []
    with _removed(Path(shared)), _cancel_on_signal(backend, jobs):
        for start in range(0, total, size):
            chunk = [list(o) for o in job_overrides[start : start + size]]
            nums = [initial_job_idx + start + k for k in range(len(chunk))]
            submitted = backend.submit(fn, chunk, nums)
            jobs.extend(submitted)
            log.info(
                "%s: job array %s: jobs #%d-#%d",
                backend.name,
                array_id(submitted[0].job_id),
                nums[0],
                nums[-1],
            )
        return _wait(backend, jobs, [list(o) for o in job_overrides], initial_job_idx)


@contextlib.contextmanager
def _removed(path: Path) -> Iterator[None]:
    """Remove ``path`` at the end, whatever happened (every job is finished or cancelled by then)."""
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


def _wait(
    backend: Backend,
    jobs: list[Any],
    overrides: list[list[str]],
    initial_job_idx: int,
) -> list[JobReturn]:
    results: list[JobReturn | None] = [None] * len(jobs)
    remaining = set(range(len(jobs)))
    terminal_since: dict[int, float] = {}
    states: dict[str, str] = {}
    conf = backend.conf
    progress = Progress(len(jobs), mode=conf.progress, label=backend.name)
    submitted = last_query = time.monotonic()
    running: set[int] = set()  # outstanding jobs RUNNING at the last query (finished ones leave it at once)
    try:
        while True:
            # 1. result files: a stat per outstanding job, every poll interval
            _scan_results(jobs, remaining, results, overrides, initial_job_idx)
            _count_finished(remaining, results, progress, initial_job_idx, running)
            if not remaining:
                break
            # 2. the scheduler: one query for the whole batch, backing off like submitit's watcher
            #    (after 1x, then every half of the time elapsed since submission, at most max_poll_interval_s)
            now = time.monotonic()
            delay = min(conf.max_poll_interval_s, max(conf.poll_interval_s, (now - submitted) / 2))
            if not states or now - last_query >= delay:
                states = backend.poll_states([jobs[i] for i in sorted(remaining)])
                last_query = now = time.monotonic()
                running = {i for i in remaining if states.get(jobs[i].job_id) == "RUNNING"}
                for i in sorted(remaining):
                    if _grace(backend, states.get(jobs[i].job_id, "PENDING")) is None:
                        terminal_since.pop(i, None)
                    else:
                        terminal_since.setdefault(i, now)
            # 3. finished in the scheduler's eyes but no result: give the file system a grace period
            ended = set(terminal_since) & remaining
            _scan_results(jobs, ended, results, overrides, initial_job_idx)
            for i in sorted(ended):
                state = states.get(jobs[i].job_id, "PENDING")
                grace = _grace(backend, state)
                if results[i] is None and grace is not None and now - terminal_since[i] >= grace:
                    results[i] = _no_result(jobs[i], overrides[i], initial_job_idx + i, state)
            _count_finished(remaining, results, progress, initial_job_idx, running)
            if not remaining:
                break
            time.sleep(conf.poll_interval_s)
    finally:
        progress.close()
    return [r for r in results if r is not None]


def _scan_results(
    jobs: list[Any],
    indices: set[int],
    results: list[JobReturn | None],
    overrides: list[list[str]],
    initial_job_idx: int,
) -> None:
    for i in sorted(indices):
        if results[i] is None and jobs[i].paths.result_pickle.exists():
            results[i] = _load_result(jobs[i], overrides[i], initial_job_idx + i)


def _grace(backend: Backend, state: str) -> float | None:
    if state in SLOW_TERMINAL_STATES:
        return SLOW_GRACE_S
    if backend.is_terminal(state):
        return backend.result_grace_s
    return None


def _count_finished(
    remaining: set[int],
    results: list[JobReturn | None],
    progress: Progress,
    initial_job_idx: int,
    running: set[int],
) -> None:
    for i in sorted(remaining):
        ret = results[i]
        if ret is None:
            continue
        remaining.discard(i)
        running.discard(i)  # the count shown stays true between two scheduler queries
        failed = ret.status != JobStatus.COMPLETED
        if failed:
            log.warning("#%d FAILED: %s%s", initial_job_idx + i, first_error_line(ret), remote.logs_note(ret))
        progress.job_done(failed=failed, running=len(running))
    progress.update(running=len(running))


def _load_result(job: Any, overrides: list[str], job_num: int) -> JobReturn:
    from submitit.core.utils import pickle_load

    try:
        outcome, value = pickle_load(job.paths.result_pickle)
    # unpickling raises whatever the pickled objects' classes raise (or an import error on this side): the
    # job is reported FAILED with that error, never lost
    except Exception as exc:  # noqa: BLE001
        error = JobFailedError(f"job #{job_num} ({job.job_id}): cannot read its result file: {exc!r}")
        return JobReturn(overrides=overrides, status=JobStatus.FAILED, _return_value=error)
    if outcome == "success" and isinstance(value, JobReturn):
        remote.restore_traceback(value)
        return value
    error = JobFailedError(
        f"job #{job_num} ({' '.join(overrides)}), scheduler job {job.job_id}, failed:\n{value}\n"
        f"logs: {job.paths.stdout} {job.paths.stderr}"
    )
    return JobReturn(overrides=overrides, status=JobStatus.FAILED, _return_value=error)


def _no_result(job: Any, overrides: list[str], job_num: int, state: str) -> JobReturn:
    tail = ""
    with contextlib.suppress(OSError):
        lines = Path(job.paths.stderr).read_text(errors="replace").splitlines()[-10:]
        if lines:
            tail = "\nlast lines of its stderr:\n" + "\n".join(lines)
    error = JobFailedError(
        f"job #{job_num} ({' '.join(overrides) or 'no overrides'}), scheduler job {job.job_id}, ended in "
        f"state {state} without a result; logs: {job.paths.stdout} {job.paths.stderr}{tail}"
    )
    return JobReturn(overrides=overrides, status=JobStatus.FAILED, _return_value=error)


class _Interrupted(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _cancel_on_signal(backend: Backend, jobs: list[Any]) -> Iterator[None]:
    """SIGINT/SIGTERM (or any error) while submitting or waiting: cancel the sweep's outstanding jobs."""
    in_main = threading.current_thread() is threading.main_thread()
    old: dict[signal.Signals, Any] = {}

    def handler(signum: int, _frame: Any) -> None:
        raise _Interrupted(signum)

    if in_main:
        for signum in (signal.SIGINT, signal.SIGTERM):
            old[signum] = signal.signal(signum, handler)
    try:
        yield
    except BaseException as exc:
        for signum, previous in old.items():  # a second Ctrl-C must not interrupt the cancellation
            signal.signal(signum, signal.SIG_IGN if signum == signal.SIGINT else previous)
        _cancel_outstanding(backend, jobs, exc)
        if isinstance(exc, _Interrupted):  # said by _cancel_outstanding: exit 128 + signal, no traceback
            if exc.signum == signal.SIGINT:  # the process is exiting: a second Ctrl-C must not cut that short
                old.pop(signal.SIGINT, None)  # (Python dies by SIGINT, exit -2, at a late KeyboardInterrupt)
            raise SystemExit(128 + exc.signum) from None
        raise
    finally:
        for signum, previous in old.items():
            signal.signal(signum, previous)


def _cancel_outstanding(backend: Backend, jobs: list[Any], exc: BaseException) -> None:
    outstanding = [j for j in jobs if not j.paths.result_pickle.exists()]
    arrays = sorted({array_id(j.job_id) for j in outstanding})
    why = signal.Signals(exc.signum).name if isinstance(exc, _Interrupted) else type(exc).__name__
    if not arrays:
        return
    try:
        backend.cancel(outstanding)
    except (OSError, subprocess.SubprocessError) as cancel_error:  # the command failed: say so, go on
        message = f"{backend.name}: {why}: could not cancel jobs {' '.join(arrays)}: {cancel_error}"
    else:
        jobs_s = "" if len(outstanding) == 1 else "s"
        arrays_s = "" if len(arrays) == 1 else "s"
        message = (
            f"{backend.name}: {why}: cancelled {len(outstanding)} outstanding job{jobs_s} of this sweep "
            f"(job array{arrays_s} {' '.join(arrays)})"
        )
    log.warning("%s", message)
    if not _on_console(log):  # once on the terminal: by the log line, else here
        with contextlib.suppress(OSError, ValueError):  # stderr closed or gone: the log line above remains
            sys.stderr.write(message + os.linesep)
            sys.stderr.flush()


def _on_console(logger: logging.Logger) -> bool:
    """Whether a warning of ``logger`` reaches stdout or stderr (Hydra's console handler writes to stdout)."""
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            stream = getattr(handler, "stream", None)
            if handler.level <= logging.WARNING and stream in {
                sys.stdout,
                sys.stderr,
                sys.__stdout__,
                sys.__stderr__,
            }:
                return logger.isEnabledFor(logging.WARNING)
        current = current.parent if current.propagate else None
    return False
