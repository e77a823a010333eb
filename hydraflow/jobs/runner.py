"""Running the jobs of ``hydraflow.yaml``: ``needs`` ordering, argument generation, execution and a summary.

A ``run`` job hands each of its sets to the app as **one Hydra multirun** with the hydraflow sweeper::

    <run command> --multirun hydra/sweeper=hydraflow hydra/launcher=hydraflow_local <add> <each> <all>

so the sweeper expands the extended syntax, batches the jobs and gives them to the launcher (local pool, SLURM
or PBS). A ``call`` job calls ``module.func(args)`` once per expanded job; a ``submit`` job writes one line of
arguments per expanded job to a file and runs its handler once with that file. Commands always run as argument
lists (never through a shell) in the project directory, the directory of the job file.
"""

from __future__ import annotations

import importlib
import os
import shlex
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from hydraflow.hydra_adapter.argv import hydra_safe_arguments
from hydraflow.jobs.schema import (
    Job,
    JobFile,
    JobFileError,
    JobSet,
    launcher_settings_problem,
    list_names,
    merge_settings,
    setting_key,
)

if TYPE_CHECKING:
    from hydraflow.sweep import Sweep

LAUNCHERS = {"local": "hydraflow_local", "slurm": "hydraflow_slurm", "pbs": "hydraflow_pbs"}
DEFAULT_LAUNCHER = "local"
SUBMIT_DIR = Path(".hydraflow") / "submit"

Status = Literal["ok", "failed", "skipped"]
Echo = Callable[[str], None]


def _print(text: str) -> None:
    print(text, flush=True)  # noqa: T201 - the runner's report goes to stdout, between the jobs' own output


def job_order(job_file: JobFile, names: Sequence[str] = ()) -> list[Job]:
    r"""The jobs to run for ``names`` (all jobs when empty) and everything they need, dependencies first.

    Jobs keep their file order wherever ``needs`` allows it: the next job is always the first job of the file
    whose needs are all placed (Kahn's algorithm with a heap of file positions: O(n log n + needs), where
    scanning for the first ready job took quadratic time on a 710k-job file).

    >>> from hydraflow.jobs.schema import parse_job_file
    >>> jf = parse_job_file("jobs:\n  a: {run: x, needs: c}\n  b: {run: x}\n  c: {run: x}\n")
    >>> [job.name for job in job_order(jf)], [job.name for job in job_order(jf, ["a"])]
    (['b', 'c', 'a'], ['c', 'a'])
    """
    import heapq

    wanted = list(names) or list(job_file.jobs)
    for name in wanted:
        job_file[name]  # raises a clear error for an unknown job
    closure: set[str] = set()
    todo = list(wanted)
    while todo:
        name = todo.pop()
        if name not in closure:
            closure.add(name)
            todo.extend(job_file.jobs[name].needs)
    pending = [job for job in job_file.jobs.values() if job.name in closure]
    position = {job.name: i for i, job in enumerate(pending)}
    waiting = {job.name: len(set(job.needs)) for job in pending}
    needed_by: dict[str, list[str]] = {}
    for job in pending:
        for need in set(job.needs):
            needed_by.setdefault(need, []).append(job.name)
    ready = [position[name] for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    ordered: list[Job] = []
    while ready:
        job = pending[heapq.heappop(ready)]
        ordered.append(job)
        for other in needed_by.get(job.name, ()):
            waiting[other] -= 1
            if waiting[other] == 0:
                heapq.heappush(ready, position[other])
    if len(ordered) < len(pending):  # pragma: no cover - the schema rejects cycles
        placed = {job.name for job in ordered}
        cycle = list_names([job.name for job in pending if job.name not in placed])
        raise JobFileError(f"the needs of jobs form a cycle among: {cycle}", job_file.path)
    return ordered


def launcher_setting(job: Job, job_set: JobSet, launcher: str | None) -> str:
    """``hydra/launcher=...``: the command line's choice, else the job file's ``add``, else the local pool."""
    if launcher is not None:
        if launcher not in LAUNCHERS:
            msg = f"unknown launcher {launcher!r} (choose from: {', '.join(LAUNCHERS)})"
            raise ValueError(msg)
        return f"hydra/launcher={LAUNCHERS[launcher]}"
    for item in job.merged_add(job_set):
        if setting_key(item) == "hydra/launcher":
            return item.lstrip("+")
    return f"hydra/launcher={LAUNCHERS[DEFAULT_LAUNCHER]}"


@dataclass
class Step:
    """One set of one job, ready to run: its arguments and (lazily) its expansion."""

    job: Job
    index: int  # 1-based set number
    job_set: JobSet
    settings: list[str]  # merged ``add`` (job, then set, then command-line extras)
    argv: list[str] = field(default_factory=list)  # the multirun command of a ``run`` step
    _sweep: Sweep | None = None
    deferred: str | None = None
    """Why the expansion is left to the app (``glob()`` lists a config group of the app), or None."""

    @property
    def count(self) -> int | None:
        """The number of jobs of the set, or None when only the app can expand it (``glob()``)."""
        return None if self.deferred else self.sweep().count

    def check(self) -> None:
        """Expand (count, not enumerate) the set now: bad syntax is a clear error before anything runs.

        A ``glob()`` needs the app's config to list a config group's options: the count of a ``run`` set that
        uses one is left to the sweeper; ``call`` and ``submit`` sets must be expandable here.
        """
        from hydraflow.hydra_adapter.errors import NeedsAppConfigError

        try:
            self.sweep().count  # noqa: B018
        except JobFileError as exc:
            if not isinstance(exc.__cause__, NeedsAppConfigError) or self.job.kind != "run":
                raise
            self.deferred = "glob() is expanded by the app"

    @property
    def overrides(self) -> list[str]:
        """The set's sweep arguments, ``each`` then ``all``."""
        return self.job_set.overrides

    def sweep(self) -> Sweep:
        """The expansion of ``each`` + ``all`` in the extended syntax (raises a clear error on bad syntax)."""
        if self._sweep is None:
            self._sweep = expand_overrides(self.overrides, self.job, self.index)
        return self._sweep

    def job_args(self) -> Iterator[list[str]]:
        """Each expanded job's arguments: its overrides, then the Hydra settings (``call``/``submit``)."""
        for overrides in self.sweep():
            yield [*overrides, *self.settings]


def expand_overrides(overrides: Sequence[str], job: Job, index: int) -> Sweep:
    """Expand one set with :func:`hydraflow.sweep.expand`, Hydra-native forms through Hydra's own parser."""
    from hydraflow.hydra_adapter.errors import NeedsAppConfigError
    from hydraflow.hydra_adapter.native import make_native_expander
    from hydraflow.sweep import SweepSyntaxError, expand

    try:
        return expand(list(overrides), native=make_native_expander())
    except SweepSyntaxError as exc:
        error = JobFileError(f"bad sweep in set {index} of job {job.name!r}:\n{exc}")
        # a glob() needs the app's config: the cause tells Step.check() so; other causes are not shown
        raise error from (exc.__cause__ if isinstance(exc.__cause__, NeedsAppConfigError) else None)


def plan(
    job_file: JobFile,
    names: Sequence[str] = (),
    *,
    launcher: str | None = None,
    extra: Sequence[str] = (),
    stamp: str | None = None,
) -> list[tuple[Job, list[Step]]]:
    """The ordered jobs and their steps; every set's arguments are built and its sweep checked up front."""
    stamp = stamp or datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d_%H-%M-%S")
    out: list[tuple[Job, list[Step]]] = []
    for job in job_order(job_file, names):
        steps = []
        for index, job_set in enumerate(job.sets, 1):
            settings = merge_settings(job.merged_add(job_set), list(extra))
            step = Step(job, index, job_set, settings)
            try:
                if job.kind == "run":
                    check_launcher_settings(settings, launcher_setting(job, job_set, launcher))
                    step.argv = run_argv(job, job_set, index, settings, launcher=launcher, stamp=stamp)
                step.check()
            except JobFileError as exc:
                raise JobFileError(exc.message, job_file.path, job_set.line) from None
            steps.append(step)
        out.append((job, steps))
    return out


def check_launcher_settings(settings: Sequence[str], choice: str) -> None:
    """Raise :class:`JobFileError` when a ``hydra.launcher.KEY`` setting is not one of the chosen launcher's.

    ``choice`` is the ``hydra/launcher=NAME`` argument of the set. Hydra is imported (to read the launcher's
    fields) only when a set has such a setting.
    """
    if not any(setting_key(item).startswith("hydra.launcher.") for item in settings):
        return
    problem = launcher_settings_problem(settings, choice.partition("=")[2])
    if problem is not None:
        raise JobFileError(problem)


def command(job: Job) -> list[str]:
    """The job's command; a bare ``python``/``python3`` means the interpreter running hydraflow itself."""
    argv = list(job.target)
    if argv and argv[0] in {"python", "python3"}:
        argv[0] = sys.executable
    return argv


def run_argv(
    job: Job, job_set: JobSet, index: int, settings: Sequence[str], *, launcher: str | None, stamp: str
) -> list[str]:
    """The multirun command of one set of a ``run`` job, as an argument list."""
    hydra_settings = [item for item in settings if setting_key(item) != "hydra/launcher"]
    argv = [*command(job), "--multirun", "hydra/sweeper=hydraflow", launcher_setting(job, job_set, launcher)]
    argv += hydra_settings
    if not any(setting_key(item) == "hydra.sweep.dir" for item in settings):
        # One directory per job and set: sets started within the same second must not share a sweep dir.
        argv.append(f"hydra.sweep.dir=multirun/{job.name}/{stamp}/{index}")
    argv += hydra_safe_arguments(job_set.overrides)
    return argv


# ------------------------------------------------------------------------------------------- dry run / show


def describe_plan(
    steps_by_job: Iterable[tuple[Job, list[Step]]], echo: Echo = _print, *, limit: int | None = None
) -> None:
    """Print every job of the plan without running anything: commands, and one line per expanded job."""
    for job, steps in steps_by_job:
        total = _total(steps)
        needs = f", needs: {', '.join(job.needs)}" if job.needs else ""
        echo(f"job {job.name}: {job.kind} {job.command} ({_n(len(steps), 'set')}, {_n(total, 'job')}{needs})")
        if job.kind == "submit":
            echo(f"  $ {shlex.join([*job.target, '<file with the ' + _n(total, 'line') + ' below>'])}")
        for step in steps:
            count = step.count
            echo(f"  set {step.index}: {_n(count, 'job')}")
            if job.kind == "run":
                echo(f"    $ {display(step.argv)}")
            if count is None:
                echo(f"      ({step.deferred})")
                continue
            jobs: Iterable[list[str]] = step.job_args() if job.kind != "run" else step.sweep()
            for i, args in enumerate(jobs, 1):
                if limit is not None and i > limit:
                    echo(f"      ... {count - limit} more")
                    break
                prefix = f"{job.target[0]}(" if job.kind == "call" else ""
                shown = repr(list(args)) + ")" if job.kind == "call" else shlex.join(args) or "(no overrides)"
                echo(f"      {i:>{len(str(count))}}  {prefix}{shown}")


def describe_job(job: Job, steps: list[Step], echo: Echo = _print) -> None:
    """Print one job in detail: its command, needs, and each set's arguments, settings and size."""
    echo(f"job {job.name} ({job.kind}: {job.command})")
    if job.needs:
        echo(f"  needs: {', '.join(job.needs)}")
    if job.add:
        echo(f"  add: {shlex.join(job.add)}")
    for step in steps:
        echo(f"  set {step.index} (line {step.job_set.line}): {_n(step.count, 'job')}")
        for key in ("each", "all"):
            values = getattr(step.job_set, key)
            if values:
                echo(f"    {key}: {shlex.join(values)}")
        if step.settings:
            echo(f"    add: {shlex.join(step.settings)}")
        if step.argv:
            echo(f"    $ {display(step.argv)}")


def display(argv: Sequence[str]) -> str:
    """A command line for people to read and paste into a POSIX shell (double quotes where that reads better).

    >>> print(display(["python", "a.py", "++hydra.sweeper={params:{x:'1,2'}}", "y=1"]))
    python a.py "++hydra.sweeper={params:{x:'1,2'}}" y=1
    """
    out = []
    for arg in argv:
        quoted = shlex.quote(arg)
        if quoted != arg and "'" in arg and not any(c in arg for c in '"$`\\!'):
            quoted = f'"{arg}"'
        out.append(quoted)
    return " ".join(out)


def _total(steps: Sequence[Step]) -> int | None:
    counts = [step.count for step in steps]
    return None if None in counts else sum(c for c in counts if c is not None)


def _n(count: int | None, word: str) -> str:
    if count is None:
        return f"? {word}s"
    return f"{count} {word}{'' if count == 1 else 's'}"


# ---------------------------------------------------------------------------------------------- running


@dataclass
class JobResult:
    """What happened to one job."""

    name: str
    status: Status
    detail: str = ""
    seconds: float = 0.0


def run_plan(
    job_file: JobFile, steps_by_job: list[tuple[Job, list[Step]]], echo: Echo = _print
) -> list[JobResult]:
    """Run the planned jobs in order; a job whose needs did not all succeed is skipped. Never raises."""
    results: dict[str, JobResult] = {}
    interrupted = False
    previous = _sigterm_as_interrupt()
    try:
        for job, steps in steps_by_job:
            interrupted = _run_one(job_file, job, steps, results, interrupted=interrupted, echo=echo)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return list(results.values())


def _sigterm_as_interrupt() -> Any:
    """Make SIGTERM raise KeyboardInterrupt (commands are stopped, not orphaned); return the old handler."""

    def handler(signum: int, frame: Any) -> None:  # noqa: ARG001
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        return None


def _run_one(
    job_file: JobFile,
    job: Job,
    steps: list[Step],
    results: dict[str, JobResult],
    *,
    interrupted: bool,
    echo: Echo,
) -> bool:
    """Run (or skip) one job, record its result; return whether the run was interrupted."""
    if interrupted:
        results[job.name] = JobResult(job.name, "skipped", "interrupted")
        return True
    bad = [need for need in job.needs if results.get(need) is None or results[need].status != "ok"]
    if bad:
        results[job.name] = JobResult(job.name, "skipped", f"needs {', '.join(bad)}, which did not succeed")
        echo(f"=== {job.name}: skipped (needs {', '.join(bad)})")
        return False
    echo(f"=== {job.name}: {job.kind} {job.command} ({_n(len(steps), 'set')})")
    start = time.perf_counter()
    try:
        failures = _run_job(job_file, job, steps, echo)
    except KeyboardInterrupt:
        interrupted = True
        failures = ["interrupted"]
    seconds = time.perf_counter() - start
    if failures:
        results[job.name] = JobResult(job.name, "failed", "; ".join(failures), seconds)
    else:
        count = _total(steps)
        results[job.name] = JobResult(job.name, "ok", _n(count, "job"), seconds)
    return interrupted


def _run_job(job_file: JobFile, job: Job, steps: list[Step], echo: Echo) -> list[str]:
    if job.kind == "run":
        failures = []
        for step in steps:
            echo(f"--- {job.name} set {step.index}/{len(steps)}: {_n(step.count, 'job')}")
            echo(f"$ {display(step.argv)}")
            code = _call_process(step.argv, job_file.root)
            if code != 0:
                failures.append(f"set {step.index} exited with code {code}")
        return failures
    if job.kind == "submit":
        path = write_submit_file(job_file, job, steps)
        argv = [*command(job), str(path)]
        echo(f"$ {display(argv)}")
        code = _call_process(argv, job_file.root)
        return [f"handler exited with code {code}"] if code != 0 else []
    return _run_calls(job_file, job, steps, echo)


STOP_GRACE_S = 60.0
"""After Ctrl-C (or SIGTERM), how long a command gets to stop its jobs (e.g. cancel a SLURM array) itself."""


def _call_process(argv: list[str], cwd: Path) -> int:
    try:
        proc = subprocess.Popen(argv, cwd=cwd)
    except FileNotFoundError:
        _print(f"error: command not found: {argv[0]}")
        return 127
    except PermissionError:
        _print(f"error: command not executable: {argv[0]}")
        return 126
    try:
        return proc.wait()
    except KeyboardInterrupt:
        _stop(proc)
        raise


def _in_foreground() -> bool:
    """Whether this process group owns the terminal (then Ctrl-C reached the running command too)."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Let an interrupted command stop cleanly (cancel its jobs); forward SIGINT unless it had Ctrl-C."""
    try:
        if proc.poll() is None and not _in_foreground():
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=STOP_GRACE_S)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        proc.terminate()
        try:
            proc.wait(timeout=10.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def write_submit_file(job_file: JobFile, job: Job, steps: list[Step]) -> Path:
    """Write one line of shell-quoted arguments per expanded job; the handler gets the file's path."""
    directory = job_file.root / SUBMIT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).astimezone().strftime("%Y%m%d-%H%M%S-%f")
    path = directory / f"{job.name}-{stamp}.txt"
    with path.open("w", encoding="utf-8") as f:
        for step in steps:
            for args in step.job_args():
                f.write(shlex.join(args) + "\n")
    return path


def load_callable(target: str, root: Path) -> Callable[[list[str]], object]:
    """Import ``package.module.func`` (or ``module:func``) with the project directory on ``sys.path``."""
    module_name, _, func_name = target.replace(":", ".").rpartition(".")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        msg = f"cannot import {module_name!r} for 'call: {target}' (from {root}): {exc}"
        raise JobFileError(msg) from None
    func = getattr(module, func_name, None)
    if not callable(func):
        msg = f"'call: {target}': module {module_name!r} has no function {func_name!r}"
        raise JobFileError(msg)
    return cast("Callable[[list[str]], object]", func)


def _run_calls(job_file: JobFile, job: Job, steps: list[Step], echo: Echo) -> list[str]:
    try:
        func = load_callable(job.target[0], job_file.root)
    except JobFileError as exc:
        echo(f"error: {exc}")
        return [str(exc)]
    failed = 0
    total = 0
    for step in steps:
        for args in step.job_args():
            total += 1
            try:
                func(args)
            except KeyboardInterrupt:
                raise
            except Exception:  # noqa: BLE001 - a failing call fails its job, the others still run
                failed += 1
                echo(f"error: {job.target[0]}({args!r}) raised:\n{traceback.format_exc().rstrip()}")
    return [f"{failed} of {total} calls raised"] if failed else []


def summarize(results: Sequence[JobResult], echo: Echo = _print) -> int:
    """Print the ok / failed / skipped summary; return the exit code: 0, 1 (failed/skipped), 130 (Ctrl-C)."""
    counts = {status: sum(r.status == status for r in results) for status in ("ok", "failed", "skipped")}
    echo(f"summary: {counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped")
    width = max((len(r.name) for r in results), default=0)
    for r in results:
        timing = f" [{r.seconds:.1f} s]" if r.status != "skipped" else ""
        echo(f"  {r.status:<7}  {r.name:<{width}}  {r.detail}{timing}")
    if any(r.detail == "interrupted" for r in results):
        return 130
    return 0 if counts["failed"] == 0 and counts["skipped"] == 0 else 1
