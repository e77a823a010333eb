"""The ``hydraflow_slurm`` backend: every batch is one ``sbatch`` job array (submitit's SLURM executor).

A batch larger than the cluster's ``MaxArraySize`` (read once per process from ``scontrol show config``) is
split into several arrays. State polling is one ``sacct`` call per poll interval for all arrays of the batch
(``squeue`` if accounting is unavailable; see :mod:`.queries`). Preempted jobs, and jobs hitting their time
limit up to ``max_num_timeout`` times, are requeued through submitit's checkpointing.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.errors import CompactHydraException

from hydraflow.launch.batch import Backend, run_batch
from hydraflow.launch.config import SlurmConfig
from hydraflow.launch.slurm.queries import SlurmQueries, effective_max_array_size

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from hydra.core.utils import JobReturn

    from hydraflow.launch.common import Batch


def configure(params: Mapping[str, Any]) -> SlurmConfig:
    """The ``hydra.launcher`` fields as checked settings; raises ``LauncherConfigError`` naming a bad one."""
    return SlurmConfig.from_params(params)


def sbatch_parameters(conf: SlurmConfig) -> dict[str, Any]:
    """The launcher fields as submitit ``SlurmExecutor.update_parameters`` keywords.

    ``None`` values are left out (sbatch's own defaults apply); ``mem_gb`` becomes sbatch's ``--mem``.

    >>> sbatch_parameters(SlurmConfig(timeout_min=5, mem_gb=4, partition=None, name="app"))["mem"]
    '4GB'
    """
    out = conf.executor_parameters("sbatch")
    if conf.mem_gb is not None:
        mem = conf.mem_gb
        out["mem"] = f"{int(mem)}GB" if float(mem) == int(mem) else f"{int(float(mem) * 1024)}MB"
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


class SlurmSubmissionError(CompactHydraException):
    """``sbatch`` refused a job array: Hydra prints the message alone; the batch loop cancels the rest."""


def one_line(error: BaseException) -> str:
    r"""A command's error output on one line, without the ``sbatch: error:`` prefixes.

    >>> one_line(RuntimeError("sbatch: error: invalid partition: x\nsbatch: error: submission failed"))
    'invalid partition: x; submission failed'
    """
    lines = [line.strip().removeprefix("sbatch: error:").strip() for line in str(error).splitlines()]
    return "; ".join(line for line in lines if line) or type(error).__name__


def launch(conf: SlurmConfig, batch: Batch) -> list[JobReturn]:
    """Submit one batch as SLURM job array(s) and wait for all of it; JobReturns in job order."""
    import submitit
    from submitit.core.utils import JobPaths

    executor = submitit.SlurmExecutor(folder=conf.submitit_folder, max_num_timeout=conf.max_num_timeout)
    executor.update_parameters(**sbatch_parameters(conf))
    queries = SlurmQueries()

    root = Path(JobPaths.get_first_id_independent_folder(executor.folder))

    def submit(fn: Callable[..., Any], args: list[list[Any]]) -> list[Any]:
        spec = array_spec(len(args[0]), conf.array_parallelism, conf.additional_parameters)
        executor.update_parameters(additional_parameters=spec)
        before = _pending_files(root)
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # submitit prints sbatch's refusal: ours says it
                return executor.map_array(fn, *args)
        except submitit.core.utils.FailedJobError as exc:  # sbatch said no: its words, on one line
            _remove(_pending_files(root) - before)
            raise SlurmSubmissionError(
                f"hydraflow_slurm: sbatch refused the job array: {one_line(exc)}"
            ) from None
        except FileNotFoundError as exc:
            _remove(_pending_files(root) - before)
            raise SlurmSubmissionError(f"hydraflow_slurm: cannot run sbatch: {exc}") from None

    backend = Backend(
        name="hydraflow_slurm",
        submit=submit,
        poll_states=queries.poll,
        cancel=queries.cancel,
        max_array_size=effective_max_array_size(conf.max_array_size),
        conf=conf,
        where=queries.where,
    )
    return run_batch(backend, batch, root)


_PENDING = re.compile(r"(?:[0-9a-f]{32}\.pkl|\.submission_file_[0-9a-f]{32}\.sh)\Z")


def _pending_files(folder: Path) -> set[Path]:
    """Files submitit moves into a job's folder after ``sbatch``: left behind when ``sbatch`` refuses.

    A job's pickle and its submission script, both named by a random hex id.

        >>> _pending_files(Path("/nonexistent"))
        set()
    """
    try:
        return {path for path in folder.iterdir() if _PENDING.match(path.name)}
    except OSError:
        return set()


def _remove(paths: set[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


__all__ = ["SlurmSubmissionError", "array_spec", "configure", "launch", "one_line", "sbatch_parameters"]
