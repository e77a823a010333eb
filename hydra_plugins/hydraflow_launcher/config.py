"""Structured configs of the ``hydraflow_local``, ``hydraflow_slurm`` and ``hydraflow_pbs`` launchers.

Registered in Hydra's ConfigStore under ``hydra/launcher``. Only the standard library and Hydra's ConfigStore
are imported here: Hydra imports this module at every application start.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

_PLUGIN = "hydra_plugins.hydraflow_launcher.launcher"


@dataclass
class LocalLauncherConf:
    """``hydra/launcher=hydraflow_local``: a bounded pool of forked worker processes on this machine."""

    _target_: str = f"{_PLUGIN}.HydraflowLocalLauncher"
    # number of jobs running at the same time (null: number of CPU cores usable by this process)
    n_jobs: int | None = None
    # per-job wall-clock limit in seconds (null: none); an overrunning job is killed and reported FAILED
    timeout_s: float | None = None
    # seconds between SIGTERM and SIGKILL when a job is stopped (timeout, Ctrl-C)
    kill_grace_s: float = 5.0
    # progress display: auto (a live line on a terminal, log lines otherwise) | bar | log | none
    progress: str = "auto"
    # write each job's stdout/stderr to stdout.log/stderr.log in its job directory
    redirect_output: bool = True


@dataclass
class SubmititQueueConf:
    """Fields shared by the batch-scheduler launchers (submitit executors)."""

    # where submitit keeps job scripts, pickles and scheduler logs (%j: scheduler job id)
    submitit_folder: str = "${hydra.sweep.dir}/.submitit/%j"
    # wall-clock limit of each job in minutes
    timeout_min: int = 60
    cpus_per_task: int | None = None
    tasks_per_node: int = 1
    mem_gb: int | None = None
    nodes: int = 1
    name: str = "${hydra.job.name}"
    stderr_to_stdout: bool = False
    # seconds between two checks for finished jobs (result files); also the shortest interval between two
    # scheduler queries (one query for the whole batch), which then back off to half the time elapsed since
    # submission, at most max_poll_interval_s
    poll_interval_s: float = 2.0
    max_poll_interval_s: float = 60.0
    # progress display: auto (a live line on a terminal, log lines otherwise) | bar | log | none
    progress: str = "auto"
    # how many times a job is requeued after hitting its time limit (preemptions always requeue)
    max_num_timeout: int = 0
    # commands run in the job script before the job starts (module load, conda activate, ...)
    setup: list[str] | None = None


@dataclass
class SlurmLauncherConf(SubmititQueueConf):
    """``hydra/launcher=hydraflow_slurm``: each batch is one ``sbatch`` job array (split at MaxArraySize)."""

    _target_: str = f"{_PLUGIN}.HydraflowSlurmLauncher"
    gpus_per_node: int | None = None
    partition: str | None = None
    qos: str | None = None
    account: str | None = None
    comment: str | None = None
    constraint: str | None = None
    exclude: str | None = None
    gres: str | None = None
    cpus_per_gpu: int | None = None
    gpus_per_task: int | None = None
    mem_per_gpu: str | None = None
    mem_per_cpu: str | None = None
    # USR2 is sent this many seconds before the time limit (checkpoint + requeue window)
    signal_delay_s: int = 120
    # at most this many array tasks run at once (sbatch --array=...%N)
    array_parallelism: int = 256
    # extra arguments of the srun line that starts the job
    srun_args: list[str] | None = None
    # sbatch options without a field of their own, e.g. {"mail-type": "END"}
    additional_parameters: dict[str, Any] = field(default_factory=dict)
    # upper bound on tasks per job array; the cluster's MaxArraySize always applies (this can only lower it)
    max_array_size: int | None = None


@dataclass
class PBSLauncherConf(SubmititQueueConf):
    """``hydra/launcher=hydraflow_pbs``: each batch is one PBS job array (``qsub -J`` / ``qsub -t``)."""

    _target_: str = f"{_PLUGIN}.HydraflowPBSLauncher"
    queue: str | None = None
    account: str | None = None
    # PBS flavour of the qsub/qstat commands: pbspro | torque
    dialect: str = "pbspro"
    # GPUs per chunk (PBS Pro ngpus=) / per node (Torque gpus=)
    ngpus: int | None = None
    # at most this many array tasks run at once (-J 0-N%P / -t 0-N%P)
    array_parallelism: int = 256
    # the job sends itself USR2 this many seconds before its walltime (checkpoint + requeue)
    signal_delay_s: int = 90
    # extra "-l key=value" resources, e.g. {"place": "scatter"}
    additional_resources: dict[str, str] = field(default_factory=dict)
    # extra raw "#PBS" directives, e.g. ["-m abe", "-M me@example.org"]
    additional_directives: list[str] = field(default_factory=list)
    # upper bound on tasks per job array (the server's limit is not queried for PBS)
    max_array_size: int | None = None


_store = ConfigStore.instance()
_store.store(group="hydra/launcher", name="hydraflow_local", node=LocalLauncherConf, provider="hydraflow")
_store.store(group="hydra/launcher", name="hydraflow_slurm", node=SlurmLauncherConf, provider="hydraflow")
_store.store(group="hydra/launcher", name="hydraflow_pbs", node=PBSLauncherConf, provider="hydraflow")
