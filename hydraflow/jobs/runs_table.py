"""The table behind ``hydraflow runs``: runs from the store as rows, built on :mod:`hydraflow.analysis`.

A row holds the run's id, experiment and status, its flattened config and the latest value of each metric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    import pyarrow as pa

INFO_COLUMNS = ("run_id", "experiment", "status", "start_time", "end_time", "duration")
DEFAULT_INFO = ("run_id", "experiment", "status")


@dataclass
class RunsTable:
    """Rows of runs, the columns to show, and the names of config and metric columns."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    config_keys: list[str] = field(default_factory=list)
    metric_keys: list[str] = field(default_factory=list)

    @property
    def all_columns(self) -> list[str]:
        """Every column: run info, then config keys, then metrics."""
        return [*INFO_COLUMNS, *self.config_keys, *self.metric_keys]

    def varying_config_keys(self) -> list[str]:
        """Config keys whose value is not the same in every row (the ones worth showing)."""
        out = []
        for key in self.config_keys:
            seen = {_hashable(row.get(key)) for row in self.rows}
            if len(seen) > 1:
                out.append(key)
        return out

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

    def to_arrow(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The rows as a pyarrow Table (a column of mixed types becomes strings)."""
        import pyarrow as pa

        names = list(columns) if columns is not None else self.all_columns
        arrays = {}
        for name in names:
            values = [_plain(row.get(name)) for row in self.rows]
            try:
                arrays[name] = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                arrays[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
        return pa.table(arrays)

    def write_csv(self, path: Path, columns: Sequence[str] | None = None) -> None:
        """Write the rows to a CSV file."""
        import pyarrow.csv as pacsv

        path.parent.mkdir(parents=True, exist_ok=True)
        pacsv.write_csv(self.to_arrow(columns), path)

    def write_parquet(self, path: Path, columns: Sequence[str] | None = None) -> None:
        """Write the rows to a Parquet file."""
        import pyarrow.parquet as pq

        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(self.to_arrow(columns), path)


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def _plain(value: Any) -> Any:
    """Lists and dicts of a config become their YAML flow text in a table cell."""
    if isinstance(value, (list, dict)):
        return yaml.safe_dump(value, default_flow_style=True, width=10**9).strip()
    return value


def parse_filters(filters: Sequence[str]) -> list[tuple[str, str, Any]]:
    """``key=value`` strings as ``(key, raw text, value read as a YAML scalar)``: ``lr=0.1`` -> 0.1."""
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


def _matches(row: dict[str, Any], key: str, raw: str, value: Any) -> bool:
    if key not in row:
        return False
    actual = row[key]
    if actual == value and type(actual) is not bool and type(value) is not bool:
        return True
    if isinstance(actual, bool) or isinstance(value, bool):
        return actual is value or str(actual).lower() == raw.strip().lower()
    if isinstance(actual, float) and isinstance(value, (int, float)):
        return math.isclose(actual, value, rel_tol=1e-12, abs_tol=0.0)
    return str(_plain(actual)) == raw


def load_table(
    experiment: str | None,
    *,
    tracking_uri: str | None = None,
    filters: Sequence[str] = (),
) -> RunsTable:
    """Load the runs of ``experiment`` (name or glob; None: all); keep those matching every filter."""
    from hydraflow.analysis import Run, RunCollection, iter_run_dirs
    from hydraflow.tracking import register_resolver

    register_resolver()  # configs may hold ${hydraflow.id:...}: show the ids, not the interpolation text

    parsed = parse_filters(filters)
    runs: RunCollection[Run[Any, Any]] = Run.load(
        iter_run_dirs(experiment, tracking_uri=tracking_uri), tracking_uri=tracking_uri
    )
    table = RunsTable()
    config_keys: dict[str, None] = {}
    metric_keys: dict[str, None] = {}
    for run in runs:
        info = run.info
        config = run.to_dict()
        row: dict[str, Any] = {
            "run_id": run.run_id,
            "experiment": info.experiment_name,
            "status": info.status,
            "start_time": info.start_time,
            "end_time": info.end_time,
            "duration": info.duration,
        }
        for key, value in config.items():
            if key not in INFO_COLUMNS:
                row[key] = value
                config_keys.setdefault(key)
        for name, value in info.metrics.items():
            column = name if name not in config and name not in INFO_COLUMNS else f"metrics.{name}"
            row[column] = value
            metric_keys.setdefault(column)
        if all(_matches(row, key, raw, value) for key, raw, value in parsed):
            table.rows.append(row)
    table.config_keys = list(config_keys)
    table.metric_keys = sorted(metric_keys)
    if table.rows or runs:
        table.check_columns([key for key, _, _ in parsed])
    return table


def format_cell(value: Any) -> str:
    """A short text for a table cell."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return str(_plain(value))
