"""The Hydra side of ``hydraflow_pbs``: each batch is one PBS job array through :mod:`hydraflow.launch.pbs`.

The executor, the job environment and the ``qstat`` parsing live in :mod:`hydraflow.launch.pbs` (a submitit
executor plugin); this module maps the launcher fields onto it and runs the batch with the shared
submit/poll/cancel loop of :mod:`hydraflow.launch.batch` (one ``qstat`` per poll for the whole batch, one
``qdel`` per array when the controller is interrupted).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydraflow.launch.batch import Backend, HydraJob, PollOptions, run_batch
from hydraflow.launch.pbs._launch_errors import reported_briefly

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hydra.core.utils import JobReturn
    from hydra.types import HydraContext, TaskFunction
    from omegaconf import DictConfig

DEFAULT_MAX_ARRAY_SIZE = 10_000  # PBS Pro's default max_array_size; Torque's default is similar or larger

# launcher field -> PBSExecutor.update_parameters keyword (None: not an executor parameter)
_FIELD_TO_PBS: dict[str, str | None] = {
    "submitit_folder": None,
    "poll_interval_s": None,
    "max_poll_interval_s": None,
    "progress": None,
    "max_num_timeout": None,
    "max_array_size": None,
    "dialect": None,
    "name": "job_name",
    "timeout_min": "timeout_min",
    "nodes": "nodes",
    "cpus_per_task": "ncpus",
    "tasks_per_node": "mpiprocs",
    "ngpus": "ngpus",
    "mem_gb": "mem_gb",
    "queue": "queue",
    "account": "account",
    "array_parallelism": "array_parallelism",
    "signal_delay_s": "signal_delay_s",
    "additional_resources": "additional_resources",
    "additional_directives": "additional_directives",
    "setup": "setup",
    "stderr_to_stdout": "stderr_to_stdout",
}


def pbs_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """Translate launcher fields into ``PBSExecutor.update_parameters`` keywords.

    ``tasks_per_node=1`` (the default) is left out so that the Torque dialect, which has no ``mpiprocs``,
    accepts it; empty dicts/lists and ``None`` are left out.

    >>> pbs_parameters({"cpus_per_task": 4, "tasks_per_node": 1, "queue": "q", "additional_directives": []})
    {'ncpus': 4, 'queue': 'q'}
    """
    unknown = sorted(set(params) - set(_FIELD_TO_PBS))
    if unknown:
        known = sorted(_FIELD_TO_PBS)
        raise ValueError(f"hydra.launcher: unknown field(s) {unknown} for hydraflow_pbs; known: {known}")
    out: dict[str, Any] = {}
    for key, value in params.items():
        target = _FIELD_TO_PBS[key]
        if target is None or value is None or value in ({}, []):
            continue
        if key == "tasks_per_node" and value == 1:
            continue
        out[target] = value
    return out


def _array_limit(dialect: str, requested: int | None) -> int:
    """Sub-jobs per array: the PBS Pro server's ``max_array_size``, lowered by the launcher field."""
    from hydraflow.launch.pbs._executor import server_max_array_size

    server = (server_max_array_size() if dialect == "pbspro" else None) or DEFAULT_MAX_ARRAY_SIZE
    return min(requested, server) if requested else server


@reported_briefly()
def launch(
    *,
    hydra_context: HydraContext,
    task_function: TaskFunction,
    config: DictConfig,
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
    params: dict[str, Any],
) -> list[JobReturn]:
    """Submit one batch as PBS job array(s) and wait for all of it; JobReturns in job order."""
    from submitit.core.utils import JobPaths

    from hydraflow.launch import pbs

    poll = PollOptions.from_params(params)
    requested = params.get("max_array_size")
    if requested is not None and requested < 1:
        raise ValueError(f"hydra.launcher.max_array_size must be >= 1 (or null), got {requested}")
    executor = pbs.PBSExecutor(
        folder=str(params["submitit_folder"]),
        dialect=str(params.get("dialect") or "pbspro"),
        max_num_timeout=int(params.get("max_num_timeout", 0)),
    )
    executor.update_parameters(**pbs_parameters(params))

    def submit(fn: HydraJob, overrides: list[list[str]], nums: list[int]) -> list[Any]:
        return executor.map_array(fn, overrides, nums)

    def is_terminal(state: str) -> bool:
        return state not in pbs.INCOMPLETE_STATES

    backend = Backend(
        name="hydraflow_pbs",
        submit=submit,
        poll_states=pbs.poll_states,
        cancel=pbs.cancel_jobs,
        max_array_size=_array_limit(executor.dialect, requested),
        poll_interval_s=poll.poll_interval_s,
        max_poll_interval_s=poll.max_poll_interval_s,
        result_grace_s=max(5.0, 2 * poll.poll_interval_s),
        is_terminal=is_terminal,
    )
    return run_batch(
        backend,
        hydra_context=hydra_context,
        task_function=task_function,
        config=config,
        job_overrides=job_overrides,
        initial_job_idx=initial_job_idx,
        folder_root=Path(JobPaths.get_first_id_independent_folder(executor.folder)),
        progress_mode=poll.progress,
    )
