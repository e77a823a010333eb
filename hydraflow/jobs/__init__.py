"""Job files (``hydraflow.yaml``): jobs with parameter sets, ordered by ``needs``, run by one command."""

from __future__ import annotations

from hydraflow.jobs.loader import FILE_NAMES, find_job_file, load_job_file
from hydraflow.jobs.runner import (
    LAUNCHERS,
    JobResult,
    Step,
    describe_job,
    describe_plan,
    job_order,
    plan,
    run_plan,
    summarize,
)
from hydraflow.jobs.schema import Job, JobFile, JobFileError, JobSet, merge_settings, parse_job_file

__all__ = [
    "FILE_NAMES",
    "LAUNCHERS",
    "Job",
    "JobFile",
    "JobFileError",
    "JobResult",
    "JobSet",
    "Step",
    "describe_job",
    "describe_plan",
    "find_job_file",
    "job_order",
    "load_job_file",
    "merge_settings",
    "parse_job_file",
    "plan",
    "run_plan",
    "summarize",
]
