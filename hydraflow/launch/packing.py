"""Packed array tasks: several Hydra jobs per task of a SLURM/PBS job array, run inside the task's allocation.

A packed task (:class:`PackedTask`, the submitit callable of each array task) loads the batch's shared state
once (:mod:`hydraflow.launch.shared`) and runs its jobs in the forked pool of ``hydraflow_local``
(:mod:`hydraflow.launch.pool`), at most ``workers`` at a time. Each running job holds a :class:`~.pool.Slot`
(:func:`plan_slots`): its own CPUs out of the task's affinity mask and its share of the task's GPUs
(:func:`allocated_gpus`). Each job leaves its own result file (:func:`result_path`, the pickled JobReturn,
written by the task as soon as the job ends) and a start marker (:func:`started_path`) that the controller
``stat``s, so that progress, results and failures are per job, not per task.

Time limit and preemption: on submitit's checkpoint signal (USR2) the task's :meth:`PackedTask.checkpoint`
keeps the jobs without a result file and submitit requeues the task with only those; a requeued task also
skips any job whose result file exists. Its running jobs are stopped (they restart from the beginning; an
``@hydraflow.main`` run resumes).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.utils import JobReturn, JobStatus

from hydraflow.launch.common import JobFailedError
from hydraflow.launch.config import gpu_slots
from hydraflow.launch.payload import dumps
from hydraflow.launch.pool import Pool, PoolSettings, Slot
from hydraflow.launch.shared import load_shared

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from hydraflow.launch.config import QueueConfig

log = logging.getLogger(__name__)

#: Environment variables that name a task's GPUs like ``CUDA_VISIBLE_DEVICES`` does (SLURM sets them all to
#: the same list): a job's slot narrows each one that holds the task's list.
GPU_VARIABLES = ("CUDA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL", "ROCR_VISIBLE_DEVICES", "ZE_AFFINITY_MASK")

Job = tuple[int, list[str]]  # (Hydra job number, overrides)
_TERMINATED_WAIT_S = 300.0  # after a SIGTERM, how long a task waits to be killed or requeued


@dataclass(frozen=True)
class TaskPlan:
    """What every packed task of a batch needs besides its jobs (from the launcher settings; picklable)."""

    cpus_per_task: int
    cpus_per_job: int = 1
    workers: int | None = None  # workers_per_task
    gpus_per_job: float | None = None
    requested_gpus: int | None = None  # GPUs per task asked of the scheduler (-1: not counted)
    timeout_s: float | None = None
    kill_grace_s: float = 5.0
    label: str = "hydraflow"

    @classmethod
    def of(cls, conf: QueueConfig, label: str) -> TaskPlan:
        """The plan of the launcher settings ``conf``."""
        return cls(
            cpus_per_task=conf.cpus_per_task or 1,
            cpus_per_job=conf.cpus_per_job,
            workers=conf.workers_per_task,
            gpus_per_job=conf.gpus_per_job,
            requested_gpus=conf.requested_gpus(),
            timeout_s=conf.timeout_s,
            kill_grace_s=conf.kill_grace_s,
            label=label,
        )

    def worker_count(self, gpus: int) -> int:
        """Jobs at once in a task that has ``gpus`` GPUs: the CPUs' count, fewer when the GPUs are fewer.

        >>> TaskPlan(cpus_per_task=8, cpus_per_job=2).worker_count(0)
        4
        >>> TaskPlan(8, gpus_per_job=0.5).worker_count(2), TaskPlan(8, workers=3).worker_count(0)
        (4, 3)
        """
        count = self.workers or max(1, self.cpus_per_task // self.cpus_per_job)
        if self.gpus_per_job is not None:
            count = min(count, gpu_slots(gpus, self.gpus_per_job))
        return count


def allocated_gpus(environ: Mapping[str, str], requested: int | None = None) -> list[str]:
    """The GPUs this task may use, as ``CUDA_VISIBLE_DEVICES`` entries.

    1. ``CUDA_VISIBLE_DEVICES``, as the scheduler set it: SLURM for GRES GPUs (renumbered 0..N-1 under a
       device cgroup, which is why ``SLURM_JOB_GPUS`` is never used), OpenPBS's cgroups hook (GPU UUIDs),
       site prologues. Set but empty: no GPUs.
    2. Torque's ``PBS_GPUFILE`` (lines ``host-gpuN``): the indices N of this host.
    3. Otherwise (PBS Pro without the cgroups hook tells a job nothing about its GPUs): the first
       ``requested`` devices, 0..requested-1.

    >>> allocated_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}), allocated_gpus({"CUDA_VISIBLE_DEVICES": ""}, 2)
    (['2', '3'], [])
    >>> allocated_gpus({}, 2), allocated_gpus({}), allocated_gpus({"CUDA_VISIBLE_DEVICES": "GPU-a1,GPU-b2"})
    (['0', '1'], [], ['GPU-a1', 'GPU-b2'])
    """
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [entry.strip() for entry in visible.split(",") if entry.strip()]
    gpufile = environ.get("PBS_GPUFILE")
    if gpufile:
        with contextlib.suppress(OSError):
            return _torque_gpus(Path(gpufile).read_text(), os.uname().nodename)
    return [str(i) for i in range(requested or 0)]


def _torque_gpus(text: str, host: str) -> list[str]:
    r"""GPU indices of ``host`` in a Torque ``PBS_GPUFILE``.

    >>> _torque_gpus("n1-gpu1\nn1-gpu0\nn2-gpu0\n", "n1.example.org")
    ['1', '0']
    """
    short = host.split(".", 1)[0]
    out = []
    for line in text.split():
        name, _, index = line.rpartition("-gpu")
        if index.isdigit() and name.split(".", 1)[0] == short:
            out.append(index)
    return out


def plan_slots(
    cpus: Sequence[int],
    gpus: Sequence[str],
    workers: int,
    *,
    cpus_per_job: int = 1,
    gpus_per_job: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Slot]:
    """One slot per worker: its CPUs out of ``cpus`` (the task's affinity mask) and its GPUs out of ``gpus``.

    CPUs: slot ``s`` gets ``cpus_per_job`` CPUs; the slots' CPU sets are disjoint while the mask holds
    ``workers * cpus_per_job`` CPUs. A smaller mask (a node that advertises more CPUs than it has, an
    oversubscribed allocation) is shared round-robin: slot ``s`` starts at CPU ``s * cpus_per_job`` of the
    mask, wrapping around, so the jobs spread evenly over what exists. GPUs: ``gpus_per_job = g >= 1``:
    slot ``s`` gets GPUs ``s*g .. s*g+g-1``; ``g = 1/n``: ``n`` slots share each GPU (slot ``s`` gets GPU
    ``s // n``).

    >>> [sorted(s.cpus) for s in plan_slots([0, 1, 2, 3], [], 2, cpus_per_job=2)]
    [[0, 1], [2, 3]]
    >>> [sorted(s.cpus) for s in plan_slots([0, 1], [], 4)]
    [[0], [1], [0], [1]]
    >>> [s.env["CUDA_VISIBLE_DEVICES"] for s in plan_slots([0], ["0", "1"], 4, gpus_per_job=0.5)]
    ['0', '0', '1', '1']
    >>> environ = {"ROCR_VISIBLE_DEVICES": "2,3"}
    >>> [s.env for s in plan_slots([0], ["2", "3"], 1, gpus_per_job=2, environ=environ)]
    [{'CUDA_VISIBLE_DEVICES': '2,3', 'ROCR_VISIBLE_DEVICES': '2,3'}]
    """
    mask = sorted(cpus)
    per = min(cpus_per_job, len(mask))
    task_gpus = ",".join(gpus)
    slots = []
    for s in range(workers):
        chosen = frozenset(mask[(s * cpus_per_job + j) % len(mask)] for j in range(per)) if mask else None
        env: dict[str, str] = {}
        if gpus_per_job is not None:
            if gpus_per_job >= 1:
                mine = gpus[s * int(gpus_per_job) : (s + 1) * int(gpus_per_job)]
            else:
                mine = [gpus[s // round(1 / gpus_per_job)]]
            value = ",".join(mine)
            env["CUDA_VISIBLE_DEVICES"] = value
            for name in GPU_VARIABLES[1:]:
                if (environ or {}).get(name) == task_gpus:
                    env[name] = value
        slots.append(Slot(cpus=chosen, env=env))
    return slots


def _log_to_stderr() -> None:
    """The task's own log lines (which jobs, progress, failures) go to its stderr (the task log)."""
    logger = logging.getLogger("hydraflow.launch")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _killed(ret: JobReturn) -> bool:
    """Whether a job died of a signal without a result (not of an exception or its own exit)."""
    error = ret._return_value  # noqa: SLF001
    return isinstance(error, JobFailedError) and (error.exit_code or 0) < 0


def result_path(results: Path, job_num: int) -> Path:
    """Where a packed job's pickled JobReturn appears (written once, atomically)."""
    return results / f"{job_num}.pkl"


def started_path(results: Path, job_num: int) -> Path:
    """Created when a packed job's process starts (the controller counts running jobs with it)."""
    return results / f"{job_num}.run"


def write_result(path: Path, ret: JobReturn) -> None:
    """Pickle ``ret`` to ``path`` atomically (a reader never sees half a file)."""
    try:
        data = dumps(ret)
    except Exception as exc:  # noqa: BLE001 - whatever the return value's pickling raises: reported
        error = JobFailedError(f"the job's result cannot be pickled: {type(exc).__name__}: {exc}")
        data = dumps(JobReturn(overrides=ret.overrides, status=JobStatus.FAILED, _return_value=error))
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(path)


def read_result(path: Path) -> JobReturn:
    """The JobReturn of a packed job's result file (a FAILED one when it cannot be read)."""
    try:
        with path.open("rb") as f:
            ret = pickle.load(f)  # noqa: S301 - written by the batch's own task
    # unpickling raises whatever the pickled classes raise (or an import error here): the job is FAILED
    except Exception as exc:  # noqa: BLE001
        error = JobFailedError(f"cannot read the result file {path}: {exc!r}")
        return JobReturn(status=JobStatus.FAILED, _return_value=error)
    if not isinstance(ret, JobReturn):
        return JobReturn(status=JobStatus.FAILED, _return_value=JobFailedError(f"{path}: not a JobReturn"))
    return ret


class PackedTask:
    """The submitit callable of a packed array task: runs its jobs in the forked pool (module docstring)."""

    def __init__(self, shared_path: str, results: str, plan: TaskPlan) -> None:
        """Point at the batch's shared pickle and result folder."""
        self.shared_path = shared_path
        self.results = results
        self.plan = plan

    def unfinished(self, jobs: Sequence[Job]) -> list[Job]:
        """The jobs that have no result file yet."""
        folder = Path(self.results)
        return [(num, list(o)) for num, o in jobs if not result_path(folder, num).exists()]

    def __call__(self, jobs: Sequence[Job]) -> dict[str, int]:
        """Run the unfinished ``(job number, overrides)``; returns counts (results are the per-job files)."""
        import submitit

        _log_to_stderr()
        todo = self.unfinished(jobs)
        plan = self.plan
        shared = load_shared(self.shared_path)
        env = submitit.JobEnvironment()
        gpus = allocated_gpus(os.environ, plan.requested_gpus) if plan.gpus_per_job is not None else []
        if plan.gpus_per_job is not None and not gpus:
            msg = (
                f"{plan.label}: gpus_per_job={plan.gpus_per_job:g}, but the task has no CUDA_VISIBLE_DEVICES"
            )
            raise RuntimeError(msg)
        workers = plan.worker_count(len(gpus))
        if plan.workers is not None and workers < plan.workers:
            log.warning(
                "%s: %d GPU(s) hold only %d of the %d workers", plan.label, len(gpus), workers, plan.workers
            )
        mask = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        slots = plan_slots(
            mask,
            gpus,
            workers,
            cpus_per_job=plan.cpus_per_job,
            gpus_per_job=plan.gpus_per_job,
            environ=os.environ,
        )
        log.info(
            "%s: task %s runs %d of its %d jobs, %d at a time, on CPUs %s%s",
            plan.label,
            env.job_id,
            len(todo),
            len(jobs),
            workers,
            ",".join(map(str, mask)) or "?",
            f", GPUs {','.join(gpus)}" if gpus else "",
        )
        folder = Path(self.results)
        settings = PoolSettings(
            workers=workers,
            timeout_s=plan.timeout_s,
            kill_grace_s=plan.kill_grace_s,
            progress="log",
            label=f"{plan.label} task {env.job_id}",
        )
        terminated = [False]

        def record(num: int, ret: JobReturn) -> None:
            if terminated[0] and _killed(ret):  # collateral of the task's SIGTERM: left for the requeued task
                return
            write_result(result_path(folder, num), ret)

        pool = Pool(
            shared.hydra_context,
            shared.task_function,
            shared.restore_composer(),
            settings,
            slots=slots,
            job_id=lambda _num: str(env.job_id),
            on_start=lambda num: started_path(folder, num).touch(),
            on_result=record,
            # the task handles the checkpoint signal (requeue); its jobs ignore it and are stopped
            child_signals={signal.SIGUSR2: signal.SIG_IGN, signal.SIGCONT: signal.SIG_DFL},
        )
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: Any) -> None:
            # scancel/qdel, preemption, the time limit: the scheduler signals every process of the task;
            # the jobs die, and no new one starts
            terminated[0] = True
            pool.stop_starting()
            if callable(previous):
                previous(signum, frame)

        signal.signal(signal.SIGTERM, on_sigterm)
        try:
            returns = pool.run(todo) if todo else []
        finally:
            signal.signal(signal.SIGTERM, previous)
        if terminated[0]:
            # the scheduler kills the task next (KillWait), or requeues it (USR2: submitit checkpoints and
            # exits): a result now would end the task in the controller's eyes
            deadline = time.monotonic() + _TERMINATED_WAIT_S
            while time.monotonic() < deadline:
                time.sleep(1.0)
            msg = f"{plan.label}: task {env.job_id} was terminated (SIGTERM) before all its jobs finished"
            raise RuntimeError(msg)
        failed = sum(r.status != JobStatus.COMPLETED for r in returns)
        return {"jobs": len(jobs), "ran": len(returns), "failed": failed}

    def checkpoint(self, jobs: Sequence[Job]) -> Any:
        """Time limit / preemption (submitit's USR2): requeue with only the jobs that have no result yet."""
        import submitit

        left = self.unfinished(jobs)
        log.warning(
            "%s: checkpoint: %d of %d jobs of this task finished; requeued with the other %d",
            self.plan.label,
            len(jobs) - len(left),
            len(jobs),
            len(left),
        )
        return submitit.helpers.DelayedSubmission(self, left)


__all__ = [
    "GPU_VARIABLES",
    "PackedTask",
    "TaskPlan",
    "allocated_gpus",
    "plan_slots",
    "read_result",
    "result_path",
    "started_path",
    "write_result",
]
