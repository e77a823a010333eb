"""The array-launch loop of the batch-scheduler backends (SLURM, PBS): job callables, submission, wait.

A scheduler backend (:mod:`hydraflow.launch.slurm.backend`, :mod:`hydraflow.launch.pbs.backend`) provides a
:class:`Backend` (submit one array, query the states, cancel); :func:`run_batch` does the rest.

The controller first leaves out the jobs whose ``@hydraflow.main`` run is FINISHED
(:mod:`hydraflow.launch.dedup`), then pickles what every job needs (Hydra context, config, task function,
Hydra's singletons, composed bases) **once** into the submitit folder (:mod:`hydraflow.launch.shared`). An
array task carries only its jobs' overrides and numbers: one job (:class:`HydraJob`, whose result is the
task's submitit result) or, packed, several (:class:`~hydraflow.launch.packing.PackedTask`, one result file
per job).

Waiting costs one scheduler query per poll interval for the whole sweep (``poll_states``), plus a ``stat`` of
each outstanding job's result file. A job whose task the scheduler reports finished without the job's result
(cancelled, node failure, killed, time limit) becomes a ``FAILED`` JobReturn naming that state, its node and
the logs, once a later query still says so (SLURM shows a lost ``--requeue`` job NODE_FAIL for a moment before
it is PENDING again). A failed result counts only once the scheduler says the task is over: a task requeued
off a lost node may still have its first copy running there, whose failure (e.g. its store unreachable behind
a partition) the running copy's result replaces. Node failures, requeues and restarts are logged as the
queries see them. SIGINT/SIGTERM to the controller cancels every outstanding job of the sweep and says so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.utils import JobReturn, JobStatus

from hydraflow.launch import remote
from hydraflow.launch.common import JobFailedError, Progress, array_id, failure_line, plural, run_in_sweep
from hydraflow.launch.dedup import skip_finished
from hydraflow.launch.packing import Job, PackedTask, TaskPlan, read_result, result_path, started_path
from hydraflow.launch.shared import compose_job, load_shared, plan_bases, write_shared

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

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


class HydraJob:
    """The pickled callable of a one-job array task: small (a path; the overrides go in as arguments)."""

    def __init__(self, shared_path: str) -> None:
        """Point at the shared pickle written by the controller."""
        self.shared_path = shared_path

    def __call__(self, overrides: list[str], job_num: int) -> JobReturn:
        """Run one Hydra job on the worker."""
        import submitit

        shared = load_shared(self.shared_path)
        sweep_config = compose_job(shared, overrides)
        env = submitit.JobEnvironment()
        ret = run_in_sweep(shared.hydra_context, shared.task_function, sweep_config, env.job_id, job_num)
        _link_scheduler_logs(ret, env)
        remote.keep_traceback(ret, (str(env.paths.stdout), str(env.paths.stderr)))
        return ret

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Preemption/timeout: requeue the same job from the start (submitit's checkpoint protocol)."""
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


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


@dataclass
class Backend:
    """What a scheduler backend provides to :func:`run_batch`."""

    name: str  # e.g. "hydraflow_slurm"
    # submit one job array: the callable and its argument lists (one entry per task) -> submitit jobs
    submit: Callable[[Callable[..., Any], list[list[Any]]], list[Any]]
    # one scheduler query for these (outstanding) jobs: submitit job id -> state (upper case)
    poll_states: Callable[[list[Any]], dict[str, str]]
    # cancel these outstanding jobs (one command per array/scheduler)
    cancel: Callable[[list[Any]], None]
    max_array_size: int  # tasks per job array: a larger batch is split
    conf: QueueConfig  # the launcher's settings (poll intervals, progress display, packing)
    # whether a state is final (the job will not write a result after it); default: TERMINAL_STATES
    is_terminal: Callable[[str], bool] = TERMINAL_STATES.__contains__
    # the node(s) of a job as of the last poll_states ("" when unknown): named in failures and requeues
    where: Callable[[str], str] = lambda _job_id: ""

    @property
    def result_grace_s(self) -> float:
        """How long a job the scheduler reports finished may take to show its result file."""
        return max(5.0, 2 * self.conf.poll_interval_s)


@dataclass
class _Tracked:
    """One Hydra job of the batch as the controller follows it."""

    num: int  # Hydra job number
    overrides: list[str]
    task: Any  # the submitit job (array task) that runs it
    # packed: the job's own result file and start marker; None: the task's submitit result is the job's
    result: Path | None = None
    started: Path | None = None

    def has_result(self) -> bool:
        return (self.result or self.task.paths.result_pickle).exists()

    def load(self) -> JobReturn:
        if self.result is None:
            return _load_result(self.task, self.overrides, self.num)
        ret = read_result(self.result)
        if ret.overrides is None:
            ret.overrides = self.overrides
        remote.restore_traceback(ret)  # the job's traceback in its packed task, kept by the pool
        return ret


def run_batch(backend: Backend, batch: Batch, folder_root: Path) -> list[JobReturn]:
    """Submit the batch as job arrays (packed or one job per task), wait, return JobReturns in job order.

    Jobs whose ``@hydraflow.main`` run is FINISHED are not submitted (:mod:`hydraflow.launch.dedup`).
    ``folder_root``: the part of the submitit folder that is the same for every job (the shared pickle and
    the packed jobs' result files go there).
    """
    conf = backend.conf
    if conf.packing:
        conf.jobs_per_task_for(len(batch.job_overrides))  # a sizing error before anything is written
    sweep_dir = batch.start()
    jobs = [(batch.initial_job_idx + k, list(o)) for k, o in enumerate(batch.job_overrides)]
    composer = plan_bases(batch.hydra_context, batch.config, batch.job_overrides)
    skipped = skip_finished(batch, composer, jobs, label=backend.name, job_id=lambda _num: "not submitted")
    todo = [(num, o) for num, o in jobs if num not in skipped]
    per_task = conf.jobs_per_task_for(len(todo)) if conf.packing and todo else 1
    tasks = -(-len(todo) // per_task)
    size = backend.max_array_size
    if not todo:
        log.info("%s: nothing to submit; sweep output dir: %s", backend.name, sweep_dir)
        batch.log_jobs()
        return [skipped[num] for num, _ in jobs]
    log.info(
        "%s: submitting %s%s as %s (at most %d tasks each); sweep output dir: %s",
        backend.name,
        plural(len(todo), "job"),
        f" in {plural(tasks, 'task')} of up to {per_task}" if conf.packing else "",
        plural(-(-tasks // size), "job array"),
        size,
        sweep_dir,
    )
    batch.log_jobs()
    exported = composer.export()
    del composer
    shared = write_shared(
        folder_root,
        batch.hydra_context,
        batch.config,
        batch.task_function,
        exported if exported["bases"] else None,
    )
    tracked: list[_Tracked] = []
    try:
        with _cancel_on_signal(backend, tracked):
            if conf.packing:
                _submit_packed(backend, shared, todo, per_task, tracked)
            else:
                _submit_single(backend, shared, todo, tracked)
            ran = _wait(backend, tracked)
    finally:  # also when a submission was refused: every job is finished or cancelled by then
        with contextlib.suppress(OSError):
            Path(shared).unlink()
        if not tracked:  # nothing was submitted: no empty results folder either
            with contextlib.suppress(OSError):
                _results_dir(shared).rmdir()
    results = dict(zip((num for num, _ in todo), ran, strict=True)) | skipped
    return [results[num] for num, _ in jobs]


def _submit_single(backend: Backend, shared: str, todo: list[Job], tracked: list[_Tracked]) -> None:
    """One array task per job (``jobs_per_task=1``): the job's result is its task's submitit result."""
    fn = HydraJob(shared)
    size = backend.max_array_size
    for start in range(0, len(todo), size):
        chunk = todo[start : start + size]
        submitted = backend.submit(fn, [[o for _, o in chunk], [num for num, _ in chunk]])
        tracked.extend(_Tracked(num, o, task) for (num, o), task in zip(chunk, submitted, strict=True))
        _log_array(backend, submitted, chunk)


def _results_dir(shared: str) -> Path:
    """The folder of a packed batch's per-job result files, beside its shared pickle."""
    return Path(shared).with_name(Path(shared).stem.replace("shared", "results"))


def _submit_packed(
    backend: Backend, shared: str, todo: list[Job], per_task: int, tracked: list[_Tracked]
) -> None:
    """``per_task`` jobs per array task (:class:`~hydraflow.launch.packing.PackedTask`), a file each."""
    results = _results_dir(shared)
    results.mkdir()
    fn = PackedTask(shared, str(results), TaskPlan.of(backend.conf, backend.name))
    groups = [todo[i : i + per_task] for i in range(0, len(todo), per_task)]
    size = backend.max_array_size
    for start in range(0, len(groups), size):
        chunk = groups[start : start + size]
        submitted = backend.submit(fn, [chunk])
        for group, task in zip(chunk, submitted, strict=True):
            tracked.extend(
                _Tracked(num, o, task, result_path(results, num), started_path(results, num))
                for num, o in group
            )
        _log_array(backend, submitted, [job for group in chunk for job in group])


def _log_array(backend: Backend, submitted: list[Any], chunk: list[Job]) -> None:
    log.info(
        "%s: job array %s: jobs #%d-#%d",
        backend.name,
        array_id(submitted[0].job_id),
        chunk[0][0],
        chunk[-1][0],
    )


def _wait(backend: Backend, tracked: list[_Tracked]) -> list[JobReturn]:  # noqa: C901
    """Wait for every tracked job's result; JobReturns in ``tracked`` order."""
    results: list[JobReturn | None] = [None] * len(tracked)
    remaining = set(range(len(tracked)))
    terminal_since: dict[str, float] = {}  # task id -> when the scheduler first said it ended
    held_since: dict[int, float] = {}  # when a failed result was first held back (its task not over yet)
    states: dict[str, str] = {}
    conf = backend.conf
    progress = Progress(len(tracked), mode=conf.progress, label=backend.name)
    watch = _Watch(backend, tracked)
    submitted = last_query = time.monotonic()

    def settled(i: int) -> bool:  # the scheduler's latest word is that the job's task is over
        return backend.is_terminal(states.get(tracked[i].task.job_id, "PENDING"))

    def grace_over(i: int, at: float) -> bool:  # the task has been in a final state for its grace period
        task_id = tracked[i].task.job_id
        grace = _grace(backend, states.get(task_id, "PENDING"))
        return task_id in terminal_since and grace is not None and at - terminal_since[task_id] >= grace

    try:
        while True:
            # 1. result files: a stat per outstanding job, every poll interval. A failed result counts once
            #    the scheduler says the task is over: until then it may be a stale copy's (a task requeued off
            #    a lost node whose first copy still ran) and the running copy's result replaces it.
            for i in _scan_results(tracked, remaining, results, settled):
                if i not in held_since:
                    held_since[i] = time.monotonic()
                    log.log(
                        logging.WARNING if tracked[i].task.job_id in watch.restarted else logging.DEBUG,
                        "%s: #%d (%s): a failed result, but the job is %s: waiting for the scheduler "
                        "(a stale copy's result is replaced by the running copy's)",
                        backend.name,
                        tracked[i].num,
                        tracked[i].task.job_id,
                        states.get(tracked[i].task.job_id, "not known to the scheduler yet"),
                    )
            _count_finished(tracked, remaining, results, progress, states, recount=False)
            if not remaining:
                break
            # 2. the scheduler: one query for the whole batch, backing off like submitit's watcher
            #    (after 1x, then every half of the time elapsed since submission, at most
            #    max_poll_interval_s); sooner when a failed result or a final state awaits confirmation
            now = time.monotonic()
            delay = min(conf.max_poll_interval_s, max(conf.poll_interval_s, (now - submitted) / 2))
            confirm = any(grace_over(i, now) for i in remaining) or any(
                now - since < backend.result_grace_s for i, since in held_since.items() if i in remaining
            )
            if (
                not states
                or now - last_query >= delay
                or (confirm and now - last_query >= conf.poll_interval_s)
            ):
                tasks = _tasks(tracked, remaining)
                states = backend.poll_states(list(tasks.values()))
                last_query = now = time.monotonic()
                for task_id in tasks:
                    if _grace(backend, states.get(task_id, "PENDING")) is None:
                        terminal_since.pop(task_id, None)
                    else:
                        terminal_since.setdefault(task_id, now)
                watch.update(states, tasks)
            # 3. finished in the scheduler's eyes: its result (failed ones too), else after a grace period for
            #    the file system, confirmed by a query that still says so (a NODE_FAIL is followed by PENDING
            #    when SLURM requeues the job), a FAILED JobReturn naming the state and the node
            ended = {i for i in remaining if tracked[i].task.job_id in terminal_since}
            _scan_results(tracked, ended, results, settled)
            for i in sorted(ended):
                if results[i] is None and grace_over(i, last_query):
                    unit = tracked[i]
                    state = states.get(unit.task.job_id, "PENDING")
                    results[i] = _no_result(unit, state, backend.where(unit.task.job_id))
            _count_finished(tracked, remaining, results, progress, states)
            if not remaining:
                break
            time.sleep(conf.poll_interval_s)
    finally:
        progress.close()
    return [r for r in results if r is not None]


def _tasks(tracked: list[_Tracked], indices: set[int]) -> dict[str, Any]:
    """The array tasks that run these jobs, by task id (one scheduler query covers them all)."""
    return {tracked[i].task.job_id: tracked[i].task for i in sorted(indices)}


def _running(tracked: list[_Tracked], remaining: set[int], states: dict[str, str]) -> int:
    """Jobs running now: in a RUNNING task (packed: and its process has started)."""
    count = 0
    for i in remaining:
        unit = tracked[i]
        if states.get(unit.task.job_id) == "RUNNING" and (unit.started is None or unit.started.exists()):
            count += 1
    return count


def _scan_results(
    tracked: list[_Tracked],
    indices: set[int],
    results: list[JobReturn | None],
    settled: Callable[[int], bool],
) -> list[int]:
    """Load the result files that appeared; a failed one only when ``settled``. Returns those held back."""
    held = []
    for i in sorted(indices):
        unit = tracked[i]
        if results[i] is not None:
            continue
        if unit.has_result():
            ret = unit.load()
            if ret.status == JobStatus.COMPLETED or settled(i):
                results[i] = ret
            else:
                held.append(i)
        elif unit.result is not None and unit.task.paths.result_pickle.exists() and settled(i):
            # a packed task writes each job's result before its own: the task ended without running this job
            results[i] = _no_result(unit, "ended")
    return held


class _Watch:
    """Log what the scheduler does to the tasks between start and end: node failure, requeue, restart."""

    def __init__(self, backend: Backend, tracked: list[_Tracked]) -> None:
        self.backend = backend
        self.jobs: dict[str, str] = {}  # task id -> the Hydra job numbers it runs, for the log lines
        for unit in tracked:
            key = unit.task.job_id
            self.jobs[key] = f"{self.jobs[key]},#{unit.num}" if key in self.jobs else f"#{unit.num}"
        self.seen: dict[str, tuple[str, str]] = {}
        self.requeued: set[str] = set()  # requeued, not running again yet
        self.restarted: set[str] = set()  # ever requeued

    def update(self, states: dict[str, str], task_ids: Iterable[str]) -> None:
        for task_id in task_ids:
            now = (states.get(task_id, "PENDING"), self.backend.where(task_id))
            before = self.seen.get(task_id)
            self.seen[task_id] = now
            if before is not None and before != now:
                self._changed(task_id, before, now)

    def _changed(self, task_id: str, before: tuple[str, str], now: tuple[str, str]) -> None:
        (old, old_where), (state, where) = before, now
        jobs = self.jobs.get(task_id, "#?")
        name = self.backend.name
        if state == "NODE_FAIL":
            log.warning(
                "%s: %s (%s): node failure on %s (NODE_FAIL)", name, jobs, task_id, where or old_where
            )
        elif state in _QUEUED and old not in _QUEUED:
            self.requeued.add(task_id)
            self.restarted.add(task_id)
            on = f" on {old_where}" if old_where else ""
            log.warning("%s: %s (%s): requeued by the scheduler (was %s%s)", name, jobs, task_id, old, on)
        elif state == "RUNNING" and (task_id in self.requeued or (old == "RUNNING" and old_where and where)):
            self.requeued.discard(task_id)
            self.restarted.add(task_id)
            log.warning("%s: %s (%s): running again, on %s", name, jobs, task_id, where or "a node")


_QUEUED = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "QUEUED"})


def _grace(backend: Backend, state: str) -> float | None:
    if state in SLOW_TERMINAL_STATES:
        return SLOW_GRACE_S
    if backend.is_terminal(state):
        return backend.result_grace_s
    return None


def _count_finished(
    tracked: list[_Tracked],
    remaining: set[int],
    results: list[JobReturn | None],
    progress: Progress,
    states: dict[str, str],
    *,
    recount: bool = True,
) -> None:
    """Count the jobs whose result is in; the running count from ``states`` less the jobs that just ended.

    Results come in between scheduler queries: a job counted running at the last query that has its result
    now is not counted running any more (the line never says ``3/3 done, 2 running``). ``recount=False``:
    the running count is computed only when a job finished.
    """
    finished = [(i, ret) for i in sorted(remaining) if (ret := results[i]) is not None]
    remaining.difference_update(i for i, _ in finished)
    if not finished and not recount:
        progress.update()
        return
    running = _running(tracked, remaining, states)
    for i, ret in finished:
        failed = ret.status != JobStatus.COMPLETED
        if failed:
            log.warning("%s", failure_line(tracked[i].num, ret))
        progress.job_done(failed=failed, running=running)
    progress.update(running=running)


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


def _no_result(unit: _Tracked, state: str, where: str = "") -> JobReturn:
    """A FAILED JobReturn for a job whose task ended (``state``, on ``where``) without the job's result."""
    job, overrides = unit.task, unit.overrides
    on = f" (on {where})" if where else ""
    tail = ""
    with contextlib.suppress(OSError):
        lines = Path(job.paths.stderr).read_text(errors="replace").splitlines()[-10:]
        if lines:
            tail = "\nlast lines of its stderr:\n" + "\n".join(lines)
    what = f"job #{unit.num} ({' '.join(overrides) or 'no overrides'})"
    logs = f"logs: {job.paths.stdout} {job.paths.stderr}"
    if unit.result is None:
        text = (
            f"{what}, scheduler job {job.job_id}, ended in state {state} without a result{on}; {logs}{tail}"
        )
    else:
        ended = _task_end(job, state)
        text = f"{what} did not finish: its packed task {job.job_id} {ended}{on}; task {logs}{tail}"
    return JobReturn(overrides=overrides, status=JobStatus.FAILED, _return_value=JobFailedError(text))


def _task_end(job: Any, state: str) -> str:
    """How a packed task ended, for the message of a job it did not finish."""
    from submitit.core.utils import pickle_load

    if job.paths.result_pickle.exists():
        with contextlib.suppress(Exception):  # unreadable: the state alone is reported
            outcome, value = pickle_load(job.paths.result_pickle)
            if outcome != "success":
                return f"failed: {str(value).strip().splitlines()[-1]}"
            return "finished without running it"
    return f"ended in state {state}"


class _Interrupted(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _cancel_on_signal(backend: Backend, tracked: list[_Tracked]) -> Iterator[None]:
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
        _cancel_outstanding(backend, tracked, exc)
        if isinstance(exc, _Interrupted):  # said by _cancel_outstanding: exit 128 + signal, no traceback
            if exc.signum == signal.SIGINT:  # the process is exiting: a second Ctrl-C must not cut that short
                old.pop(signal.SIGINT, None)  # (Python dies by SIGINT, exit -2, at a late KeyboardInterrupt)
            raise SystemExit(128 + exc.signum) from None
        raise
    finally:
        for signum, previous in old.items():
            signal.signal(signum, previous)


def _cancel_outstanding(backend: Backend, tracked: list[_Tracked], exc: BaseException) -> None:
    left = [unit for unit in tracked if not unit.has_result() and not unit.task.paths.result_pickle.exists()]
    outstanding = list(_tasks(left, set(range(len(left)))).values())
    arrays = sorted({array_id(j.job_id) for j in outstanding})
    why = signal.Signals(exc.signum).name if isinstance(exc, _Interrupted) else type(exc).__name__
    if not arrays:
        return
    try:
        backend.cancel(outstanding)
    except (OSError, subprocess.SubprocessError) as cancel_error:  # the command failed: say so, go on
        message = f"{backend.name}: {why}: could not cancel jobs {' '.join(arrays)}: {cancel_error}"
    else:
        arrays_s = "" if len(arrays) == 1 else "s"
        packed = f" in {plural(len(outstanding), 'task')}" if len(outstanding) != len(left) else ""
        message = (
            f"{backend.name}: {why}: cancelled {plural(len(left), 'outstanding job')}{packed} of this sweep "
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
