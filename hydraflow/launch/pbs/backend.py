"""The ``hydraflow_pbs`` backend: each batch is one PBS job array (:class:`hydraflow.launch.pbs.PBSExecutor`).

The executor, the job environment and the ``qstat`` parsing live beside this module (a submitit executor
plugin); this module maps the launcher fields onto it and runs the batch with the shared
submit/poll/cancel loop of :mod:`hydraflow.launch.batch` (one ``qstat`` per poll for the whole batch, one
``qdel`` per array when the controller is interrupted).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydraflow.launch.batch import Backend, run_batch
from hydraflow.launch.config import LauncherConfigError, PBSConfig
from hydraflow.launch.pbs._launch_errors import reported_briefly

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from hydra.core.utils import JobReturn

    from hydraflow.launch.common import Batch

DEFAULT_MAX_ARRAY_SIZE = 10_000  # PBS Pro's default max_array_size; Torque's default is similar or larger


def configure(params: Mapping[str, Any]) -> PBSConfig:
    """The ``hydra.launcher`` fields as checked settings; raises ``LauncherConfigError`` naming a bad one.

    Besides the field checks of :class:`~hydraflow.launch.config.PBSConfig`, the values that go into the job
    script (names, queue, resources, directives) are checked as the executor will check them.
    """
    from hydraflow.launch.pbs._script import PBSConfigError, make_spec

    conf = PBSConfig.from_params(params)
    try:
        make_spec(conf.dialect, pbs_parameters(conf))
    except PBSConfigError as exc:
        raise LauncherConfigError(f"hydra.launcher ({conf.launcher}): {exc}") from exc
    return conf


def pbs_parameters(conf: PBSConfig) -> dict[str, Any]:
    """The launcher fields as ``PBSExecutor.update_parameters`` keywords.

    ``tasks_per_node=1`` (the default) is left out so that the Torque dialect, which has no ``mpiprocs``,
    accepts it; empty dicts/lists and ``None`` are left out.

    >>> params = pbs_parameters(PBSConfig(cpus_per_task=4, tasks_per_node=1, queue="q"))
    >>> params["ncpus"], params["queue"], "mpiprocs" in params, "additional_resources" in params
    (4, 'q', False, False)
    """
    out = conf.executor_parameters("pbs")
    if conf.tasks_per_node == 1:
        del out["mpiprocs"]
    return {key: value for key, value in out.items() if value not in ({}, [])}


def _array_limit(dialect: str, requested: int | None) -> int:
    """Sub-jobs per array: the PBS Pro server's ``max_array_size``, lowered by the launcher field."""
    from hydraflow.launch.pbs._executor import server_max_array_size

    server = (server_max_array_size() if dialect == "pbspro" else None) or DEFAULT_MAX_ARRAY_SIZE
    return min(requested, server) if requested else server


@reported_briefly()
def launch(conf: PBSConfig, batch: Batch) -> list[JobReturn]:
    """Submit one batch as PBS job array(s) and wait for all of it; JobReturns in job order."""
    from submitit.core.utils import JobPaths

    from hydraflow.launch import pbs

    executor = pbs.PBSExecutor(
        folder=conf.submitit_folder, dialect=conf.dialect, max_num_timeout=conf.max_num_timeout
    )
    executor.update_parameters(**pbs_parameters(conf))

    def submit(fn: Callable[..., Any], args: list[list[Any]]) -> list[Any]:
        return executor.map_array(fn, *args)

    def is_terminal(state: str) -> bool:
        return state not in pbs.INCOMPLETE_STATES

    backend = Backend(
        name="hydraflow_pbs",
        submit=submit,
        poll_states=pbs.poll_states,
        cancel=pbs.cancel_jobs,
        max_array_size=_array_limit(conf.dialect, conf.max_array_size),
        conf=conf,
        is_terminal=is_terminal,
    )
    return run_batch(backend, batch, Path(JobPaths.get_first_id_independent_folder(executor.folder)))


__all__ = ["DEFAULT_MAX_ARRAY_SIZE", "configure", "launch", "pbs_parameters"]
