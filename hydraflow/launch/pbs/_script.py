"""Job-script generation for PBS Pro / OpenPBS and Torque: validated ``#PBS`` directives, no shell strings.

Everything here is pure (no scheduler, no submitit import), so golden-file tests can pin the exact text.
Every user value that ends up in a ``#PBS`` line or in the shell part of the script is validated or quoted.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import PurePath

DIALECTS = ("pbspro", "torque")

# Environment variables read by the job side (hydraflow.launch.pbs.__main__ / PBSJobEnvironment).
ENV_EXECUTOR = "SUBMITIT_EXECUTOR"
ENV_SIGNAL_DELAY = "HYDRAFLOW_PBS_SIGNAL_DELAY_S"
ENV_STDERR_TO_STDOUT = "HYDRAFLOW_PBS_STDERR_TO_STDOUT"
ENV_DIALECT = "HYDRAFLOW_PBS_DIALECT"
ENV_ARRAY = "HYDRAFLOW_PBS_ARRAY"

_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,235}")
_WORD_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+-]*")
_RESOURCE_KEY_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_RESOURCE_VALUE_RE = re.compile(r"[A-Za-z0-9_.:=+@/%-]+")
# Characters a path may contain: the ones shlex considers shell-safe (the slurm-wlm-torque qsub wrapper pastes
# -o and the script path into a shell command line, and #PBS -o lines end at whitespace).
_PATH_RE = re.compile(r"[A-Za-z0-9_@%+=:,./~-]+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Variables the scheduler sets for the job itself: never taken from the submitting process.
_JOB_OWNED_ENV = frozenset(
    {
        "HOME",
        "LOGNAME",
        "USER",
        "SHELL",
        "TMPDIR",
        "ENVIRONMENT",
        "NCPUS",
        # the job's GPUs, set by PBS Pro's cgroups hook: never the submitter's
        "CUDA_VISIBLE_DEVICES",
        "CUDA_DEVICE_ORDER",
        "OFFLOAD_DEVICES",
        "HOSTNAME",
        "PWD",
        "OLDPWD",
        "SHLVL",
        "_",
    }
)


class PBSConfigError(ValueError):
    """An invalid PBS executor parameter; the message names the parameter and the offending value."""


def _fail(param: str, value: Any, why: str) -> PBSConfigError:
    return PBSConfigError(f"PBS parameter {param}={value!r}: {why}")


def check_name(param: str, value: str) -> str:
    """A job name: 1-236 characters from ``[A-Za-z0-9_.+-]``, not starting with ``.``/``+``/``-``.

    >>> check_name("job_name", "train_3")
    'train_3'
    """
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise _fail(
            param, value, "must be 1-236 characters from [A-Za-z0-9_.+-] starting with a letter, digit or _"
        )
    return value


def check_word(param: str, value: str) -> str:
    """A queue, account or similar single token (no spaces, no shell or directive syntax)."""
    if not isinstance(value, str) or not _WORD_RE.fullmatch(value):
        raise _fail(
            param, value, "must be a single word of [A-Za-z0-9_.@+-] starting with a letter, digit or _"
        )
    return value


def check_path(param: str, value: str | PurePath) -> str:
    """An absolute path made of shell-safe characters (``%j``/``%A``/``%a`` placeholders allowed)."""
    text = str(value)
    if not _PATH_RE.fullmatch(text):
        bad = sorted({c for c in text if not _PATH_RE.fullmatch(c)})
        raise _fail(
            param,
            text,
            f"contains {''.join(bad)!r}: PBS directives and the qsub command line need paths made of "
            "[A-Za-z0-9_@%+=:,./~-] (no spaces, quotes or shell syntax)",
        )
    return text


def check_int(param: str, value: Any, minimum: int) -> int:
    """A plain integer (bools refused) not below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(param, value, f"must be an integer >= {minimum}")
    return value


def check_directive(param: str, value: str) -> str:
    """One raw ``#PBS`` directive such as ``-m abe``: a single line starting with ``-``."""
    if (
        not isinstance(value, str)
        or not value.startswith("-")
        or _CONTROL_RE.search(value)
        or not value.strip()
    ):
        raise _fail(param, value, "each directive must be one line starting with '-' (e.g. '-m abe')")
    return value


def check_resources(param: str, value: Mapping[str, Any]) -> dict[str, str]:
    """Extra ``-l key=value`` resources; keys are identifiers, values have no spaces, commas or quotes."""
    if not isinstance(value, Mapping):
        raise _fail(param, value, "must be a mapping of resource name to value")
    out: dict[str, str] = {}
    for key, val in value.items():
        text = str(val)
        if not isinstance(key, str) or not _RESOURCE_KEY_RE.fullmatch(key):
            raise _fail(param, dict(value), f"resource name {key!r} must be an identifier")
        if isinstance(val, bool) or not _RESOURCE_VALUE_RE.fullmatch(text):
            raise _fail(param, dict(value), f"value of {key!r} ({val!r}) must match [A-Za-z0-9_.:=+@/%-]+")
        out[key] = text
    return out


def walltime(minutes: int) -> str:
    """``HH:MM:SS`` for a number of minutes.

    >>> walltime(5), walltime(90), walltime(3000)
    ('00:05:00', '01:30:00', '50:00:00')
    """
    hours, mins = divmod(minutes, 60)
    return f"{hours:02d}:{mins:02d}:00"


def memory(mem_gb: float) -> str:
    """PBS memory size: whole GiB as ``Ngb``, otherwise ``Nmb``.

    >>> memory(4), memory(0.5), memory(2.25)
    ('4gb', '512mb', '2304mb')
    """
    if mem_gb == int(mem_gb):
        return f"{int(mem_gb)}gb"
    return f"{round(mem_gb * 1024)}mb"


@dataclass(frozen=True)
class ScriptSpec:
    """Everything that goes into one job script (validated by :func:`make_spec`)."""

    dialect: str
    job_name: str = "submitit"
    timeout_min: int = 5
    nodes: int = 1
    ncpus: int = 1
    mpiprocs: int | None = None
    ngpus: int | None = None
    mem_gb: float | None = None
    queue: str | None = None
    account: str | None = None
    array_parallelism: int = 256
    additional_resources: dict[str, str] = field(default_factory=dict)
    additional_directives: tuple[str, ...] = ()
    setup: tuple[str, ...] = ()
    teardown: tuple[str, ...] = ()
    signal_delay_s: int = 90
    export_env: bool = True
    rerunnable: bool = True
    stderr_to_stdout: bool = False


#: Parameters accepted by ``PBSExecutor.update_parameters`` and their defaults.
DEFAULTS: dict[str, Any] = {
    "job_name": "submitit",
    "timeout_min": 5,
    "nodes": 1,
    "ncpus": 1,
    "mpiprocs": None,
    "ngpus": None,
    "mem_gb": None,
    "queue": None,
    "account": None,
    "array_parallelism": 256,
    "additional_resources": None,
    "additional_directives": None,
    "setup": None,
    "teardown": None,
    "signal_delay_s": 90,
    "export_env": True,
    "rerunnable": True,
    "stderr_to_stdout": False,
}


def _lines(param: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _fail(param, value, "must be a list of strings")
    for item in value:
        if not isinstance(item, str) or "\x00" in item:
            raise _fail(param, value, "must be a list of strings")
        if any(line.lstrip().startswith("#PBS") for line in item.splitlines()):
            # PBS reads directives up to the first command: a "#PBS" line here would still be one
            raise _fail(param, value, "contains a #PBS line; use additional_directives for directives")
    return tuple(value)


def make_spec(dialect: str, params: Mapping[str, Any]) -> ScriptSpec:  # noqa: C901
    """Validate executor parameters into a :class:`ScriptSpec`; raises :class:`PBSConfigError`."""
    if dialect not in DIALECTS:
        raise PBSConfigError(f"PBS dialect {dialect!r} is unknown: use one of {', '.join(DIALECTS)}")
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        listing = "\n  - ".join(f"{k} (default: {v!r})" for k, v in sorted(DEFAULTS.items()))
        raise PBSConfigError(f"Unknown PBS parameter(s): {unknown}\nValid parameters are:\n  - {listing}")
    p = {**DEFAULTS, **params}
    check_name("job_name", p["job_name"])
    check_int("timeout_min", p["timeout_min"], 1)
    check_int("nodes", p["nodes"], 1)
    check_int("ncpus", p["ncpus"], 1)
    check_int("array_parallelism", p["array_parallelism"], 1)
    check_int("signal_delay_s", p["signal_delay_s"], 0)
    if p["mpiprocs"] is not None:
        check_int("mpiprocs", p["mpiprocs"], 1)
        if dialect == "torque" and p["mpiprocs"] != 1:
            raise _fail(
                "mpiprocs",
                p["mpiprocs"],
                "the torque dialect has no mpiprocs; request cores with ncpus (ppn)",
            )
    if p["ngpus"] is not None:
        check_int("ngpus", p["ngpus"], 0)
    mem = p["mem_gb"]
    if mem is not None and (isinstance(mem, bool) or not isinstance(mem, int | float) or not mem > 0):
        raise _fail("mem_gb", mem, "must be a positive number of GiB")
    for key in ("queue", "account"):
        if p[key] is not None:
            check_word(key, p[key])
    for key in ("export_env", "rerunnable", "stderr_to_stdout"):
        if not isinstance(p[key], bool):
            raise _fail(key, p[key], "must be true or false")
    directives = _lines("additional_directives", p["additional_directives"])
    for directive in directives:
        check_directive("additional_directives", directive)
    return ScriptSpec(
        dialect=dialect,
        job_name=p["job_name"],
        timeout_min=p["timeout_min"],
        nodes=p["nodes"],
        ncpus=p["ncpus"],
        mpiprocs=p["mpiprocs"],
        ngpus=p["ngpus"] or None,
        mem_gb=mem,
        queue=p["queue"],
        account=p["account"],
        array_parallelism=p["array_parallelism"],
        additional_resources=check_resources("additional_resources", p["additional_resources"] or {}),
        additional_directives=directives,
        setup=_lines("setup", p["setup"]),
        teardown=_lines("teardown", p["teardown"]),
        signal_delay_s=p["signal_delay_s"],
        export_env=p["export_env"],
        rerunnable=p["rerunnable"],
        stderr_to_stdout=p["stderr_to_stdout"],
    )


def resource_directives(spec: ScriptSpec) -> list[str]:
    """The ``-l`` directives of a job (without the ``#PBS`` prefix)."""
    if spec.dialect == "pbspro":
        chunk = [str(spec.nodes), f"ncpus={spec.ncpus}"]
        if spec.mpiprocs is not None:
            chunk.append(f"mpiprocs={spec.mpiprocs}")
        if spec.ngpus:
            chunk.append(f"ngpus={spec.ngpus}")
        if spec.mem_gb is not None:
            chunk.append(f"mem={memory(spec.mem_gb)}")
        out = [f"-l select={':'.join(chunk)}"]
    else:
        nodes = f"{spec.nodes}:ppn={spec.ncpus}" + (f":gpus={spec.ngpus}" if spec.ngpus else "")
        out = [f"-l nodes={nodes}"]
        if spec.mem_gb is not None:
            out.append(f"-l mem={memory(spec.mem_gb)}")
    out.append(f"-l walltime={walltime(spec.timeout_min)}")
    out.extend(f"-l {key}={value}" for key, value in spec.additional_resources.items())
    return out


def array_directive(spec: ScriptSpec, count: int) -> str:
    """``-J 0-N[%P]`` (PBS Pro) or ``-t 0-N[%P]`` (Torque) for ``count`` >= 2 sub-jobs.

    >>> array_directive(ScriptSpec("pbspro", array_parallelism=2), 5)
    '-J 0-4%2'
    >>> array_directive(ScriptSpec("torque"), 3)
    '-t 0-2'
    """
    if count < 2:  # noqa: PLR2004 - PBS Pro refuses single-element arrays
        raise ValueError(f"a PBS job array needs at least 2 sub-jobs, got {count}")
    flag = "-J" if spec.dialect == "pbspro" else "-t"
    limit = f"%{spec.array_parallelism}" if spec.array_parallelism < count else ""
    return f"{flag} 0-{count - 1}{limit}"


def scheduler_log(spec: ScriptSpec, log_dir: str, uid: str, *, array: bool) -> str:
    """Path of the scheduler's own (joined) output file for a submission; per sub-job on PBS Pro."""
    if array and spec.dialect == "pbspro":
        return f"{log_dir}/{uid}.^array_index^.pbs.log"
    return f"{log_dir}/{uid}.pbs.log"


def env_file_path(log_dir: str, uid: str) -> str:
    """Where the environment of the submitting process is saved for the job (``export_env``)."""
    return f"{log_dir}/{uid}.env.sh"


def env_file_text(environ: Mapping[str, str]) -> str:
    r"""Shell ``export`` lines restoring ``environ`` in the job, every value quoted with :func:`shlex.quote`.

    Left out: names that are not shell identifiers (exported bash functions ``BASH_FUNC_f%%``), ``PBS_*``
    and the variables the scheduler sets for each job (``HOME``, ``TMPDIR``, ``HOSTNAME`` ...), as with -V.

    >>> print(env_file_text({"A": "x y", "B": "it's", "PBS_JOBID": "1", "BASH_FUNC_f%%": "()"}), end="")
    export A='x y'
    export B='it'"'"'s'
    """
    lines = [
        f"export {name}={shlex.quote(value)}"
        for name, value in sorted(environ.items())
        if _ENV_NAME_RE.fullmatch(name) and not name.startswith("PBS_") and name not in _JOB_OWNED_ENV
    ]
    return "".join(f"{line}\n" for line in lines)


def make_script(
    spec: ScriptSpec,
    *,
    python: Sequence[str],
    folder: str,
    log_path: str,
    array_count: int | None = None,
    env_file: str | None = None,
) -> str:
    """The full job script text; ``folder`` is the submitit folder (may contain ``%j``).

    ``env_file`` (with ``export_env``): a file of :func:`env_file_text` lines the job sources before anything
    else. ``#PBS -V`` alone is not enough: the ``qsub`` of OpenPBS 23.06 sends no environment with ``-V``
    (openpbs/openpbs#2611, fixed after that release), and the setup lines must see it too.
    """
    check_path("folder", folder)  # log_path is derived from it (plus PBS Pro's ^array_index^)
    directives = [f"-N {spec.job_name}", *resource_directives(spec)]
    if spec.queue:
        directives.append(f"-q {spec.queue}")
    if spec.account:
        directives.append(f"-A {spec.account}")
    if array_count is not None:
        directives.append(array_directive(spec, array_count))
    directives += ["-j oe", f"-o {log_path}"]
    if spec.dialect == "pbspro":
        # direct write: the scheduler's log is written in place on the shared folder (readable while the job
        # runs), not spooled and copied at the end (a copy that fails, e.g. a deleted folder, holds the job's
        # CPUs ~30 s while PBS retries it)
        directives.append("-k oed")
    directives.append(f"-r {'y' if spec.rerunnable else 'n'}")
    if spec.export_env:
        directives.append("-V")
    directives += spec.additional_directives
    lines = ["#!/bin/bash", f"# Generated by hydraflow.launch.pbs (dialect: {spec.dialect})"]
    lines += [f"#PBS {d}" for d in directives]
    if spec.export_env and env_file is not None:
        lines += [
            "",
            "# environment of the submitting process",
            f". {shlex.quote(check_path('env file', env_file))}",
        ]
    if spec.setup:
        lines += ["", "# setup", *spec.setup]
    lines += [
        "",
        "# command",
        f"export {ENV_EXECUTOR}=pbs",
        f"export {ENV_DIALECT}={spec.dialect}",
        f"export {ENV_ARRAY}={0 if array_count is None else 1}",
        f"export {ENV_SIGNAL_DELAY}={spec.signal_delay_s}",
    ]
    if spec.stderr_to_stdout:
        lines.append(f"export {ENV_STDERR_TO_STDOUT}=1")
    lines += [
        'if [ -n "${PBS_O_WORKDIR:-}" ]; then cd "$PBS_O_WORKDIR"; fi',
        # exec: the job's top process is Python itself, so qsig/walltime signals reach submitit's handlers
        ("" if spec.teardown else "exec ")
        + shlex.join([*python, "-u", "-m", "hydraflow.launch.pbs", folder]),
    ]
    if spec.teardown:
        lines += ["", "# teardown", *spec.teardown]
    return "\n".join(lines) + "\n"


def qsub_command(spec: ScriptSpec, script_path: str, log_path: str) -> list[str]:
    """The ``qsub`` argument list.

    Torque: ``-j oe -o LOG`` are repeated on the command line because the slurm-wlm-torque ``qsub`` wrapper
    always passes its own ``-o``/``-e`` to sbatch, which would override the script's ``#PBS -o``.
    """
    check_path("submission script", script_path)
    if spec.dialect == "torque":
        return ["qsub", "-j", "oe", "-o", check_path("log path", log_path), script_path]
    return ["qsub", script_path]
