"""What the SLURM backend asks the cluster: ``MaxArraySize``, job states (``sacct``/``squeue``), cancellation.

The parsers are pure and tested on recorded output; the queries run the real commands (argument lists).
"""

from __future__ import annotations

import functools
import logging
import re
import subprocess
from typing import Any

from hydraflow.launch.common import array_id

log = logging.getLogger(__name__)

SLURM_DEFAULT_MAX_ARRAY_SIZE = 1001  # SLURM's own default when scontrol cannot tell


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
    ``requested`` is checked by :class:`hydraflow.launch.config.SlurmConfig` (>= 1 or None).
    """
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
    r"""Parse ``JobID|State[|NodeList]`` lines (``sacct -P -n -o JobID,State,NodeList``, ``squeue``).

    Pending array ranges are expanded; the state is the first word, upper-case.

    >>> parse_job_states("12_0|COMPLETED\n12_[2-3,5%2]|PENDING\n12_1|CANCELLED by 0\n12.batch|COMPLETED")
    {'12_0': 'COMPLETED', '12_2': 'PENDING', '12_3': 'PENDING', '12_5': 'PENDING', '12_1': 'CANCELLED'}
    >>> parse_job_states("7_1|NODE_FAIL|node2\n7_2|PENDING|None assigned")
    {'7_1': 'NODE_FAIL', '7_2': 'PENDING'}
    """
    return {job_id: state for job_id, (state, _) in parse_job_rows(text).items()}


def parse_job_rows(text: str) -> dict[str, tuple[str, str]]:
    r"""Parse ``JobID|State[|NodeList]`` lines into ``job id -> (state, node list)``.

    The node list is ``""`` when the line has none (``None assigned``: a pending job).

    >>> rows = parse_job_rows("7_1|NODE_FAIL|node2\n7_[2-3]|PENDING|None assigned\n7_4|RUNNING|node[1,3]")
    >>> rows["7_1"], rows["7_2"], rows["7_3"], rows["7_4"]
    (('NODE_FAIL', 'node2'), ('PENDING', ''), ('PENDING', ''), ('RUNNING', 'node[1,3]'))
    """
    rows: dict[str, tuple[str, str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or "|" not in line:
            continue
        job_id, state, *rest = line.split("|")
        if "." in job_id:  # job steps
            continue
        words = state.split()
        if not words:
            continue
        word = words[0].upper().rstrip("+")
        nodes = rest[0].strip() if rest else ""
        row = (word, "" if nodes.lower() in {"", "none assigned", "(null)"} else nodes)
        match = _ARRAY_RANGE.match(job_id)
        if match is None:
            rows[job_id] = row
            continue
        ranges = match.group("ranges").split("%", 1)[0]
        for part in ranges.split(","):
            low, _, high = part.partition("-")
            for index in range(int(low), int(high or low) + 1):
                rows[f"{match.group('id')}_{index}"] = row
    return rows


class SlurmQueries:
    """The scheduler queries of one controller: ``sacct`` while accounting answers, then ``squeue``."""

    def __init__(self) -> None:
        """Start with accounting assumed to work."""
        self._use_squeue = False
        self._nodes: dict[str, str] = {}

    def poll(self, jobs: list[Any]) -> dict[str, str]:
        """One query for the arrays of these jobs: ``sacct`` (``squeue`` when accounting does not answer).

        The node list of each job is remembered for :meth:`where`.
        """
        arrays = sorted({array_id(job.job_id) for job in jobs})
        if not self._use_squeue:
            cmd = ["sacct", "-X", "-n", "-P", "-o", "JobID,State,NodeList", "-j", ",".join(arrays)]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
            if proc.returncode == 0:
                return self._states(parse_job_rows(proc.stdout))
            log.warning(
                "hydraflow_slurm: sacct failed (%s); falling back to squeue: jobs that leave the queue "
                "without a result are reported as GONE",
                proc.stderr.strip(),
            )
            self._use_squeue = True
        cmd = ["squeue", "-h", "-o", "%i|%T|%N", "-j", ",".join(arrays)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        rows = parse_job_rows(proc.stdout) if proc.returncode == 0 else {}
        return _GoneIfMissing(self._states(rows))

    def _states(self, rows: dict[str, tuple[str, str]]) -> dict[str, str]:
        for job_id, (_, nodes) in rows.items():
            if nodes:  # a requeued job keeps the node it was lost on until it runs again
                self._nodes[job_id] = nodes
        return {job_id: state for job_id, (state, _) in rows.items()}

    def where(self, job_id: str) -> str:
        """The node list of a job as of the last query that named one ("" when none did)."""
        return self._nodes.get(job_id, "")

    def cancel(self, jobs: list[Any]) -> None:
        """One ``scancel`` for the arrays of these jobs (tasks already finished are not affected)."""
        arrays = sorted({array_id(job.job_id) for job in jobs})
        subprocess.run(["scancel", *arrays], capture_output=True, text=True, timeout=120, check=True)  # noqa: S607


class _GoneIfMissing(dict[str, str]):
    """squeue forgets finished jobs: a job id it does not list has left the queue."""

    def get(self, key: str, default: Any = None) -> Any:
        del default
        return super().get(key, "GONE")


__all__ = [
    "SLURM_DEFAULT_MAX_ARRAY_SIZE",
    "SlurmQueries",
    "cluster_max_array_size",
    "effective_max_array_size",
    "parse_job_rows",
    "parse_job_states",
    "parse_max_array_size",
]
