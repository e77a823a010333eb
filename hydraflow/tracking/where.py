"""Where a job runs, as MLflow run tags: the host, and the scheduler's job id and node list.

A sweep spread over a cluster can lose a node; these tags tell which host ran (or was running) each run.
A run resumed on another host (a requeued job) gets the new host in ``hydraflow.host`` and keeps the earlier
ones in ``hydraflow.hosts``.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "HOSTS_TAG",
    "HOST_TAG",
    "PBS_JOB_TAG",
    "SLURM_JOB_TAG",
    "SLURM_NODES_TAG",
    "SLURM_RESTARTS_TAG",
    "where_tags",
]

HOST_TAG = "hydraflow.host"
HOSTS_TAG = "hydraflow.hosts"
SLURM_JOB_TAG = "hydraflow.slurm.job_id"
SLURM_NODES_TAG = "hydraflow.slurm.nodelist"
SLURM_RESTARTS_TAG = "hydraflow.slurm.restarts"
PBS_JOB_TAG = "hydraflow.pbs.job_id"
_MAX_HOSTS = 20  # hosts kept in hydraflow.hosts (the latest ones)


def where_tags(
    previous: Mapping[str, str], env: Mapping[str, str] | None = None, host: str | None = None
) -> dict[str, str]:
    """The tags of the host and scheduler job running this attempt of a run.

    ``previous``: the run's tags so far (a resumed run), whose ``hydraflow.hosts`` gets this host appended.

    >>> env = {"SLURM_JOB_ID": "12", "SLURM_ARRAY_JOB_ID": "10", "SLURM_ARRAY_TASK_ID": "2",
    ...        "SLURM_JOB_NODELIST": "node2", "SLURM_RESTART_COUNT": "1"}
    >>> tags = where_tags({"hydraflow.hosts": "node3"}, env, host="node2")
    >>> tags["hydraflow.host"], tags["hydraflow.hosts"], tags["hydraflow.slurm.job_id"]
    ('node2', 'node3,node2', '10_2')
    >>> tags["hydraflow.slurm.nodelist"], tags["hydraflow.slurm.restarts"]
    ('node2', '1')
    >>> where_tags({}, {"PBS_JOBID": "7[3].pbs"}, host="n1")
    {'hydraflow.host': 'n1', 'hydraflow.hosts': 'n1', 'hydraflow.pbs.job_id': '7[3].pbs'}
    """
    env = os.environ if env is None else env
    host = socket.gethostname() if host is None else host
    hosts = [h for h in previous.get(HOSTS_TAG, "").split(",") if h]
    hosts = [*hosts, host][-_MAX_HOSTS:]
    tags = {HOST_TAG: host, HOSTS_TAG: ",".join(hosts)}
    job = env.get("SLURM_JOB_ID")
    if job:
        array, task = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
        tags[SLURM_JOB_TAG] = f"{array}_{task}" if array and task else job
        tags[SLURM_NODES_TAG] = env.get("SLURM_JOB_NODELIST", "")
        tags[SLURM_RESTARTS_TAG] = env.get("SLURM_RESTART_COUNT", "0")
    pbs = env.get("PBS_JOBID")
    if pbs:
        tags[PBS_JOB_TAG] = pbs
    return tags
