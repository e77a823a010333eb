"""Arrow columns from Python values, and conversion of Arrow tables to pandas / polars."""

from __future__ import annotations

import json
from datetime import date, datetime
from enum import Enum
from typing import Any

import pyarrow as pa


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Enum):  # a typed config's enum field: its name, as the YAML file has it
        return value.name
    if isinstance(value, (dict, list, tuple)):
        try:
            return json.dumps(value, default=str, sort_keys=True)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def column(values: list[Any]) -> pa.Array:
    """One Arrow array for a column of Python values (None is null).

    Ints and floats mixed give floats; lists give list arrays and dicts struct arrays when their items agree;
    anything else that does not fit one type becomes a string column (containers as JSON text).
    """
    try:
        return pa.array(values, from_pandas=False)
    except (
        pa.ArrowInvalid,
        pa.ArrowTypeError,
        pa.ArrowNotImplementedError,
        TypeError,
        ValueError,
        OverflowError,
    ):
        pass
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        try:
            return pa.array([None if v is None else float(v) for v in values], pa.float64())
        except OverflowError:
            pass
    if present and all(isinstance(v, (datetime, date)) for v in present):
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    return pa.array([_as_text(v) for v in values], pa.string())


def convert(table: pa.Table, backend: str) -> Any:
    """An Arrow table as ``"arrow"`` (itself), ``"pandas"`` or ``"polars"``.

    Raises:
        ValueError: Unknown backend.
    """
    if backend == "arrow":
        return table
    if backend == "pandas":
        import pandas as pd

        # nullable dtypes keep integer columns with nulls as integers
        return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}.get)
    if backend == "polars":
        import polars as pl

        return pl.from_arrow(table)
    msg = f"unknown frame backend {backend!r}: use 'arrow', 'pandas' or 'polars'"
    raise ValueError(msg)
