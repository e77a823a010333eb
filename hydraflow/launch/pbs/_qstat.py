"""PBS job ids, ``qstat`` output parsing and the mapping of PBS states to submitit's state names.

Pure functions (no subprocess, no submitit) tested against recorded outputs in ``tests/pbs/fixtures``.

Job ids
-------
``qsub`` prints ``123.server`` for a job and ``124[].server`` for a job array (PBS Pro and Torque; the
slurm-wlm-torque wrapper prints a bare ``123``). submitit ids are derived from them: a single job keeps its
id, sub-job ``i`` of array ``124[].server`` becomes ``124.server_i`` (submitit's ``%A_%a`` convention, so
``JobPaths`` can tell arrays apart). Records are matched on the sequence number and array index only (the
server suffix printed by ``qstat`` may be longer than the one printed by ``qsub``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_ID_RE = re.compile(r"(?P<seq>\d+)(?:\[(?P<index>\d*)\])?(?P<suffix>\.[^\s\[\]]+)?")

#: submitit states for which a job is not finished (submitit's own list plus PBS-only ones).
INCOMPLETE_STATES = frozenset(
    {
        "READY",
        "PENDING",
        "RUNNING",
        "UNKNOWN",
        "REQUEUED",
        "COMPLETING",
        "PREEMPTED",
        "HELD",
        "SUSPENDED",
        "MOVED",
    }
)

_ACTIVE = {
    "Q": "PENDING",  # queued
    "W": "PENDING",  # waiting for its start time / dependency
    "T": "PENDING",  # in transit
    "H": "HELD",
    "R": "RUNNING",
    "B": "RUNNING",  # PBS Pro: array begun (at least one sub-job started)
    "E": "COMPLETING",  # exiting (stage-out, epilogue)
    "S": "SUSPENDED",
    "U": "SUSPENDED",  # PBS Pro: suspended because the workstation is busy
    "M": "MOVED",  # PBS Pro: moved to another server
}
_FINAL = {"pbspro": frozenset("FX"), "torque": frozenset("C")}

# PBS Pro negative Exit_status values (JOB_EXEC_*) with a meaning of their own.
_PBSPRO_EXIT = {-29: "TIMEOUT", -27: "OUT_OF_MEMORY", -26: "OUT_OF_MEMORY", -11: "REQUEUED"}
# Torque: JOB_EXEC_OVERLIMIT_MEM/WT/CPUT.
_TORQUE_EXIT = {-10: "OUT_OF_MEMORY", -11: "TIMEOUT", -12: "TIMEOUT"}
_SIGNAL_BASE = 256  # both: Exit_status = 256 + signal number when the job was killed by a signal
_SIGKILL, _SIGTERM = 9, 15
_PBSPRO_TERMINATED = "91"  # PBS Pro substate of a job deleted by qdel


@dataclass(frozen=True)
class PBSJobId:
    """A parsed PBS job id: ``123.srv`` (job), ``124[].srv`` (array), ``124[3].srv`` (sub-job)."""

    seq: str
    index: int | None = None
    is_array: bool = False
    suffix: str = ""

    @classmethod
    def parse(cls, text: str) -> PBSJobId:
        """Parse a job id as printed by qsub/qstat.

        >>> PBSJobId.parse("124[3].pbs01")
        PBSJobId(seq='124', index=3, is_array=False, suffix='.pbs01')
        >>> PBSJobId.parse("124[].pbs01").is_array
        True
        """
        match = _ID_RE.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"not a PBS job id: {text!r}")
        index = match["index"]
        return cls(
            seq=match["seq"],
            index=int(index) if index else None,
            is_array=index == "",
            suffix=match["suffix"] or "",
        )

    @property
    def key(self) -> str:
        """Server-independent match key: ``124``, ``124[]`` or ``124[3]``."""
        if self.is_array:
            return f"{self.seq}[]"
        return self.seq if self.index is None else f"{self.seq}[{self.index}]"

    def __str__(self) -> str:
        """The id in PBS syntax."""
        if self.is_array:
            return f"{self.seq}[]{self.suffix}"
        if self.index is None:
            return f"{self.seq}{self.suffix}"
        return f"{self.seq}[{self.index}]{self.suffix}"

    def submitit_id(self) -> str:
        """Submitit's id for this job.

        >>> PBSJobId.parse("124[3].pbs01").submitit_id(), PBSJobId.parse("7.srv").submitit_id()
        ('124.pbs01_3', '7.srv')
        """
        base = f"{self.seq}{self.suffix}"
        return base if self.index is None else f"{base}_{self.index}"

    @classmethod
    def from_submitit(cls, job_id: str) -> PBSJobId:
        """Inverse of :meth:`submitit_id`.

        >>> str(PBSJobId.from_submitit("124.pbs01_3")), str(PBSJobId.from_submitit("12"))
        ('124[3].pbs01', '12')
        """
        base, sep, index = job_id.rpartition("_")
        if sep and index.isdigit():
            parsed = cls.parse(base)
            return cls(seq=parsed.seq, index=int(index), suffix=parsed.suffix)
        return cls.parse(job_id)

    def parent(self) -> PBSJobId:
        """The array this sub-job belongs to."""
        return PBSJobId(seq=self.seq, is_array=True, suffix=self.suffix)


def exit_state(dialect: str, exit_status: int | None, substate: str | None = None) -> str:
    """Submitit state of a finished job from its exit status.

    >>> exit_state("pbspro", 0), exit_state("pbspro", 1), exit_state("pbspro", 271), exit_state("pbspro", -29)
    ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT')
    >>> exit_state("torque", -11), exit_state("torque", None), exit_state("pbspro", None)
    ('TIMEOUT', 'FINISHED', 'CANCELLED')
    """
    if dialect == "pbspro" and substate == _PBSPRO_TERMINATED:
        return "CANCELLED"
    if exit_status is None:
        # PBS Pro always records Exit_status for a job that ran; without one the job was deleted while queued.
        # The slurm-wlm-torque qstat never prints exit_status: the job ended, how is unknown.
        return "CANCELLED" if dialect == "pbspro" else "FINISHED"
    if exit_status == 0:
        return "COMPLETED"
    if exit_status > _SIGNAL_BASE:
        return "CANCELLED" if exit_status - _SIGNAL_BASE in {_SIGKILL, _SIGTERM} else "FAILED"
    table = _PBSPRO_EXIT if dialect == "pbspro" else _TORQUE_EXIT
    return table.get(exit_status, "FAILED")


def map_state(dialect: str, code: str, exit_status: int | None = None, substate: str | None = None) -> str:
    """Submitit state for a PBS one-letter ``job_state``.

    >>> map_state("pbspro", "Q"), map_state("pbspro", "X", 0), map_state("torque", "C", 2)
    ('PENDING', 'COMPLETED', 'FAILED')
    >>> map_state("torque", "Z")
    'UNKNOWN'
    """
    code = code.strip().upper()[:1]
    if code in _FINAL[dialect]:
        return exit_state(dialect, exit_status, substate)
    return _ACTIVE.get(code, "UNKNOWN")


def _to_int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _record(dialect: str, job_id: str, attrs: dict[str, Any]) -> dict[str, str]:
    code = str(attrs.get("job_state", "")).strip()
    exit_raw = attrs.get("Exit_status", attrs.get("exit_status"))
    exit_status = _to_int(exit_raw)
    substate = None if attrs.get("substate") is None else str(attrs["substate"])
    state = map_state(dialect, code, exit_status, substate)
    if dialect == "pbspro" and code in _FINAL["pbspro"] and not attrs.get("exec_host") and "[]" not in job_id:
        # A job or sub-job that ended without ever being placed on a host was deleted before it started. Its
        # Exit_status says nothing: a deleted queued sub-job copies its array's (0 if another sub-job ended
        # well), and while the array still runs it is X with substate 70 rather than F with substate 91.
        state = "CANCELLED"
    info = {
        "JobID": job_id,
        "State": state,
        "JobState": code,
        "NodeList": str(attrs.get("exec_host", "")),
        "JobName": str(attrs.get("Job_Name", "")),
    }
    if exit_status is not None:
        info["ExitStatus"] = str(exit_status)
    if substate is not None:
        info["Substate"] = substate
    if attrs.get("comment"):
        info["Comment"] = str(attrs["comment"])
    return info


_NEVER_RUNS = "Can Never Run"  # PBS Pro scheduler comment: the request exceeds what the complex has


def never_runs(info: dict[str, str]) -> str | None:
    """The scheduler's reason when a queued PBS Pro job can never run (e.g. more CPUs than any node).

    >>> never_runs({"JobState": "Q", "Comment": "Can Never Run: Insufficient amount of resource: ncpus"})
    'Insufficient amount of resource: ncpus'
    >>> never_runs({"JobState": "Q", "Comment": "Not Running: Insufficient amount of resource: mem"}) is None
    True
    """
    comment = info.get("Comment", "")
    if info.get("JobState") != "Q" or not comment.startswith(_NEVER_RUNS):
        return None
    return comment[len(_NEVER_RUNS) :].lstrip(": ") or comment


def describe_state(info: dict[str, str]) -> str:
    """The state of a PBS Pro record for a sweep controller's messages: a deletion says whether the job ran.

    A deleted job that never started has no ``exec_host``; its ``Exit_status`` cannot tell (a sub-job copies
    its array's).

    >>> describe_state({"State": "CANCELLED", "Substate": "91", "NodeList": "cn1/0"})
    'CANCELLED (deleted while running)'
    >>> describe_state({"State": "CANCELLED", "Substate": "70", "NodeList": ""})
    'CANCELLED (deleted before it started)'
    >>> describe_state({"State": "COMPLETED", "NodeList": "cn1/0"})
    'COMPLETED'
    """
    state = info.get("State") or "UNKNOWN"
    if state == "CANCELLED" and not info.get("NodeList"):
        return f"{state} (deleted before it started)"
    if state == "CANCELLED" and info.get("Substate") == _PBSPRO_TERMINATED:
        return f"{state} (deleted while running)"
    return state


def _load_json(text: str) -> Any:
    try:
        return json.loads(text, strict=False)
    except json.JSONDecodeError:
        # Some PBS Pro versions print Variable_List values with unescaped backslashes; double the lone ones.
        return json.loads(re.sub(r'\\(?!["\\/bfnrt]|u[0-9a-fA-F]{4})', r"\\\\", text), strict=False)


def parse_pbspro_json(text: str) -> dict[str, dict[str, str]]:
    """Records of ``qstat -f -F json -x -t`` output, keyed by :attr:`PBSJobId.key`.

    Array sub-jobs appear as ``124[3].server`` records (with ``-t``); the array itself as ``124[].server``.
    Output that is not JSON raises ``ValueError``.
    """
    text = text.strip()
    if not text:
        return {}
    data = _load_json(text)
    jobs = data.get("Jobs", {}) if isinstance(data, dict) else {}
    out: dict[str, dict[str, str]] = {}
    for job_id, attrs in jobs.items():
        try:
            key = PBSJobId.parse(job_id).key
        except ValueError:
            continue
        if isinstance(attrs, dict):
            out[key] = _record("pbspro", job_id, attrs)
    return out


_KEY_LINE = re.compile(r"^\s+([A-Za-z_][\w.]*) = ?(.*)$")


def parse_qstat_full(text: str, dialect: str = "torque") -> dict[str, dict[str, str]]:
    r"""Records of text ``qstat -f`` output (Torque, the slurm-wlm-torque wrapper, PBS Pro without ``-F``).

    Long values wrapped onto tab-indented continuation lines are joined.

    >>> parse_qstat_full("Job Id: 9.srv\n    job_state = C\n    exit_status = 0\n")["9"]["State"]
    'COMPLETED'
    """
    out: dict[str, dict[str, str]] = {}
    job_id: str | None = None
    attrs: dict[str, Any] = {}
    last: str | None = None

    def flush() -> None:
        if job_id is None:
            return
        try:
            key = PBSJobId.parse(job_id).key
        except ValueError:
            return
        out[key] = _record(dialect, job_id, attrs)

    for line in text.splitlines():
        if line.startswith("Job Id:"):
            flush()
            job_id, attrs, last = line.split(":", 1)[1].strip(), {}, None
            continue
        if job_id is None or not line.strip():
            continue
        match = _KEY_LINE.match(line)
        if match and (last is None or not line.startswith("\t") or " = " in line):
            last = match[1]
            attrs[last] = match[2].strip()
        elif last is not None and line[:1].isspace():
            attrs[last] += line.strip()
    flush()
    return out


def parse_qsub_output(text: str | bytes) -> PBSJobId:
    """The job id printed by ``qsub`` (last non-empty line); ``ValueError`` with the output otherwise."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines:
        try:
            return PBSJobId.parse(lines[-1])
        except ValueError:
            pass
    raise ValueError(f"could not read a job id from the qsub output {text!r}")


def parse_server_max_array_size(text: str) -> int | None:
    """``max_array_size`` of the server from ``qstat -B -f -F json`` output (None when not there).

    >>> parse_server_max_array_size('{"Server": {"pbs01": {"max_array_size": 10000}}}')
    10000
    >>> parse_server_max_array_size("qstat: cannot connect to server") is None
    True
    """
    try:
        servers = json.loads(text).get("Server", {})
    except (json.JSONDecodeError, AttributeError):
        return None
    for attrs in servers.values():
        value = _to_int(attrs.get("max_array_size")) if isinstance(attrs, dict) else None
        if value is not None:
            return value
    return None
