"""submitit plugin classes for PBS: executor, jobs, the qstat watcher and the job environment."""

from __future__ import annotations

import functools
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from submitit.core import core, job_environment, logger, utils

from hydraflow.launch.pbs._qstat import (
    INCOMPLETE_STATES,
    PBSJobId,
    describe_state,
    never_runs,
    parse_pbspro_json,
    parse_qstat_full,
    parse_qsub_output,
    parse_server_max_array_size,
)
from hydraflow.launch.pbs._script import (
    DEFAULTS,
    DIALECTS,
    ENV_ARRAY,
    ENV_SIGNAL_DELAY,
    ENV_STDERR_TO_STDOUT,
    PBSConfigError,
    check_path,
    env_file_path,
    env_file_text,
    make_script,
    make_spec,
    qsub_command,
    scheduler_log,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

_log = logging.getLogger(__name__)
_QSTAT_TIMEOUT_S = 120
_QSUB_TIMEOUT_S = 300
_UNKNOWN_JOB_RC = 153  # PBSE_UNKJOBID: qstat's exit code when (some of) the ids are unknown
_MISSING_AFTER = 2  # successful polls without a record before a job is reported MISSING
_SUBMISSION_PREFIX = ".submission_file_"


class PBSSubmissionError(utils.FailedJobError, utils.FailedSubmissionError):
    """``qsub`` refused a job (unknown queue or resource, limits, server down) or is missing; one line."""


def marker_path(paths: utils.JobPaths) -> Path:
    """File in which a running job records its scheduler id (maps sub-jobs on Torque / the SLURM wrapper)."""
    return paths.folder / f"{paths.job_id}_scheduler_id"


class PBSInfoWatcher(core.InfoWatcher):
    """One ``qstat`` call per poll for all unfinished jobs of a dialect; maps records to submitit ids.

    A job absent from :data:`_MISSING_AFTER` successful polls is reported with state ``MISSING`` (finished),
    so waiting on a job that vanished from the server ends with an error instead of hanging.
    """

    def __init__(self, dialect: str, delay_s: int = 60) -> None:
        super().__init__(delay_s=delay_s)
        self.dialect = dialect
        self._markers: dict[str, Path] = {}
        self._marker_ids: dict[str, str] = {}
        self._absent: dict[str, int] = {}
        self._never_run: dict[str, str] = {}  # jobs deleted because the scheduler said they can never run

    def clear(self) -> None:
        """Forget cached states (as submitit's ``clear``), including sub-job ids and absence counts."""
        super().clear()
        self._marker_ids.clear()
        self._absent.clear()
        self._never_run.clear()

    def newly_never_runs(self, job_id: str) -> bool:
        """Whether the last poll shows, for the first time, that the scheduler says ``job_id`` never runs."""
        if job_id in self._never_run:
            return False
        reason = never_runs(self.get_info(job_id, mode="cache"))
        if reason is not None:
            self._never_run[job_id] = reason
        return reason is not None

    def describe(self, job_id: str) -> str:
        """The cached state of ``job_id`` as a controller reports it (deletions say whether the job ran)."""
        if job_id in self._never_run:
            return f"CANCELLED (the scheduler says it can never run: {self._never_run[job_id]})"
        return describe_state(self.get_info(job_id, mode="cache"))

    def register_marker(self, job_id: str, path: Path) -> None:
        """Remember where sub-job ``job_id`` writes its scheduler id."""
        self._markers[job_id] = path

    def forget(self, job_id: str) -> None:
        """Stop watching ``job_id`` (the array handle returned by qsub; its sub-jobs are watched instead)."""
        self._registered.discard(job_id)
        self._info_dict.pop(job_id, None)

    def _marker_id(self, job_id: str) -> str | None:
        if job_id in self._marker_ids:
            return self._marker_ids[job_id]
        path = self._markers.get(job_id)
        if path is None:
            return None
        try:
            text = path.read_text().strip()
            PBSJobId.parse(text)
        except (OSError, ValueError):
            return None
        self._marker_ids[job_id] = text
        return text

    def query_ids(self, job_ids: Sequence[str]) -> list[str]:
        """Scheduler ids to pass to qstat for these submitit ids (arrays once, plus known sub-job ids)."""
        ids: set[str] = set()
        for job_id in job_ids:
            pid = PBSJobId.from_submitit(job_id)
            if pid.index is None:
                ids.add(str(pid))
                continue
            # The slurm-wlm-torque qstat matches ids as regular expressions: give it the bare number.
            ids.add(str(pid.parent()) if pid.suffix or self.dialect == "pbspro" else pid.seq)
            if self.dialect == "torque" and (marker := self._marker_id(job_id)) is not None:
                ids.add(marker)
        return sorted(ids, key=lambda i: (len(i), i))

    def _make_command(self) -> list[str] | None:
        to_check = sorted(self._registered - self._finished)
        if not to_check:
            return None
        ids = self.query_ids(to_check)
        if self.dialect == "pbspro":
            return ["qstat", "-f", "-F", "json", "-x", "-t", *ids]
        return ["qstat", "-f", *ids]

    def read_info(self, string: bytes | str) -> dict[str, dict[str, str]]:
        """Records of one qstat output keyed by :attr:`PBSJobId.key` (``124``, ``124[]``, ``124[3]``)."""
        text = string.decode(errors="replace") if isinstance(string, bytes) else string
        if self.dialect == "pbspro":
            return parse_pbspro_json(text)
        return parse_qstat_full(text, self.dialect)

    def resolve(self, job_id: str, records: dict[str, dict[str, str]]) -> dict[str, str] | None:
        """The record describing submitit job ``job_id``, or None when qstat does not list it."""
        pid = PBSJobId.from_submitit(job_id)
        record = records.get(pid.key)
        if record is not None or pid.index is None:
            return record
        marker = self._marker_id(job_id)
        if marker is not None and (record := records.get(PBSJobId.parse(marker).key)) is not None:
            return record
        parent = records.get(pid.parent().key) or records.get(pid.seq)
        if parent is None:
            return None
        # Not listed on its own: not started yet (the array's state applies) or ended with the array.
        return {**parent, "JobID": str(pid), "Reason": f"state of array {parent['JobID']}"}

    def update(self) -> None:
        """Poll qstat once for all jobs (errors are logged, not raised: states stay as they were)."""
        command = self._make_command()
        if command is None:
            return
        self._num_calls += 1
        log = logger.get_logger()
        log.debug("Call #%d - Command %s", self.num_calls, shlex.join(command))
        self._last_status_check = time.time()
        try:
            proc = subprocess.run(
                command, capture_output=True, text=True, timeout=_QSTAT_TIMEOUT_S, check=False
            )
            records = self.read_info(proc.stdout)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            log.warning("Call #%d - qstat failed (%s); job states may be stale.", self.num_calls, exc)
            return
        unknown_ids = proc.returncode == _UNKNOWN_JOB_RC or "Unknown Job" in proc.stderr
        if proc.returncode != 0 and not records and not unknown_ids:
            log.warning(
                "Call #%d - %s exited %d: %s; job states may be stale.",
                self.num_calls,
                shlex.join(command[:2]),
                proc.returncode,
                proc.stderr.strip(),
            )
            return
        self._output = proc.stdout.encode()
        for job_id in self._registered - self._finished:
            info = self.resolve(job_id, records)
            if info is None:
                absent = self._absent[job_id] = self._absent.get(job_id, 0) + 1
                state = "MISSING" if absent >= _MISSING_AFTER else "UNKNOWN"
                info = {"JobID": job_id, "State": state, "Reason": f"not listed by qstat ({absent} polls)"}
            else:
                self._absent.pop(job_id, None)
            self._info_dict[job_id] = info
            if self.is_done(job_id, mode="cache"):
                self._finished.add(job_id)

    def get_state(self, job_id: str, mode: str = "standard") -> str:
        """Submitit state of ``job_id`` (``UNKNOWN`` until the first poll)."""
        return self.get_info(job_id, mode=mode).get("State") or "UNKNOWN"

    def is_done(self, job_id: str, mode: str = "standard") -> bool:
        """Whether the scheduler considers the job ended (PBS ``HELD``/``SUSPENDED`` are not)."""
        return self.get_state(job_id, mode=mode).upper() not in INCOMPLETE_STATES


class PBSJob(core.Job[core.R]):
    """A PBS Pro job or sub-job (``qdel``/``qsig`` take ``124[3].server`` for sub-job 3 of array 124)."""

    _cancel_command = "qdel"
    watcher: ClassVar[PBSInfoWatcher] = PBSInfoWatcher("pbspro", delay_s=60)  # type: ignore[misc]

    def _register_in_watcher(self) -> None:
        super()._register_in_watcher()
        if not self._tasks[0]:
            self.watcher.register_marker(self.job_id, marker_path(self.paths))

    @property
    def scheduler_id(self) -> str:
        """The id PBS knows this job by (``124[3].server`` for a sub-job)."""
        return str(PBSJobId.from_submitit(self.job_id))

    def _slurm_wrapper_id(self) -> str | None:
        """``123_2`` for a sub-job of the slurm-wlm-torque wrappers (bare numeric ids), else None."""
        pid = PBSJobId.from_submitit(self.job_id)
        if self.watcher.dialect != "torque" or pid.suffix or pid.index is None or not shutil.which("scancel"):
            return None
        return f"{pid.seq}_{pid.index}"

    def cancel(self, check: bool = True) -> None:
        """``qdel`` this job (argument list, no shell).

        A sub-job under the slurm-wlm-torque wrappers is cancelled with ``scancel 123_2``: their ``qdel``
        turns ``123[2]`` into ``123`` and would delete the whole array.
        """
        wrapper_id = self._slurm_wrapper_id()
        command = ["scancel", wrapper_id] if wrapper_id else [self._cancel_command, self.scheduler_id]
        subprocess.run(command, check=check, capture_output=True, text=True)

    def _interrupt(self, timeout: bool = False) -> None:
        """Preempt the job, or (Torque) send it the checkpoint signal USR2 like a walltime warning (testing).

        PBS Pro / OpenPBS: ``qrerun``, as a preemption by requeueing does (needs operator rights): PBS sends
        SIGTERM, the job checkpoints and exits, PBS queues it again with the same id. A USR2 through ``qsig``
        would kill the job instead: PBS runs the job script under the user's login shell, which a signal to
        the job's session terminates. So a timeout can only come from the job itself (``signal_delay_s``
        before its walltime): ``timeout=True`` is refused.

        Torque: ``qsig -s USR2``; where there is no ``qsig`` (slurm-wlm-torque) ``scancel --batch --signal``.
        """
        if self.watcher.dialect == "pbspro":
            if timeout:
                raise NotImplementedError(
                    "PBS Pro: a job times out only by itself (signal_delay_s before its walltime); a USR2 "
                    "sent with qsig kills the job's login shell and so the job"
                )
            subprocess.run(["qrerun", self.scheduler_id], check=True, capture_output=True, text=True)  # noqa: S607
            return
        sig = PBSJobEnvironment.USR_SIG
        if shutil.which("qsig"):
            command = ["qsig", "-s", sig, self.scheduler_id]
        elif shutil.which("scancel"):
            command = ["scancel", "--batch", f"--signal={sig}", self._slurm_wrapper_id() or self.scheduler_id]
        else:
            raise RuntimeError("neither qsig nor scancel is available to signal the job")
        subprocess.run(command, check=True)


class TorqueJob(PBSJob[core.R]):
    """A Torque job (or a job of the slurm-wlm-torque wrapper)."""

    watcher: ClassVar[PBSInfoWatcher] = PBSInfoWatcher("torque", delay_s=60)  # type: ignore[misc]


class PBSExecutor(core.PicklingExecutor):
    """submitit executor for PBS Pro / OpenPBS (``dialect="pbspro"``) and Torque (``dialect="torque"``).

    Constructor arguments:
        folder: submitit folder for scripts, pickles and logs (``%j`` allowed); must be shared with the
            compute nodes and made of shell-safe characters ``[A-Za-z0-9_@%+=:,./~-]``.
        dialect: ``"pbspro"`` (``-J`` arrays, ``qstat -f -F json -x -t``) or ``"torque"`` (``-t`` arrays, text
            ``qstat -f``; also the slurm-wlm-torque wrappers).
        max_num_timeout: how often a checkpointable job may be requeued after a timeout.
        max_pickle_size_gb: size limit of the pickled submissions.
        python: interpreter command for the job, as a list of arguments (a string is split with ``shlex``);
            default: this interpreter.

    Parameters (``update_parameters``; generic submitit names in brackets, as used by ``AutoExecutor``):
        job_name [name]: ``#PBS -N`` (default ``submitit``).
        timeout_min [timeout_min]: walltime in minutes (default 5).
        nodes [nodes]: chunks / nodes (default 1).
        ncpus [cpus_per_task]: cores per node: ``select=N:ncpus=C`` / ``nodes=N:ppn=C`` (default 1).
        mpiprocs [tasks_per_node]: PBS Pro ``mpiprocs`` per chunk (torque: only 1).
        ngpus [gpus_per_node]: ``ngpus=G`` (PBS Pro) / ``:gpus=G`` (Torque).
        mem_gb [mem_gb]: memory per chunk (PBS Pro) / per job (Torque), ``Ngb`` or ``Nmb``.
        queue, account: ``-q`` and ``-A``.
        array_parallelism: at most this many sub-jobs run at once (``-J 0-9%P`` / ``-t 0-9%P``).
        additional_resources: dict of extra ``-l key=value`` lines (e.g. ``{"place": "scatter"}``).
        additional_directives: list of extra raw directives (e.g. ``["-m abe", "-M me@example.org"]``).
        setup / teardown: shell lines run before / after the job (``teardown`` disables ``exec``, so the
            checkpoint signal then reaches the shell first).
        signal_delay_s: the job sends itself USR2 this many seconds before the walltime (checkpoint + qrerun).
        export_env: ``#PBS -V`` (default True: the job sees the submitting environment, like sbatch).
        rerunnable: ``#PBS -r y`` (needed for qrerun; default True).
        stderr_to_stdout: write the job's stderr into its stdout log.
    """

    job_class: type[core.Job[Any]] = PBSJob

    def __init__(
        self,
        folder: str | Path,
        dialect: str = "pbspro",
        max_num_timeout: int = 3,
        max_pickle_size_gb: float = 1.0,
        python: str | Sequence[str] | None = None,
    ) -> None:
        super().__init__(folder, max_num_timeout=max_num_timeout, max_pickle_size_gb=max_pickle_size_gb)
        if dialect not in DIALECTS:
            raise PBSConfigError(f"PBS dialect {dialect!r} is unknown: use one of {', '.join(DIALECTS)}")
        check_path("folder", self.folder)
        self.dialect = dialect
        self._array_count: int | None = None
        self.job_class = PBSJob if dialect == "pbspro" else TorqueJob
        if python is None:
            self.python = [sys.executable]
        else:
            self.python = shlex.split(python) if isinstance(python, str) else list(python)
            if not self.python:
                raise PBSConfigError("PBS executor python: empty command")

    @classmethod
    def _equivalence_dict(cls) -> core.EquivalenceDict:
        return {
            "name": "job_name",
            "timeout_min": "timeout_min",
            "mem_gb": "mem_gb",
            "nodes": "nodes",
            "cpus_per_task": "ncpus",
            "gpus_per_node": "ngpus",
            "tasks_per_node": "mpiprocs",
        }

    @classmethod
    def _valid_parameters(cls) -> set[str]:
        return set(DEFAULTS)

    @classmethod
    def affinity(cls) -> int:
        """-1 without ``qsub``; 1 when ``qsub`` sits next to ``sbatch`` (the SLURM wrapper), else 2."""
        if shutil.which("qsub") is None:
            return -1
        return 1 if shutil.which("sbatch") else 2

    def _internal_update_parameters(self, **kwargs: Any) -> None:
        make_spec(self.dialect, {**self.parameters, **kwargs})  # validates; raises PBSConfigError
        super()._internal_update_parameters(**kwargs)

    def _num_tasks(self) -> int:
        return 1

    @property
    def _submitit_command_str(self) -> str:
        return shlex.join([*self.python, "-u", "-m", "hydraflow.launch.pbs", str(self.folder)])

    def _log_dir(self) -> str:
        return str(utils.JobPaths.get_first_id_independent_folder(self.folder))

    def _log_path(self, uid: str, *, array: bool) -> str:
        spec = make_spec(self.dialect, self.parameters)
        return scheduler_log(spec, self._log_dir(), uid, array=array)

    def submission_script(self, uid: str = "UID", array_count: int | None = None) -> str:
        """The job script this executor would submit (for inspection and tests)."""
        spec = make_spec(self.dialect, self.parameters)
        return make_script(
            spec,
            python=self.python,
            folder=str(self.folder),
            log_path=self._log_path(uid, array=array_count is not None),
            array_count=array_count,
            env_file=env_file_path(self._log_dir(), uid) if spec.export_env else None,
        )

    def _make_submission_file_text(self, command: str, uid: str) -> str:  # noqa: ARG002 - command is ours
        text = self.submission_script(uid, self._array_count)
        if make_spec(self.dialect, self.parameters).export_env:
            # read by the job (it may hold secrets, as qsub -V's Variable_List would): owner only
            path = Path(env_file_path(self._log_dir(), uid))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(env_file_text(os.environ))
        return text

    def _submit_command(self, command: str) -> core.Job[Any]:
        """Write the job script, run ``qsub`` (argument list), return the job; a refusal is one clear error.

        (submitit's own version also copies qsub's stderr to ours, so the refusal would be printed twice.)
        """
        uid = uuid.uuid4().hex
        folder = utils.JobPaths.get_first_id_independent_folder(self.folder)
        folder.mkdir(parents=True, exist_ok=True)
        script = folder / f"{_SUBMISSION_PREFIX}{uid}.sh"
        script.write_text(self._make_submission_file_text(command, uid))
        qsub = self._make_submission_command(script)
        try:
            proc = subprocess.run(qsub, capture_output=True, text=True, timeout=_QSUB_TIMEOUT_S, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise PBSSubmissionError(f"{shlex.join(qsub[:1])} could not be run: {exc}") from None
        if proc.returncode != 0:
            said = " | ".join(
                line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()
            )
            raise PBSSubmissionError(f"qsub refused the job (exit {proc.returncode}): {said or 'no message'}")
        job: core.Job[Any] = self.job_class(
            folder=self.folder, job_id=self._get_job_id_from_submission_command(proc.stdout), tasks=[0]
        )
        job.paths.move_temporary_file(script, "submission_file", keep_as_symlink=True)
        self._write_job_id(job.job_id, uid)
        self._set_job_permissions(job.paths.folder)
        return job

    def _make_submission_command(self, submission_file_path: Path) -> list[str]:
        uid = submission_file_path.name.removeprefix(_SUBMISSION_PREFIX).removesuffix(".sh")
        spec = make_spec(self.dialect, self.parameters)
        log_path = self._log_path(uid, array=self._array_count is not None)
        return qsub_command(spec, str(submission_file_path), log_path)

    @staticmethod
    def _get_job_id_from_submission_command(string: bytes | str) -> str:
        try:
            return parse_qsub_output(string).submitit_id()
        except ValueError as exc:
            raise PBSSubmissionError(str(exc)) from exc

    def _internal_process_submissions(
        self, delayed_submissions: list[utils.DelayedSubmission]
    ) -> list[core.Job[Any]]:
        if shutil.which("qsub") is None:  # before anything is written to the folder
            raise PBSSubmissionError("qsub is not on PATH: is this a PBS/Torque login node?")
        folder = utils.JobPaths.get_first_id_independent_folder(self.folder)
        before = set(folder.iterdir()) if folder.is_dir() else set()
        try:
            if len(delayed_submissions) == 1:
                return super()._internal_process_submissions(delayed_submissions)
            return self._submit_array(delayed_submissions)
        except (utils.FailedJobError, utils.FailedSubmissionError):
            # qsub refused the job: remove the pickles and the script written for it (nothing half-done)
            if folder.is_dir():
                for path in set(folder.iterdir()) - before:
                    if path.is_file() and (
                        path.suffix == ".pkl"
                        or path.name.startswith(_SUBMISSION_PREFIX)
                        or path.name.endswith(".env.sh")
                    ):
                        path.unlink()
            raise

    def _submit_array(self, delayed_submissions: list[utils.DelayedSubmission]) -> list[core.Job[Any]]:
        folder = utils.JobPaths.get_first_id_independent_folder(self.folder)
        folder.mkdir(parents=True, exist_ok=True)
        timeout_min = self.parameters.get("timeout_min", DEFAULTS["timeout_min"])
        pickle_paths = []
        for delayed in delayed_submissions:
            pickle_path = folder / f"{uuid.uuid4().hex}.pkl"
            delayed.set_timeout(timeout_min, self.max_num_timeout)
            delayed.dump(pickle_path)
            pickle_paths.append(pickle_path)
        count = len(delayed_submissions)
        array_ex = PBSExecutor(
            self.folder, self.dialect, self.max_num_timeout, self.max_pickle_size_gb, self.python
        )
        array_ex.update_parameters(**self.parameters)
        array_ex._array_count = count
        self._throttle()
        handle = array_ex._submit_command(self._submitit_command_str)
        self.job_class.watcher.forget(handle.job_id)  # type: ignore[attr-defined]
        jobs: list[core.Job[Any]] = [
            self.job_class(folder=self.folder, job_id=f"{handle.job_id}_{i}", tasks=[0]) for i in range(count)
        ]
        for job, pickle_path in zip(jobs, pickle_paths, strict=True):
            job.paths.move_temporary_file(pickle_path, "submitted_pickle")
        return jobs


class PBSJobEnvironment(job_environment.JobEnvironment):
    """The environment of a running PBS job (``SUBMITIT_EXECUTOR=pbs``, set by the job script).

    Ids come from ``PBS_JOBID`` plus ``PBS_ARRAY_ID``/``PBS_ARRAY_INDEX`` (PBS Pro) or ``PBS_ARRAYID``
    (Torque); under the slurm-wlm-torque wrappers, which set no ``PBS_*`` variables, from ``SLURM_JOB_ID`` and
    ``SLURM_ARRAY_JOB_ID``/``SLURM_ARRAY_TASK_ID``. One task per job: ranks are 0.
    """

    _env: ClassVar[dict[str, str]] = {"job_id": "PBS_JOBID"}

    @property
    def scheduler_id(self) -> str:
        """The id the scheduler knows this job by (for ``qrerun``)."""
        return os.environ.get("PBS_JOBID") or os.environ["SLURM_JOB_ID"]

    def _pbs_id(self) -> PBSJobId:
        # The job script exports HYDRAFLOW_PBS_ARRAY=0/1: with qsub -V a job inherits the submitter's
        # PBS_ARRAY_INDEX / SLURM_ARRAY_TASK_ID (a sweep submitted from inside an array task), so the array
        # variables are only trusted in array jobs.
        env = os.environ
        array = env.get(ENV_ARRAY, "1") == "1"
        if env.get("PBS_JOBID"):
            pid = PBSJobId.parse(env["PBS_JOBID"])  # 1010[3].server for a sub-job (PBS Pro and Torque)
            if not array:
                return PBSJobId(seq=pid.seq, suffix=pid.suffix)
            index = env.get("PBS_ARRAY_INDEX") or env.get("PBS_ARRAYID")
            if pid.index is None and index:
                return PBSJobId(seq=pid.seq, index=int(index), suffix=pid.suffix)
            return pid
        if array and env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):  # slurm-wlm-torque
            return PBSJobId(seq=env["SLURM_ARRAY_JOB_ID"], index=int(env["SLURM_ARRAY_TASK_ID"]))
        return PBSJobId.parse(env["SLURM_JOB_ID"])

    @property
    def job_id(self) -> str:
        """Submitit's id of this job (``124.server_3`` for sub-job 3 of array ``124[].server``)."""
        return self._pbs_id().submitit_id()

    @property
    def raw_job_id(self) -> str:
        """The scheduler's id of this job."""
        return self.scheduler_id

    @property
    def array_job_id(self) -> str | None:
        """Submitit id of the array, for a sub-job."""
        pid = self._pbs_id()
        return None if pid.index is None else f"{pid.seq}{pid.suffix}"

    @property
    def array_task_id(self) -> str | None:
        """Index of this sub-job, for a sub-job."""
        pid = self._pbs_id()
        return None if pid.index is None else str(pid.index)

    @property
    def hostnames(self) -> list[str]:
        """Distinct hosts of ``PBS_NODEFILE`` (this host when there is none)."""
        nodefile = os.environ.get("PBS_NODEFILE")
        if nodefile and Path(nodefile).is_file():
            hosts = list(
                dict.fromkeys(h.strip() for h in Path(nodefile).read_text().splitlines() if h.strip())
            )
            if hosts:
                return hosts
        return [self.hostname]

    @property
    def num_nodes(self) -> int:
        """Number of distinct hosts of the job."""
        return len(self.hostnames)

    @property
    def num_tasks(self) -> int:
        """One task per job."""
        return 1

    @property
    def node(self) -> int:
        """Always the first node; ``global_rank`` and ``local_rank`` are 0 as well (one task per job)."""
        return 0

    global_rank = local_rank = node

    def _handle_signals(self, paths: utils.JobPaths, submission: utils.DelayedSubmission) -> None:
        """Install the PBS signal handlers.

        USR2 (sent by the job itself ``signal_delay_s`` before the walltime, or by ``qsig``): checkpoint
        and requeue. SIGTERM (``qdel``, walltime kill, preemption; PBS sends SIGKILL ``kill_delay`` seconds
        later): checkpoint and exit.
        """
        handler = job_environment.SignalHandler(self, paths, submission)
        signal.signal(signal.SIGTERM, handler.checkpoint_and_exit)
        signal.signal(signal.SIGCONT, handler.bypass)
        signal.signal(self._usr_sig(), handler.checkpoint_and_try_requeue)
        delay = int(os.environ.get(ENV_SIGNAL_DELAY, "90"))
        fire_in = submission._timeout_min * 60 - delay  # noqa: SLF001 - submitit's own field
        if submission._timeout_min > 0 and fire_in > 0:  # noqa: SLF001
            timer = threading.Timer(fire_in, os.kill, (os.getpid(), self._usr_sig()))
            timer.daemon = True
            timer.start()

    def _requeue(self, countdown: int) -> None:
        """``qrerun`` this job (it goes back to the queue with the same id and reloads the checkpoint)."""
        jid = self.scheduler_id
        command = ["qrerun", jid]
        if not os.environ.get("PBS_JOBID") and os.environ.get("SLURM_JOB_ID"):
            # slurm-wlm-torque (22.05) ships a qrerun that always fails (it calls Slurm->requeue without its
            # state argument): requeue through SLURM itself, which is what that wrapper means to do.
            command = ["scontrol", "requeue", jid]
        # PBS ends a requeued job with SIGTERM: its checkpoint handler must not run again and overwrite the
        # checkpoint just written (whose timeout countdown was decremented) with the undecremented one.
        previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 0:
            signal.signal(signal.SIGTERM, previous)
            output = (proc.stdout + proc.stderr).strip()
            msg = f"{shlex.join(command)} failed (exit {proc.returncode}): {output}"
            raise utils.UncompletedJobError(msg)
        logger.get_logger().info(f"Requeued job {jid} ({countdown} remaining timeouts)")


def _redirect(path: Path, fd: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, fd)
    os.close(target)


def job_main(argv: Sequence[str]) -> None:
    """Job-side entry (``python -m hydraflow.launch.pbs FOLDER``): logs, scheduler-id marker, then submitit.

    PBS cannot name output files after array indices portably, so the job itself sends its stdout/stderr to
    submitit's ``%j_%t_log.out``/``.err`` files.
    """
    if len(argv) != 1:
        sys.exit("usage: python -m hydraflow.launch.pbs SUBMITIT_FOLDER")
    from submitit.core.submission import process_job

    folder = argv[0]
    os.environ["SUBMITIT_FOLDER"] = folder
    env = PBSJobEnvironment()
    paths = env.paths
    _redirect(paths.stdout, 1)
    _redirect(paths.stdout if os.environ.get(ENV_STDERR_TO_STDOUT) else paths.stderr, 2)
    marker = marker_path(paths)
    marker.write_text(env.scheduler_id + "\n")
    process_job(folder)


def poll_states(jobs: Sequence[core.Job[Any]]) -> dict[str, str]:
    """State of every job after one fresh ``qstat`` per dialect (for controllers polling themselves).

    Finished states are those not in ``INCOMPLETE_STATES``: submitit's ``COMPLETED``, ``FAILED``,
    ``CANCELLED``, ``TIMEOUT`` and ``OUT_OF_MEMORY``, plus ``FINISHED`` (ended, exit status unknown:
    slurm-wlm-torque) and ``MISSING`` (no longer listed by qstat). A PBS Pro deletion says whether the job had
    started: ``CANCELLED (deleted while running)`` / ``CANCELLED (deleted before it started)``. A job the
    scheduler says can never run (its request exceeds every node) is deleted here rather than waited for
    forever, and reported ``CANCELLED (the scheduler says it can never run: REASON)``.
    """
    watchers = {id(job.watcher): job.watcher for job in jobs}
    for watcher in watchers.values():
        watcher.update()
    stuck = [
        job
        for job in jobs
        if isinstance(job.watcher, PBSInfoWatcher) and job.watcher.newly_never_runs(job.job_id)
    ]
    if stuck:
        first = stuck[0].watcher
        why = first.describe(stuck[0].job_id) if isinstance(first, PBSInfoWatcher) else ""
        _log.warning("PBS: %d job(s) deleted: %s", len(stuck), why)
        cancel_jobs(stuck)
    out: dict[str, str] = {}
    for job in jobs:
        watcher = job.watcher
        out[job.job_id] = (
            watcher.describe(job.job_id)
            if isinstance(watcher, PBSInfoWatcher)
            else watcher.get_state(job.job_id, mode="cache")
        )
    return out


def cancel_jobs(jobs: Sequence[core.Job[Any]]) -> None:
    """Delete the given jobs with one ``qdel`` per dialect: an array as a whole, single jobs by id."""
    by_dialect: dict[str, set[str]] = {}
    for job in jobs:
        watcher = job.watcher
        if not isinstance(watcher, PBSInfoWatcher):
            raise TypeError(f"not a PBS job: {job!r}")
        pid = PBSJobId.from_submitit(job.job_id)
        if pid.index is None:
            target = str(pid)
        elif pid.suffix or watcher.dialect == "pbspro":
            target = str(pid.parent())
        else:
            target = pid.seq  # slurm-wlm-torque: the array's SLURM id
        by_dialect.setdefault(watcher.dialect, set()).add(target)
    for ids in by_dialect.values():
        subprocess.run(["qdel", *sorted(ids)], capture_output=True, text=True, timeout=120, check=False)  # noqa: S607


@functools.cache
def server_max_array_size() -> int | None:
    """The PBS Pro server's ``max_array_size`` (``qstat -B -f -F json``), read once; None if unknown."""
    try:
        proc = subprocess.run(
            ["qstat", "-B", "-f", "-F", "json"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=_QSTAT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        _log.warning("PBS: cannot read the server's max_array_size (qstat -B): %s", exc)
        return None
    return parse_server_max_array_size(proc.stdout)
