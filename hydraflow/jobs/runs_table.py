"""The table behind ``hydraflow runs``: one row per run, built by the frame code of :mod:`hydraflow.analysis`.

Columns: the run's id, experiment, status and times, the host it ran on (``hydraflow.host`` tag), every
flattened config key, and the latest value of each metric. Config columns come from
:meth:`RunCollection.values` and every Arrow column from :func:`hydraflow.analysis.frame.column`, exactly as
:meth:`RunCollection.to_arrow` builds them; containers (lists, dicts) are shown, filtered and written to CSV
as JSON text (:func:`~hydraflow.analysis.frame.as_text`) and written to Parquet as list / struct columns.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    import pyarrow as pa

    from hydraflow.analysis import Run, RunCollection

INFO_COLUMNS = ("run_id", "experiment", "status", "start_time", "end_time", "duration", "host")
DEFAULT_INFO = ("run_id", "experiment", "status")
# info columns that give their name up to a config key of the same name (then shown as tags.<tag>)
_YIELDING_INFO = {"host": "tags.hydraflow.host"}

_INFO: dict[str, Callable[[Run[Any, Any]], Any]] = {
    "run_id": lambda run: run.run_id,
    "experiment": lambda run: run.info.experiment_name,
    "status": lambda run: run.info.status,
    "start_time": lambda run: run.info.start_time,
    "end_time": lambda run: run.info.end_time,
    "duration": lambda run: run.info.duration,
    "host": lambda run: run.info.host,  # the hydraflow.host tag: where the run (its last attempt) ran
}
_ABSENT: Any = object()  # a run without this key (never matches a filter; an empty cell)


@dataclass
class RunsTable:
    """The columns of the table (one value per run, None where a run has none) and their kinds."""

    columns: dict[str, list[Any]] = field(default_factory=dict)
    config_keys: list[str] = field(default_factory=list)
    metric_keys: list[str] = field(default_factory=list)
    info_keys: list[str] = field(default_factory=lambda: list(INFO_COLUMNS))

    def __len__(self) -> int:
        """The number of rows (runs)."""
        return len(self.columns.get("run_id", ()))

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows as dicts (column -> value)."""
        return [
            dict(zip(self.columns, values, strict=True))
            for values in zip(*self.columns.values(), strict=True)
        ]

    @property
    def all_columns(self) -> list[str]:
        """Every column: run info, then config keys, then metrics."""
        return [*self.info_keys, *self.config_keys, *self.metric_keys]

    def varying_config_keys(self) -> list[str]:
        """Config keys whose value is not the same in every row (the ones worth showing)."""
        from hydraflow.analysis.values import to_hashable

        return [key for key in self.config_keys if len({to_hashable(v) for v in self.columns[key]}) > 1]

    def default_columns(self) -> list[str]:
        """Run id, experiment, status, the varying config keys and every metric."""
        return [*DEFAULT_INFO, *self.varying_config_keys(), *self.metric_keys]

    def check_columns(self, columns: Sequence[str]) -> None:
        """Raise a clear error for a column that no run has."""
        known = set(self.all_columns)
        missing = [c for c in columns if c not in known]
        if missing:
            import difflib

            hints = []
            for name in missing:
                close = difflib.get_close_matches(name, list(known), n=1)
                hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            msg = f"unknown column {', '.join(hints)}: columns are run info, config keys and metrics"
            raise ValueError(msg)

    def to_arrow(self, columns: Sequence[str] | None = None, *, nested: bool = True) -> pa.Table:
        """The rows as a pyarrow Table (``nested=False``: lists and dicts as JSON text, for CSV)."""
        import pyarrow as pa

        from hydraflow.analysis.frame import column

        names = list(columns) if columns is not None else self.all_columns
        return pa.table({name: column(self.columns[name], nested=nested) for name in names})

    def write_csv(self, path: Path, columns: Sequence[str] | None = None) -> None:
        """Write the rows to a CSV file (containers as JSON text)."""
        import pyarrow.csv as pacsv

        path.parent.mkdir(parents=True, exist_ok=True)
        pacsv.write_csv(self.to_arrow(columns, nested=False), path)

    def write_parquet(self, path: Path, columns: Sequence[str] | None = None) -> None:
        """Write the rows to a Parquet file (containers as list / struct columns)."""
        import pyarrow.parquet as pq

        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(self.to_arrow(columns), path)


def parse_filters(filters: Sequence[str]) -> list[tuple[str, str, Any]]:
    """``key=value`` strings as ``(key, raw text, value read as a YAML scalar)``: ``lr=0.1`` -> 0.1.

    >>> parse_filters(["lr=0.1", "name=a=b", "flag=true"])
    [('lr', '0.1', 0.1), ('name', 'a=b', 'a=b'), ('flag', 'true', True)]
    """
    out = []
    for item in filters:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            msg = f"bad --filter {item!r}: expected KEY=VALUE"
            raise ValueError(msg)
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw
        out.append((key.strip(), raw, value))
    return out


def matches_filter(actual: Any, raw: str, value: Any) -> bool:
    """Whether a cell value matches a ``--filter`` value (``value`` as YAML read it, ``raw`` as typed).

    Numbers compare by value (``lr=0.1`` matches 0.1, ``x=2`` matches 2.0), booleans also by text
    (``flag=True``), anything else by its cell text (containers as JSON).

    >>> matches_filter(2.0, "2", 2), matches_filter(True, "yes", True), matches_filter([1], "[1]", [1])
    (True, True, True)
    >>> matches_filter(1, "true", True), matches_filter(["a"], '["a"]', ["a"]), matches_filter("b", "a", "a")
    (False, True, False)
    """
    from hydraflow.analysis.frame import as_text

    if actual == value and type(actual) is not bool and type(value) is not bool:
        return True
    if isinstance(actual, bool) or isinstance(value, bool):
        return actual is value or str(actual).lower() == raw.strip().lower()
    if isinstance(actual, float) and isinstance(value, (int, float)):
        return math.isclose(actual, value, rel_tol=1e-12, abs_tol=0.0)
    return str(as_text(actual)) == raw


def _columns(runs: RunCollection[Run[Any, Any]]) -> tuple[dict[str, list[Any]], list[str], list[str]]:
    """Every column of every run (:data:`_ABSENT` where a run lacks the key), config keys, metric columns."""
    from hydraflow.analysis.collection import config_keys

    config = [key for key in config_keys(runs) if key not in INFO_COLUMNS or key in _YIELDING_INFO]
    info = {
        (_YIELDING_INFO[name] if name in _YIELDING_INFO and name in config else name): get
        for name, get in _INFO.items()
    }
    metric_names: dict[str, None] = {}
    for run in runs:
        metric_names.update(dict.fromkeys(run.info.metrics))
    taken = {*info, *config}
    metrics = {name if name not in taken else f"metrics.{name}": name for name in metric_names}
    columns: dict[str, list[Any]] = {name: [get(run) for run in runs] for name, get in info.items()}
    for key in config:
        columns[key] = runs.values(key, _ABSENT)
    for name in sorted(metrics):
        columns[name] = [run.info.metrics.get(metrics[name], _ABSENT) for run in runs]
    return columns, config, sorted(metrics)


def load_table(
    experiment: str | None,
    *,
    tracking_uri: str | None = None,
    filters: Sequence[str] = (),
) -> RunsTable:
    """Load the runs of ``experiment`` (name or glob; None: all); keep those matching every filter.

    Raises:
        ValueError: A filter is not ``KEY=VALUE`` or names a column no run has; no experiment of the
            store matches ``experiment``.
    """
    from hydraflow.analysis import Run, iter_run_dirs

    parsed = parse_filters(filters)
    names = _Names(experiment)
    runs: RunCollection[Run[Any, Any]] = Run.load(
        list(iter_run_dirs(names, tracking_uri=tracking_uri)), tracking_uri=tracking_uri
    )
    if experiment is not None and not names.matched:
        known = sorted(names.seen)
        listed = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")  # noqa: PLR2004
        msg = f"no experiment {experiment!r} in the store " + (
            f"(its experiments: {listed})" if known else "(it has no experiments)"
        )
        raise ValueError(msg)
    columns, config, metrics = _columns(runs)
    table = RunsTable(columns, config, metrics, [name for name in columns if name not in {*config, *metrics}])
    if runs:
        table.check_columns([key for key, _, _ in parsed])
    keep = [
        all(
            (v := columns[key][i]) is not _ABSENT and matches_filter(v, raw, value)
            for key, raw, value in parsed
        )
        for i in range(len(runs))
    ]
    table.columns = {
        name: [None if v is _ABSENT else v for v, k in zip(values, keep, strict=True) if k]
        for name, values in columns.items()
    }
    return table


class _Names:
    """An experiment-name predicate (a name or :mod:`fnmatch` pattern; None: all) that notes what it saw."""

    def __init__(self, pattern: str | None) -> None:
        self.pattern = pattern
        self.seen: set[str] = set()
        self.matched = False

    def __call__(self, name: str) -> bool:
        self.seen.add(name)
        ok = self.pattern is None or fnmatch.fnmatchcase(name, self.pattern)
        self.matched = self.matched or ok
        return ok


def format_cell(value: Any) -> str:
    """A short text for a table cell (containers as JSON).

    >>> format_cell(0.123456789), format_cell(None), format_cell(["a", 1])
    ('0.123457', '', '["a", 1]')
    """
    from hydraflow.analysis.frame import as_text

    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return str(as_text(value))
