"""The settings of ``hydraflow_local``, ``hydraflow_slurm`` and ``hydraflow_pbs``: each field declared once.

These dataclasses are the structured configs of the launchers (``hydra_plugins.hydraflow_launcher.config``
registers them in Hydra's ConfigStore; ``_target_`` names each one's Launcher class) and the typed settings
the backends read. A field that becomes a
parameter of the scheduler's submitit executor names it in its metadata (``sbatch``: submitit's
``SlurmExecutor``, ``pbs``: :class:`hydraflow.launch.pbs.PBSExecutor`); :meth:`LauncherConfig.from_params`
checks the values and names a bad one as ``hydra.launcher.<field>``.

Only the standard library and ``hydra.errors`` are imported: Hydra imports this module at every application
start. No ``from __future__ import annotations``: OmegaConf reads these annotations at runtime.
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from hydra.errors import CompactHydraException

PROGRESS_MODES = ("auto", "bar", "log", "none")
PBS_DIALECTS = ("pbspro", "torque")

_C = TypeVar("_C", bound="LauncherConfig")
_PLUGIN = "hydra_plugins.hydraflow_launcher.launcher"


class LauncherConfigError(CompactHydraException, ValueError):
    """A launcher setting that cannot work; the message names it (``hydra.launcher.<field>``).

    Raised when the launcher is set up, before the sweep writes anything; Hydra prints the message alone.
    """


def _to(*, sbatch: str | None = None, pbs: str | None = None) -> dict[str, str]:
    """Field metadata: the executor parameter a launcher field becomes, per scheduler."""
    return {k: v for k, v in (("sbatch", sbatch), ("pbs", pbs)) if v is not None}


@dataclass
class LauncherConfig:
    """What every launcher has: a progress display."""

    launcher: ClassVar[str] = "hydraflow"

    _target_: str = ""  # the plugin's Launcher class (Hydra instantiates it with the other fields)
    # progress display: auto (a live line on a terminal, log lines otherwise) | bar | log | none
    progress: str = "auto"
    # per-job wall-clock limit in seconds (null: none); an overrunning job is killed and reported FAILED, the
    # others go on. Batch schedulers: each job of a packed task (docs/many-short-jobs.md)
    timeout_s: float | None = None
    # seconds between SIGTERM and SIGKILL when a job is stopped (timeout, Ctrl-C)
    kill_grace_s: float = 5.0

    @classmethod
    def from_params(cls: type[_C], params: Mapping[str, Any]) -> _C:  # noqa: PYI019 - no typing_extensions here
        """The settings from the ``hydra.launcher`` fields, checked; raises :class:`LauncherConfigError`.

        >>> LocalConfig.from_params({"n_jobs": 2}).n_jobs
        2
        >>> LocalConfig.from_params({"n_jobs": 0})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        hydraflow.launch.config.LauncherConfigError: hydra.launcher.n_jobs must be >= 1 (or null ...), got 0
        """
        known = [f.name for f in dataclasses.fields(cls) if f.name != "_target_"]
        unknown = sorted(set(params) - set(known))
        if unknown:
            msg = f"hydra.launcher: unknown field(s) {unknown} for {cls.launcher}; known: {sorted(known)}"
            raise LauncherConfigError(msg)
        conf = cls(**params)
        conf.check()
        return conf

    def check(self) -> None:
        """Reject out-of-range values with the name of the field."""
        _require(
            self.progress in PROGRESS_MODES, "progress", f"must be one of {', '.join(PROGRESS_MODES)}", self
        )
        timeout = self.timeout_s
        _require(
            timeout is None or (_is_number(timeout) and timeout > 0),
            "timeout_s",
            "must be > 0 (or null)",
            self,
        )
        _require(
            _is_number(self.kill_grace_s) and self.kill_grace_s >= 0, "kill_grace_s", "must be >= 0", self
        )

    def executor_parameters(self, scheduler: str) -> dict[str, Any]:
        """The fields that are parameters of ``scheduler``'s executor (``sbatch``, ``pbs``), by their names.

        ``None`` values are left out (the scheduler's own defaults apply).

        >>> SlurmConfig(name="app", timeout_min=5, partition=None).executor_parameters("sbatch")["time"]
        5
        """
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            target = f.metadata.get(scheduler)
            value = getattr(self, f.name)
            if target is not None and value is not None:
                out[target] = value
        return out


def _require(ok: bool, name: str, what: str, conf: LauncherConfig) -> None:
    if not ok:
        raise LauncherConfigError(f"hydra.launcher.{name} {what}, got {getattr(conf, name)!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class LocalConfig(LauncherConfig):
    """``hydra/launcher=hydraflow_local``: a bounded pool of forked worker processes on this machine."""

    launcher: ClassVar[str] = "hydraflow_local"

    _target_: str = f"{_PLUGIN}.HydraflowLocalLauncher"

    # number of jobs running at the same time (null: number of CPU cores usable by this process)
    n_jobs: int | None = None
    # write each job's stdout/stderr to stdout.log/stderr.log in its job directory
    redirect_output: bool = True

    def check(self) -> None:
        """Reject out-of-range values with the name of the field."""
        n_jobs = self.n_jobs
        _require(
            n_jobs is None or (_is_int(n_jobs) and n_jobs >= 1),
            "n_jobs",
            "must be >= 1 (or null for all cores)",
            self,
        )
        super().check()


@dataclass
class QueueConfig(LauncherConfig):
    """Fields shared by the batch-scheduler launchers (submitit executors)."""

    # where submitit keeps job scripts, pickles and scheduler logs (%j: scheduler job id)
    submitit_folder: str = "${hydra.sweep.dir}/.submitit/%j"
    # wall-clock limit of each job in minutes
    timeout_min: int = field(default=60, metadata=_to(sbatch="time", pbs="timeout_min"))
    cpus_per_task: int | None = field(default=None, metadata=_to(sbatch="cpus_per_task", pbs="ncpus"))
    tasks_per_node: int = field(default=1, metadata=_to(sbatch="ntasks_per_node", pbs="mpiprocs"))
    mem_gb: int | None = field(default=None, metadata=_to(sbatch="mem", pbs="mem_gb"))
    nodes: int = field(default=1, metadata=_to(sbatch="nodes", pbs="nodes"))
    name: str = field(default="${hydra.job.name}", metadata=_to(sbatch="job_name", pbs="job_name"))
    stderr_to_stdout: bool = field(
        default=False, metadata=_to(sbatch="stderr_to_stdout", pbs="stderr_to_stdout")
    )
    # seconds between two checks for finished jobs (result files); also the shortest interval between two
    # scheduler queries (one query for the whole batch), which then back off to half the time elapsed since
    # submission, at most max_poll_interval_s
    poll_interval_s: float = 2.0
    max_poll_interval_s: float = 60.0
    # how many times a job is requeued after hitting its time limit (preemptions always requeue)
    max_num_timeout: int = 0
    # commands run in the job script before the job starts (module load, conda activate, ...)
    setup: list[str] | None = field(default=None, metadata=_to(sbatch="setup", pbs="setup"))
    # at most this many array tasks run at once (sbatch --array=0-N%P, qsub -J 0-N%P / -t 0-N%P)
    array_parallelism: int = field(
        default=256, metadata=_to(sbatch="array_parallelism", pbs="array_parallelism")
    )
    # upper bound on tasks per job array; the cluster's own limit always applies (SLURM's MaxArraySize, a PBS
    # Pro server's max_array_size): this can only lower it
    max_array_size: int | None = None
    # --- packing: several Hydra jobs per array task (docs/many-short-jobs.md) ---
    # Hydra jobs per array task (1: one job per task); a packed task runs its jobs in a pool of forked
    # workers, each job with its own CPUs/GPUs, result, logs and failure
    jobs_per_task: int = 1
    # automatic sizing: at most this many array tasks per batch (jobs_per_task grows to ceil(jobs/max_tasks))
    max_tasks: int | None = None
    # automatic sizing: expected duration of one job in seconds; alone, a task gets as many jobs as its
    # workers finish within timeout_min (less signal_delay_s); with jobs_per_task/max_tasks, a task that could
    # not finish in time is an error
    job_duration_s: float | None = None
    # jobs running at once in a packed task (null: cpus_per_task // cpus_per_job, fewer if the GPUs are fewer)
    workers_per_task: int | None = None
    # CPUs of the task's allocation each running job is pinned to (its own, while the mask has enough)
    cpus_per_job: int = 1
    # GPUs of the task's allocation each running job sees (CUDA_VISIBLE_DEVICES): a whole number, or 1/n
    # (0.5, 0.25) for n jobs sharing one GPU; the task must request GPUs
    gpus_per_job: float | None = None

    def check(self) -> None:
        """Reject out-of-range values with the name of the field."""
        self._check_packing()
        poll, max_poll = self.poll_interval_s, self.max_poll_interval_s
        _require(_is_number(poll) and poll > 0, "poll_interval_s", "must be > 0", self)
        _require(
            _is_number(max_poll) and max_poll >= poll,
            "max_poll_interval_s",
            f"must be >= poll_interval_s ({poll})",
            self,
        )
        _require(
            _is_int(self.max_num_timeout) and self.max_num_timeout >= 0,
            "max_num_timeout",
            "must be >= 0",
            self,
        )
        for name in ("nodes", "tasks_per_node", "array_parallelism"):
            value = getattr(self, name)
            _require(_is_int(value) and value >= 1, name, "must be >= 1", self)
        size = self.max_array_size
        _require(
            size is None or (_is_int(size) and size >= 1), "max_array_size", "must be >= 1 (or null)", self
        )
        super().check()

    # ------------------------------------------------------------------ packing
    @property
    def packing(self) -> bool:
        """Whether jobs may run in packed tasks (forked workers) rather than one job per task.

        >>> SlurmConfig().packing, SlurmConfig(jobs_per_task=4).packing, SlurmConfig(timeout_s=60).packing
        (False, True, True)
        """
        return (
            self.jobs_per_task != 1
            or self.max_tasks is not None
            or self.job_duration_s is not None
            or self.timeout_s is not None
        )

    def requested_gpus(self) -> int | None:
        """GPUs each task requests: a count, ``-1`` if requested in a form not counted here, else ``None``."""
        return None

    def _check_packing(self) -> None:
        for name in ("jobs_per_task", "cpus_per_job"):
            value = getattr(self, name)
            _require(_is_int(value) and value >= 1, name, "must be >= 1", self)
        for name in ("max_tasks", "workers_per_task"):
            value = getattr(self, name)
            _require(value is None or (_is_int(value) and value >= 1), name, "must be >= 1 (or null)", self)
        duration = self.job_duration_s
        _require(
            duration is None or (_is_number(duration) and duration > 0),
            "job_duration_s",
            "must be > 0 (or null)",
            self,
        )
        cpus = self.cpus_per_task or 1
        _require(
            self.cpus_per_job <= cpus or self.workers_per_task is not None,
            "cpus_per_job",
            f"must be <= cpus_per_task ({cpus}) unless workers_per_task is set",
            self,
        )
        self._check_gpus()
        if not self.packing:
            return
        _require(
            self.nodes == 1 and self.tasks_per_node == 1,
            "jobs_per_task",
            "packs jobs into single-node, single-process tasks: it needs nodes=1 and tasks_per_node=1",
            self,
        )
        if duration is not None:
            budget = self.task_budget_s()
            _require(
                duration <= budget,
                "job_duration_s",
                f"must fit in a task: <= timeout_min * 60 - signal_delay_s = {budget:g} s",
                self,
            )

    def _check_gpus(self) -> None:
        share = self.gpus_per_job
        if share is None:
            return
        _require(
            gpu_share_ok(share),
            "gpus_per_job",
            "must be a whole number of GPUs or a fraction 1/n such as 0.5 or 0.25",
            self,
        )
        requested = self.requested_gpus()
        _require(
            requested is not None,
            "gpus_per_job",
            f"needs GPUs in each task: request them ({self._gpu_fields})",
            self,
        )
        _require(
            requested is None or requested < 0 or share <= requested,
            "gpus_per_job",
            f"must be <= the GPUs a task requests ({requested})",
            self,
        )

    _gpu_fields: ClassVar[str] = "the scheduler's GPU field"

    def task_budget_s(self) -> float:
        """Seconds a packed task can run jobs: ``timeout_min`` less the checkpoint signal's head start.

        >>> SlurmConfig(timeout_min=10, signal_delay_s=120).task_budget_s()
        480
        """
        delay = getattr(self, "signal_delay_s", 0)
        return self.timeout_min * 60 - delay

    def workers(self, gpus: int | None = None) -> int:
        """Jobs running at once in a packed task (``gpus``: GPUs the task has, when known).

        >>> SlurmConfig(cpus_per_task=8, cpus_per_job=2).workers(), SlurmConfig(workers_per_task=3).workers()
        (4, 3)
        >>> SlurmConfig(cpus_per_task=8, gpus_per_task=2, gpus_per_job=0.5).workers(gpus=2)
        4
        """
        count = self.workers_per_task or max(1, (self.cpus_per_task or 1) // self.cpus_per_job)
        if self.gpus_per_job is not None and gpus is not None and gpus > 0:
            count = min(count, gpu_slots(gpus, self.gpus_per_job))
        return max(1, count)

    def jobs_per_task_for(self, n_jobs: int) -> int:
        """Jobs per array task for a batch of ``n_jobs`` (docs/many-short-jobs.md, "Sizing").

        ``jobs_per_task``, raised to ``ceil(n_jobs / max_tasks)`` with ``max_tasks``; with ``job_duration_s``
        alone, as many jobs as the task's workers finish within its time budget. Raises
        :class:`LauncherConfigError` when ``job_duration_s`` says the tasks would not finish in time.

        >>> SlurmConfig(jobs_per_task=50).jobs_per_task_for(200), SlurmConfig(max_tasks=4).jobs_per_task_for(201)
        (50, 51)
        >>> SlurmConfig(timeout_min=10, signal_delay_s=120, cpus_per_task=2, job_duration_s=10).jobs_per_task_for(1000)
        96
        >>> SlurmConfig(timeout_min=1, signal_delay_s=0, job_duration_s=10, max_tasks=1).jobs_per_task_for(7)
        Traceback (most recent call last):
        ...
        hydraflow.launch.config.LauncherConfigError: hydra.launcher.max_tasks=1 packs 7 jobs into a task: with job_duration_s=10 and 1 worker(s) that is 70 s, more than the 60 s a task has (timeout_min * 60 - signal_delay_s); raise timeout_min, max_tasks or workers_per_task
        """  # noqa: E501
        size = self.jobs_per_task
        if self.max_tasks is not None:
            size = max(size, -(-n_jobs // self.max_tasks))
        duration = self.job_duration_s
        if duration is not None:
            workers = self.workers(gpus=self.requested_gpus())
            budget = self.task_budget_s()
            capacity = workers * max(1, int(budget // duration))
            if self.jobs_per_task == 1 and self.max_tasks is None:
                size = capacity
            elif size > capacity:
                what = f"max_tasks={self.max_tasks}" if size > self.jobs_per_task else f"jobs_per_task={size}"
                msg = (
                    f"hydra.launcher.{what} packs {size} jobs into a task: with job_duration_s={duration:g} "
                    "and "
                    f"{workers} worker(s) that is {-(-size // workers) * duration:g} s, more than the "
                    f"{budget:g} s a task has (timeout_min * 60 - signal_delay_s); raise timeout_min, "
                    "max_tasks or workers_per_task"
                )
                raise LauncherConfigError(msg)
        return max(1, min(size, n_jobs))


_FRACTION_TOLERANCE = 1e-6  # 1/3 given as 0.333333 is still a third


def gpu_share_ok(share: float) -> bool:
    """Whether ``share`` GPUs per job can be handed out: a whole number, or 1/n.

    >>> [gpu_share_ok(x) for x in (1, 2, 0.5, 0.25, 1 / 3, 0.3, 1.5, 0, -1)]
    [True, True, True, True, True, False, False, False, False]
    """
    if not _is_number(share) or share <= 0:
        return False
    if share >= 1:
        return float(share).is_integer()
    per_gpu = 1 / share
    return abs(per_gpu - round(per_gpu)) < _FRACTION_TOLERANCE


def gpu_slots(gpus: int, share: float) -> int:
    """How many jobs ``gpus`` GPUs hold at ``share`` GPUs per job.

    >>> gpu_slots(4, 1), gpu_slots(4, 2), gpu_slots(2, 0.5), gpu_slots(3, 0.25), gpu_slots(1, 2)
    (4, 2, 4, 12, 0)
    """
    if share >= 1:
        return gpus // int(share)
    return gpus * round(1 / share)


@dataclass
class SlurmConfig(QueueConfig):
    """``hydra/launcher=hydraflow_slurm``: each batch is one ``sbatch`` job array (split at MaxArraySize)."""

    launcher: ClassVar[str] = "hydraflow_slurm"

    _target_: str = f"{_PLUGIN}.HydraflowSlurmLauncher"

    # where the jobs run, on which nodes (features they must have, nodes to avoid)
    partition: str | None = field(default=None, metadata=_to(sbatch="partition"))
    qos: str | None = field(default=None, metadata=_to(sbatch="qos"))
    account: str | None = field(default=None, metadata=_to(sbatch="account"))
    constraint: str | None = field(default=None, metadata=_to(sbatch="constraint"))
    exclude: str | None = field(default=None, metadata=_to(sbatch="exclude"))
    # USR2 is sent this many seconds before the time limit (checkpoint + requeue window)
    signal_delay_s: int = field(default=120, metadata=_to(sbatch="signal_delay_s"))
    # GPUs and generic resources
    gpus_per_node: int | None = field(default=None, metadata=_to(sbatch="gpus_per_node"))
    gpus_per_task: int | None = field(default=None, metadata=_to(sbatch="gpus_per_task"))
    cpus_per_gpu: int | None = field(default=None, metadata=_to(sbatch="cpus_per_gpu"))
    gres: str | None = field(default=None, metadata=_to(sbatch="gres"))
    # extra arguments of the srun line that starts the job
    srun_args: list[str] | None = field(default=None, metadata=_to(sbatch="srun_args"))
    # memory per GPU / per CPU in sbatch's syntax ("16G"), instead of mem_gb; free text for squeue and sacct
    mem_per_gpu: str | None = field(default=None, metadata=_to(sbatch="mem_per_gpu"))
    mem_per_cpu: str | None = field(default=None, metadata=_to(sbatch="mem_per_cpu"))
    comment: str | None = field(default=None, metadata=_to(sbatch="comment"))
    # sbatch options without a field of their own, e.g. {"mail-type": "END"}
    additional_parameters: dict[str, Any] = field(
        default_factory=dict, metadata=_to(sbatch="additional_parameters")
    )

    _gpu_fields: ClassVar[str] = "hydra.launcher.gpus_per_task, gpus_per_node or gres=gpu:N"

    def requested_gpus(self) -> int | None:
        """GPUs each task requests (``gpus_per_task``, ``gpus_per_node``, ``gres=gpu[:type]:N``).

        >>> SlurmConfig(gres="gpu:a100:2").requested_gpus(), SlurmConfig().requested_gpus()
        (2, None)
        >>> SlurmConfig(additional_parameters={"gpus": "2"}).requested_gpus()
        -1
        """
        for count in (self.gpus_per_task, self.gpus_per_node):
            if count:
                return int(count)
        for item in (self.gres or "").split(","):
            name, _, rest = item.partition(":")
            if name.strip() == "gpu":
                last = rest.rpartition(":")[2]
                return int(last) if last.isdigit() else 1
        extra = {str(k).replace("-", "_") for k in self.additional_parameters}
        if extra & {"gpus", "gres", "gpus_per_task", "gpus_per_node", "tres_per_task"}:
            return -1
        return None


@dataclass
class PBSConfig(QueueConfig):
    """``hydra/launcher=hydraflow_pbs``: each batch is one PBS job array (``qsub -J`` / ``qsub -t``)."""

    launcher: ClassVar[str] = "hydraflow_pbs"

    _target_: str = f"{_PLUGIN}.HydraflowPBSLauncher"

    # PBS flavour of the qsub/qstat commands: pbspro | torque
    dialect: str = "pbspro"
    queue: str | None = field(default=None, metadata=_to(pbs="queue"))
    account: str | None = field(default=None, metadata=_to(pbs="account"))
    # GPUs per chunk (PBS Pro ngpus=) / per node (Torque gpus=)
    ngpus: int | None = field(default=None, metadata=_to(pbs="ngpus"))
    # the job sends itself USR2 this many seconds before its walltime (checkpoint + requeue)
    signal_delay_s: int = field(default=90, metadata=_to(pbs="signal_delay_s"))
    # extra "-l key=value" resources, e.g. {"place": "scatter"}
    additional_resources: dict[str, str] = field(
        default_factory=dict, metadata=_to(pbs="additional_resources")
    )
    # extra raw "#PBS" directives, e.g. ["-m abe", "-M me@example.org"]
    additional_directives: list[str] = field(default_factory=list, metadata=_to(pbs="additional_directives"))

    _gpu_fields: ClassVar[str] = "hydra.launcher.ngpus"

    def requested_gpus(self) -> int | None:
        """GPUs each task requests (``ngpus``).

        >>> PBSConfig(ngpus=2).requested_gpus(), PBSConfig().requested_gpus()
        (2, None)
        """
        return self.ngpus or None

    def check(self) -> None:
        """Reject out-of-range values with the name of the field."""
        _require(self.dialect in PBS_DIALECTS, "dialect", f"must be one of {', '.join(PBS_DIALECTS)}", self)
        super().check()


__all__ = [
    "PBS_DIALECTS",
    "PROGRESS_MODES",
    "LauncherConfig",
    "LauncherConfigError",
    "LocalConfig",
    "PBSConfig",
    "QueueConfig",
    "SlurmConfig",
    "gpu_share_ok",
    "gpu_slots",
]
