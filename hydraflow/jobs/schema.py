"""The ``hydraflow.yaml`` schema: typed jobs and sets, built from YAML nodes so every error names its line.

``yaml.safe_load`` forgets where things were written, so the file is *composed* (``yaml.compose`` with the
safe loader) and the node tree is walked by hand: each node carries its start mark, and every error says
which key, which job, which set and which line.

```yaml
jobs:
  train:
    run: python train.py           # or  call: pkg.module.func   or  submit: ./submit.sh
    add: hydra.launcher.n_jobs=2   # Hydra settings for every set (a set's own ``add`` wins key by key)
    needs: [prepare]               # jobs that must succeed first
    sets:
      - each: model=small,large lr=1:3   # a cartesian grid in the extended sweep syntax
        all: seed=0                      # overrides applied to every job of the set
```
"""

from __future__ import annotations

import difflib
import heapq
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml

from hydraflow.jobs.safe_yaml import UnsafeYAML, compose, split_args

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence

Kind = Literal["run", "call", "submit"]

JOB_KINDS: tuple[Kind, ...] = ("run", "call", "submit")
TOP_KEYS = ("jobs",)
JOB_KEYS = ("run", "call", "submit", "add", "needs", "sets")
SET_KEYS = ("each", "all", "add")
# Older spellings accepted as aliases of the current keys.
JOB_ALIASES = {"steps": "sets"}
SET_ALIASES = {"batch": "each", "args": "all"}

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_CALL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*[.:][A-Za-z_][A-Za-z0-9_]*$")


def shorten(text: str, width: int = 60) -> str:
    """``repr(text)``, cut in the middle when long (a message never repeats megabytes of input).

    >>> shorten("x" * 100, 20)
    "'xxxxxxx...xxxxxxx' (100 characters)"
    """
    if len(text) <= width:
        return repr(text)
    half = max(4, (width - 3) // 2 - 1)
    return f"{text[:half] + '...' + text[-half:]!r} ({len(text):,} characters)"


class JobFileError(ValueError):
    """A problem in a job file, with the file and the 1-based line (and column) where it was found."""

    def __init__(
        self, message: str, path: Path | str | None = None, line: int | None = None, column: int | None = None
    ) -> None:
        """Keep the parts; ``str(error)`` is ``path:line:column: message``."""
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        """``path:line:column: message`` (the parts that are known)."""
        if self.path is None:
            return self.message
        where = str(self.path)
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class JobSet:
    """One parameter set of a job: a grid (``each``), fixed overrides (``all``), Hydra settings (``add``)."""

    each: tuple[str, ...] = ()
    all: tuple[str, ...] = ()
    add: tuple[str, ...] = ()
    line: int | None = None

    @property
    def overrides(self) -> list[str]:
        """The sweep arguments of this set: ``each`` then ``all``."""
        return [*self.each, *self.all]


@dataclass(frozen=True)
class Job:
    """One named job of ``hydraflow.yaml``."""

    name: str
    kind: Kind
    target: tuple[str, ...]
    """``run``/``submit``: the command as an argument list; ``call``: one element, ``module.func``."""
    add: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    sets: tuple[JobSet, ...] = ()
    line: int | None = None
    needs_lines: tuple[int | None, ...] = ()

    @property
    def command(self) -> str:
        """The ``run``/``submit`` command or the ``call`` target, as written for display."""
        return self.target[0] if self.kind == "call" else shlex.join(self.target)

    def merged_add(self, job_set: JobSet) -> list[str]:
        """The job-level ``add`` merged with the set's ``add`` by key; the set wins."""
        return merge_settings(self.add, job_set.add)


@dataclass(frozen=True)
class JobFile:
    """A parsed job file: its jobs in file order and the project directory (the file's directory)."""

    path: Path
    jobs: dict[str, Job] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        """The project directory: commands run here and ``call`` targets are imported from here."""
        return self.path.parent

    def __getitem__(self, name: str) -> Job:
        """The job called ``name``; a clear error (with a close match) when there is none."""
        try:
            return self.jobs[name]
        except KeyError:
            raise JobFileError(_unknown("job", name, self.jobs), self.path) from None


def setting_key(item: str) -> str:
    """The key of a ``key=value`` setting without ``+``/``++``/``~`` prefixes (``+a.b=1`` -> ``a.b``)."""
    key = item.split("=", 1)[0].strip()
    return key.lstrip("+~")


def merge_settings(base: tuple[str, ...] | list[str], extra: tuple[str, ...] | list[str]) -> list[str]:
    """Merge two lists of ``key=value`` settings by key; ``extra`` wins and keeps ``base``'s order.

    >>> merge_settings(["hydra.launcher.n_jobs=2", "x=1"], ["hydra.launcher.n_jobs=4", "y=2"])
    ['hydra.launcher.n_jobs=4', 'x=1', 'y=2']
    """
    merged: dict[str, str] = {}
    for item in (*base, *extra):
        merged[setting_key(item)] = item  # re-assigning a key keeps its first position
    return list(merged.values())


_MANY_NAMES = 2000
NAMES_SHOWN = 10
"""Names listed in an error message; the rest are counted."""


def list_names(names: Sequence[str], limit: int = NAMES_SHOWN) -> str:
    """``names`` joined for a message: the first ``limit``, then how many more.

    >>> list_names(["a", "b"]), list_names([f"j{i}" for i in range(710_000)], 3)
    ('a, b', 'j0, j1, j2 and 709,997 more')
    """
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit:,} more"


def _shared_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def close_match(name: str, names: Sequence[str]) -> str | None:
    """The known name closest to ``name`` (a typo), if one is close; quick on any number of names.

    Only names of about the same length and first letter are compared once there are many.
    """
    candidates = names
    if len(names) > _MANY_NAMES:  # difflib compares every name: keep the few thousand sharing most prefix
        near = [n for n in names if abs(len(n) - len(name)) <= 2]  # noqa: PLR2004
        candidates = heapq.nlargest(_MANY_NAMES, near, key=lambda n: _shared_prefix(n, name))
    close = difflib.get_close_matches(name, candidates, n=1)
    return close[0] if close else None


def launcher_fields(launcher: str) -> frozenset[str] | None:
    """The settings of the Hydra launcher ``launcher`` (``hydraflow_slurm``), or None if it is not installed.

    Read from the launcher's structured config in Hydra's ConfigStore (every installed plugin registers its
    own), so it knows third-party launchers too. Imports Hydra: call it only when a job is about to run.
    """
    from hydra.core.config_store import ConfigStore
    from hydra.core.plugins import Plugins

    Plugins.instance()  # imports the installed plugins, which register their configs
    try:
        node = ConfigStore.instance().load(f"hydra/launcher/{launcher}.yaml").node
    except Exception:  # noqa: BLE001 - not installed, or not a structured config: nothing to check against
        return None
    return frozenset(str(key) for key in node if str(key) != "_target_")


def launcher_settings_problem(settings: Sequence[str], launcher: str) -> str | None:
    """Why a ``hydra.launcher.KEY=...`` setting does not fit the launcher ``launcher``, or None if all fit.

    A job file's ``add: hydra.launcher.n_jobs=2`` is a setting of the local pool: with ``--submit`` the SLURM
    launcher gets it and Hydra stops with ``Key 'n_jobs' not in 'SlurmLauncherConf'`` after the run started.
    This names the setting, the launcher and the launchers that do have it, before anything runs.
    (``++hydra.launcher.KEY`` forces a new key and is not checked.)

    >>> launcher_settings_problem(["hydra.launcher.partition=gpu"], "hydraflow_slurm") is None
    True
    >>> print(launcher_settings_problem(["x=1", "hydra.launcher.n_jobs=2"], "hydraflow_slurm"))
    ... # doctest: +ELLIPSIS
    'hydra.launcher.n_jobs=2' is not a setting of the hydraflow_slurm launcher (but of hydraflow_local, ...
    """
    fields = launcher_fields(launcher)
    if fields is None:
        return None
    for item in settings:
        if item.startswith("++") or "=" not in item:
            continue
        key = setting_key(item)
        if not key.startswith("hydra.launcher."):
            continue
        field_name = key.removeprefix("hydra.launcher.").split(".", 1)[0]
        if field_name in fields:
            continue
        from hydra.core.config_store import ConfigStore

        others = sorted(
            name.removesuffix(".yaml")
            for name in ConfigStore.instance().repo.get("hydra", {}).get("launcher", {})
            if name.removesuffix(".yaml") != launcher
            and field_name in (launcher_fields(name.removesuffix(".yaml")) or ())
        )
        where = f" (but of {', '.join(others)})" if others else ""
        return (
            f"{item!r} is not a setting of the {launcher} launcher{where}: give the settings of one launcher "
            f"on the command line, next to the choice of launcher (hydraflow run ... --add {item}), not in "
            "the job file's `add` when the job also runs with another launcher"
        )
    return None


def _unknown(what: str, name: str, known: Iterable[str], where: str = "") -> str:
    names = list(known)
    msg = f"unknown {what} {name!r}{where}"
    close = close_match(name, names)
    if close:
        msg += f" (did you mean {close!r}?)"
    elif names:
        msg += f" (known: {list_names(names)})"
    return msg


_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"


class _Reader:
    """Walks the composed node tree, turning it into :class:`Job` objects with line-numbered errors.

    Every value must have the type the schema gives it; a message names the key path (``jobs.train.run``)
    and the line: ``run: 5`` is refused, not run as the command ``5``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, message: str, node: yaml.Node | None) -> JobFileError:
        if node is None:
            return JobFileError(message, self.path)
        mark = node.start_mark
        return JobFileError(message, self.path, mark.line + 1, mark.column + 1)

    def mapping(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(f"{what} must be a mapping, got {_describe(node)}", node)
        items: list[tuple[str, yaml.Node, yaml.Node]] = []
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
                raise self.error(
                    f"keys of {what} must be names (strings), got {_describe(key_node)}"
                    + (f"; quote it: '{key_node.value}'" if isinstance(key_node, yaml.ScalarNode) else ""),
                    key_node,
                )
            key = str(key_node.value)
            if key in seen:
                raise self.error(f"duplicate key {key!r} in {what} (first on line {seen[key]})", key_node)
            seen[key] = key_node.start_mark.line + 1
            items.append((key, key_node, value_node))
        return items

    def entries(
        self, node: yaml.Node, what: str, aliases: Mapping[str, str], allowed: Collection[str]
    ) -> Iterator[tuple[str, str, yaml.Node, yaml.Node]]:
        """(key, key as written, key node, value node) of a mapping whose keys have aliases.

        A key outside ``allowed`` and two spellings of one key are errors at the key's line.
        """
        written: dict[str, str] = {}
        for raw_key, k_node, value in self.mapping(node, what):
            key = aliases.get(raw_key, raw_key)
            if key not in allowed:
                raise self.error(_unknown("key", raw_key, allowed, f" in {what}"), k_node)
            if key in written:
                raise self.error(f"{what} has both {written[key]!r} and {raw_key!r} (aliases)", k_node)
            written[key] = raw_key
            yield key, raw_key, k_node, value

    def string(self, node: yaml.Node, what: str) -> str:
        """A string scalar (numbers, booleans, dates and nothing are refused: quote them)."""
        if isinstance(node, yaml.ScalarNode) and node.tag == _STR:
            return str(node.value)
        hint = (
            f"; quote it: '{node.value}'" if isinstance(node, yaml.ScalarNode) and node.tag != _NULL else ""
        )
        raise self.error(f"{what} must be a string, got {_describe(node)}{hint}", node)

    def args(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        """A list of arguments: a string is split like a shell would (quotes group), a list is taken as is."""
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
            return ()
        if isinstance(node, yaml.ScalarNode):
            if node.tag != _STR:
                raise self.error(
                    f"{what} must be a string or a list of strings, got {_describe(node)}; "
                    f"quote it: '{node.value}'",
                    node,
                )
            try:
                return tuple(split_args(str(node.value)))
            except ValueError as exc:
                shown = shorten(str(node.value))
                raise self.error(f"{what}: cannot split {shown} into arguments: {exc}", node) from None
        if isinstance(node, yaml.SequenceNode):
            return tuple(self.string(item, f"{what}[{i}]") for i, item in enumerate(node.value, 1))
        raise self.error(f"{what} must be a string or a list of strings, got {_describe(node)}", node)

    def read(self, root: yaml.Node | None) -> JobFile:
        if root is None:
            raise JobFileError("the job file is empty: expected a top-level 'jobs:' mapping", self.path, 1)
        jobs_node: yaml.Node | None = None
        for key, key_node, value in self.mapping(root, "the job file"):
            if key not in TOP_KEYS:
                raise self.error(f"{_unknown('top-level key', key, TOP_KEYS)}", key_node)
            jobs_node = value
        if jobs_node is None:
            raise self.error("the job file has no 'jobs:' mapping", root)
        if isinstance(jobs_node, yaml.ScalarNode) and jobs_node.tag == _NULL:
            raise self.error("'jobs:' is empty: define at least one job", jobs_node)
        jobs: dict[str, Job] = {}
        for name, key_node, value in self.mapping(jobs_node, "'jobs'"):
            if not _NAME.match(name):
                raise self.error(
                    f"invalid job name {shorten(name)}: use letters, digits, '_', '-' and '.'", key_node
                )
            jobs[name] = self.job(name, key_node, value)
        self.check_needs(jobs)
        self.check_cycles(jobs)
        return JobFile(self.path, jobs)

    def check_needs(self, jobs: dict[str, Job]) -> None:
        """Every ``needs`` entry names another job of the file."""
        names = list(jobs)
        for job in jobs.values():
            for need, line in zip(job.needs, job.needs_lines, strict=True):
                if need not in jobs:
                    msg = f"job {job.name!r} needs {need!r}, which is not defined"
                    close = close_match(need, names)
                    msg += f" (did you mean {close!r}?)" if close else f" (jobs: {list_names(names)})"
                    raise JobFileError(msg, self.path, line)
                if need == job.name:
                    raise JobFileError(f"job {job.name!r} needs itself", self.path, line)

    def check_cycles(self, jobs: dict[str, Job]) -> None:
        """Raise on the first cycle of ``needs`` (reported as ``a -> b -> a`` at the first job's line)."""
        done: set[str] = set()
        for start in jobs:
            if start in done:
                continue
            path: list[str] = []
            on_path: set[str] = set()
            stack: list[tuple[str, int]] = [(start, 0)]
            while stack:
                name, i = stack.pop()
                if i == 0:
                    path.append(name)
                    on_path.add(name)
                needs = jobs[name].needs
                if i < len(needs):
                    stack.append((name, i + 1))
                    nxt = needs[i]
                    if nxt in on_path:
                        cycle = [*path[path.index(nxt) :], nxt]
                        first = jobs[cycle[0]]
                        line = first.needs_lines[first.needs.index(cycle[1])]
                        msg = f"the needs of jobs form a cycle: {' -> '.join(cycle)}"
                        raise JobFileError(msg, self.path, line)
                    if nxt not in done:
                        stack.append((nxt, 0))
                else:
                    path.pop()
                    on_path.discard(name)
                    done.add(name)

    def job(self, name: str, key_node: yaml.Node, node: yaml.Node) -> Job:
        what = f"job {name!r}"
        path = f"jobs.{name}"
        kind: Kind | None = None
        target: tuple[str, ...] = ()
        add: tuple[str, ...] = ()
        needs: tuple[str, ...] = ()
        needs_lines: tuple[int | None, ...] = ()
        sets: tuple[JobSet, ...] = ()
        for key, raw_key, k_node, value in self.entries(node, what, JOB_ALIASES, JOB_KEYS):
            if key in JOB_KINDS:
                if kind is not None:
                    raise self.error(f"{what} has both {kind!r} and {key!r}: use exactly one", k_node)
                kind = key
                target = self.target(key, value, what, f"{path}.{raw_key}")
            elif key == "add":
                add = self.args(value, f"{path}.{raw_key}")
            elif key == "needs":
                needs, needs_lines = self.needs(value, f"{path}.{raw_key}")
            else:
                sets = self.sets(value, what, f"{path}.{raw_key}")
        if kind is None:
            raise self.error(f"{what} needs one of 'run', 'call' or 'submit'", key_node)
        if not sets:
            sets = (JobSet(line=key_node.start_mark.line + 1),)
        return Job(name, kind, target, add, needs, sets, key_node.start_mark.line + 1, needs_lines)

    def target(self, key: str, node: yaml.Node, what: str, path: str) -> tuple[str, ...]:
        if key == "call":
            call = self.string(node, path).strip()
            if not _CALL.match(call):
                msg = f"{path}: 'call' of {what} must be a function path like 'package.module.func', got"
                raise self.error(f"{msg} {shorten(call)}", node)
            return (call,)
        argv = self.args(node, path)
        if not argv:
            raise self.error(f"{path}: {key!r} of {what} is empty: give the command to run", node)
        return argv

    def needs(self, node: yaml.Node, path: str) -> tuple[tuple[str, ...], tuple[int | None, ...]]:
        if isinstance(node, yaml.ScalarNode):
            items, paths = [node], [path]
        elif isinstance(node, yaml.SequenceNode):
            items, paths = node.value, [f"{path}[{i}]" for i in range(1, len(node.value) + 1)]
        else:
            raise self.error(f"{path} must be a job name or a list of job names, got {_describe(node)}", node)
        names: list[str] = []
        lines: list[int | None] = []
        for item, item_path in zip(items, paths, strict=True):
            name = self.string(item, f"{item_path} (a job name)")
            if name in names:
                raise self.error(f"{path} lists {name!r} twice", item)
            names.append(name)
            lines.append(item.start_mark.line + 1)
        return tuple(names), tuple(lines)

    def sets(self, node: yaml.Node, what: str, path: str) -> tuple[JobSet, ...]:
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
            return ()
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(f"{path}: 'sets' of {what} must be a list of sets, got {_describe(node)}", node)
        out = []
        for i, item in enumerate(node.value, 1):
            where = f"set {i} of {what}"
            values: dict[str, tuple[str, ...]] = {}
            for key, raw_key, _, value in self.entries(item, where, SET_ALIASES, SET_KEYS):
                values[key] = self.args(value, f"{path}[{i}].{raw_key}")
            out.append(JobSet(**values, line=item.start_mark.line + 1))
        return tuple(out)


_TYPE_NAMES = {
    "tag:yaml.org,2002:int": "the integer",
    "tag:yaml.org,2002:float": "the number",
    "tag:yaml.org,2002:bool": "the boolean",
    "tag:yaml.org,2002:timestamp": "the date",
}


def _describe(node: yaml.Node) -> str:
    """What a node is, for a message: ``a mapping``, ``the integer 5``, ``nothing``, ``'text'``."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "nothing"
    text = str(node.value)
    if node.tag == "tag:yaml.org,2002:int" and ":" in text:  # YAML 1.1: 1:3 is 1*60 + 3
        value = 0
        for part in text.lstrip("+-").replace("_", "").split(":"):
            value = value * 60 + int(part)
        return f"the base-60 integer {shorten(text, 40)[1:-1]} (YAML 1.1 reads it as {value})"
    if node.tag in _TYPE_NAMES:
        return f"{_TYPE_NAMES[node.tag]} {shorten(text, 40)[1:-1]}"
    return shorten(str(node.value))


def parse_job_file(text: str, path: Path | str = "hydraflow.yaml") -> JobFile:
    """Parse the text of a job file; raise :class:`JobFileError` naming the key, job and line of a problem.

    The YAML is read within limits (size, values, nesting) and with plain tags only: see
    :mod:`hydraflow.jobs.safe_yaml`.
    """
    path = Path(path)
    try:
        root = compose(text)
    except UnsafeYAML as exc:
        raise JobFileError(exc.message, path, exc.line, exc.column) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        raise JobFileError(f"not valid YAML: {exc.problem or exc.context}", path, line, column) from None
    except yaml.YAMLError as exc:
        raise JobFileError(f"not valid YAML: {exc}", path) from None
    return _Reader(path).read(root)
