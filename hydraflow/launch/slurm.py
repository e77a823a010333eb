"""The ``hydraflow_slurm`` backend: every batch is one ``sbatch`` job array (submitit's SLURM executor).

A batch larger than the cluster's ``MaxArraySize`` (read once per process from ``scontrol show config``) is
split into several arrays. State polling is one ``sacct`` call per poll interval for all arrays of the batch
(``squeue`` if accounting is unavailable). Preempted jobs, and jobs hitting their time limit up to
``max_num_timeout`` times, are requeued through submitit's checkpointing.
"""

from __future__ import annotations

import functools
import logging
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydraflow.launch.batch import Backend, HydraJob, PollOptions, array_id, run_batch

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hydra.core.utils import JobReturn
    from hydra.types import HydraContext, TaskFunction
    from omegaconf import DictConfig

log = logging.getLogger(__name__)

SLURM_DEFAULT_MAX_ARRAY_SIZE = 1001  # SLURM's own default when scontrol cannot tell

# launcher field -> sbatch parameter of submitit's SlurmExecutor (None: not an sbatch parameter)
_FIELD_TO_SBATCH: dict[str, str | None] = {
    "submitit_folder": None,
    "poll_interval_s": None,
    "max_poll_interval_s": None,
    "max_num_timeout": None,
    "max_array_size": None,
    "progress": None,
    "name": "job_name",
    "timeout_min": "time",
    "mem_gb": "mem",
    "tasks_per_node": "ntasks_per_node",
    "nodes": "nodes",
    "cpus_per_task": "cpus_per_task",
    "gpus_per_node": "gpus_per_node",
    "stderr_to_stdout": "stderr_to_stdout",
    "partition": "partition",
    "qos": "qos",
    "account": "account",
    "comment": "comment",
    "constraint": "constraint",
    "exclude": "exclude",
    "gres": "gres",
    "cpus_per_gpu": "cpus_per_gpu",
    "gpus_per_task": "gpus_per_task",
    "mem_per_gpu": "mem_per_gpu",
    "mem_per_cpu": "mem_per_cpu",
    "signal_delay_s": "signal_delay_s",
    "array_parallelism": "array_parallelism",
    "setup": "setup",
    "srun_args": "srun_args",
    "additional_parameters": "additional_parameters",
}


def sbatch_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """Translate launcher fields into submitit ``SlurmExecutor.update_parameters`` keywords.

    Unknown fields are an error naming them; ``None`` values are left out (sbatch's own defaults apply).

    >>> sbatch_parameters({"timeout_min": 5, "mem_gb": 4, "partition": None, "name": "app"})
    {'time': 5, 'mem': '4GB', 'job_name': 'app'}
    """
    unknown = sorted(set(params) - set(_FIELD_TO_SBATCH))
    if unknown:
        known = sorted(_FIELD_TO_SBATCH)
        raise ValueError(f"hydra.launcher: unknown field(s) {unknown} for hydraflow_slurm; known: {known}")
    out: dict[str, Any] = {}
    for key, value in params.items():
        target = _FIELD_TO_SBATCH[key]
        if target is None or value is None:
            continue
        if key == "mem_gb":
            out[target] = f"{int(value)}GB" if float(value) == int(value) else f"{int(float(value) * 1024)}MB"
        else:
            out[target] = value
    return out


def array_spec(n: int, parallelism: int, extra: dict[str, Any]) -> dict[str, Any]:
    """``additional_parameters`` for an array of ``n`` tasks: no ``%`` throttle when it would not throttle.

    submitit always writes ``--array=0-N%P``. SLURM does not start the pending tasks of a throttled array
    when a running one ends, only on its periodic scheduling pass (``sched_interval``), so a throttle of
    ``P >= N``, which limits nothing, slows short tasks down (measured: 20 tasks of 0.5 s took 19-20 s with
    ``%20`` or ``%256``, 10 s without, on the test cluster). A user's own ``array`` entry wins.

    >>> array_spec(100, 256, {}), array_spec(100, 10, {}), array_spec(1, 256, {"x": 1})
    ({'array': '0-99'}, {}, {'x': 1})
    """
    out = dict(extra)
    if 1 < n <= parallelism and "array" not in extra:
        out["array"] = f"0-{n - 1}"
    return out


@functools.cache
def cluster_max_array_size() -> int | None:
    """``MaxArraySize`` of the SLURM cluster (``scontrol show config``), or None if it cannot be read.

    Cached for the life of the process: one ``scontrol`` call per controller.
    """
    try:
        proc = subprocess.run(
            ["scontrol", "show", "config"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("hydraflow_slurm: cannot run scontrol to read MaxArraySize: %s", exc)
        return None
    return parse_max_array_size(proc.stdout)


def parse_max_array_size(text: str) -> int | None:
    r"""Read ``MaxArraySize`` from ``scontrol show config`` output.

    >>> parse_max_array_size("MaxArraySize            = 101\nMaxJobCount = 10000\n")
    101
    >>> parse_max_array_size("nothing here") is None
    True
    """
    match = re.search(r"^MaxArraySize\s*=\s*(\d+)\s*$", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def effective_max_array_size(requested: int | None) -> int:
    """Tasks per job array: the cluster's ``MaxArraySize``, lowered by the launcher's ``max_array_size``.

    Array indices run from 0 to MaxArraySize - 1, so an array holds at most MaxArraySize tasks.
    """
    if requested is not None and requested < 1:
        raise ValueError(f"hydra.launcher.max_array_size must be >= 1 (or null), got {requested}")
    cluster = cluster_max_array_size()
    if cluster is None:
        log.warning(
            "hydraflow_slurm: MaxArraySize unknown (scontrol show config); assuming SLURM's default %d",
            SLURM_DEFAULT_MAX_ARRAY_SIZE,
        )
        cluster = SLURM_DEFAULT_MAX_ARRAY_SIZE
    cluster = max(1, cluster)  # MaxArraySize=0/1 disables arrays: one task per "array"
    return min(cluster, requested) if requested is not None else cluster


_ARRAY_RANGE = re.compile(r"^(?P<id>\d+)_\[(?P<ranges>[^\]]+)\]$")


def parse_job_states(text: str) -> dict[str, str]:
    r"""Parse ``JobID|State`` lines (``sacct -P -n -o JobID,State`` or ``squeue -h -o %i|%T``).

    Pending array ranges are expanded; the state is the first word, upper-case.

    >>> parse_job_states("12_0|COMPLETED\n12_[2-3,5%2]|PENDING\n12_1|CANCELLED by 0\n12.batch|COMPLETED")
    {'12_0': 'COMPLETED', '12_2': 'PENDING', '12_3': 'PENDING', '12_5': 'PENDING', '12_1': 'CANCELLED'}
    """
    states: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or "|" not in line:
            continue
        job_id, state = line.split("|", 1)
        if "." in job_id:  # job steps
            continue
        words = state.split()
        if not words:
            continue
        word = words[0].upper().rstrip("+")
        match = _ARRAY_RANGE.match(job_id)
        if match is None:
            states[job_id] = word
            continue
        ranges = match.group("ranges").split("%", 1)[0]
        for part in ranges.split(","):
            low, _, high = part.partition("-")
            for index in range(int(low), int(high or low) + 1):
                states[f"{match.group('id')}_{index}"] = word
    return states


class SlurmQueries:
    """The scheduler queries of one controller, counted (``counters``) for tests and benchmarks."""

    def __init__(self) -> None:
        """Start with zero calls and accounting assumed to work."""
        self.counters = {"sacct": 0, "squeue": 0, "scancel": 0}
        self._use_squeue = False

    def poll(self, jobs: list[Any]) -> dict[str, str]:
        """One query for the arrays of these jobs: ``sacct`` (``squeue`` when accounting does not answer)."""
        arrays = sorted({array_id(job.job_id) for job in jobs})
        if not self._use_squeue:
            self.counters["sacct"] += 1
            cmd = ["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", ",".join(arrays)]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
            if proc.returncode == 0:
                return parse_job_states(proc.stdout)
            log.warning(
                "hydraflow_slurm: sacct failed (%s); falling back to squeue: jobs that leave the queue "
                "without a result are reported as GONE",
                proc.stderr.strip(),
            )
            self._use_squeue = True
        self.counters["squeue"] += 1
        cmd = ["squeue", "-h", "-o", "%i|%T", "-j", ",".join(arrays)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        states = parse_job_states(proc.stdout) if proc.returncode == 0 else {}
        return _GoneIfMissing(states)

    def cancel(self, jobs: list[Any]) -> None:
        """One ``scancel`` for the arrays of these jobs (tasks already finished are not affected)."""
        arrays = sorted({array_id(job.job_id) for job in jobs})
        self.counters["scancel"] += 1
        subprocess.run(["scancel", *arrays], capture_output=True, text=True, timeout=120, check=True)  # noqa: S607


class _GoneIfMissing(dict[str, str]):
    """squeue forgets finished jobs: a job id it does not list has left the queue."""

    def get(self, key: str, default: Any = None) -> Any:
        del default
        return super().get(key, "GONE")


def launch(
    *,
    hydra_context: HydraContext,
    task_function: TaskFunction,
    config: DictConfig,
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
    params: dict[str, Any],
) -> list[JobReturn]:
    """Submit one batch as SLURM job array(s) and wait for all of it; JobReturns in job order."""
    import submitit
    from submitit.core.utils import JobPaths

    poll = PollOptions.from_params(params)
    sbatch = sbatch_parameters(params)
    max_array_size = effective_max_array_size(params.get("max_array_size"))
    folder = str(params["submitit_folder"])
    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=int(params.get("max_num_timeout", 0)))
    executor.update_parameters(**sbatch)
    queries = SlurmQueries()

    user_extra = dict(sbatch.get("additional_parameters") or {})
    parallelism = int(sbatch.get("array_parallelism", 256))

    def submit(fn: HydraJob, overrides: list[list[str]], nums: list[int]) -> list[Any]:
        executor.update_parameters(additional_parameters=array_spec(len(overrides), parallelism, user_extra))
        return executor.map_array(fn, overrides, nums)

    backend = Backend(
        name="hydraflow_slurm",
        submit=submit,
        poll_states=queries.poll,
        cancel=queries.cancel,
        max_array_size=max_array_size,
        poll_interval_s=poll.poll_interval_s,
        max_poll_interval_s=poll.max_poll_interval_s,
        result_grace_s=max(5.0, 2 * poll.poll_interval_s),
        counters=queries.counters,
    )
    folder_root = Path(JobPaths.get_first_id_independent_folder(executor.folder))
    return run_batch(
        backend,
        hydra_context=hydra_context,
        task_function=task_function,
        config=config,
        job_overrides=job_overrides,
        initial_job_idx=initial_job_idx,
        folder_root=folder_root,
        progress_mode=poll.progress,
    )
