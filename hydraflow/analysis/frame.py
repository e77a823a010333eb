"""Arrow columns from Python values, and conversion of Arrow tables to pandas / polars.

The one tabulation path of hydraflow: :meth:`RunCollection.to_arrow`, :meth:`GroupBy.agg` and the table of
``hydraflow runs`` (:mod:`hydraflow.jobs.runs_table`) all build their columns with :func:`column`, and write
containers as text with :func:`as_text`.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa

if TYPE_CHECKING:
    import polars as pl


def as_text(value: Any) -> str | None:
    """A value as the text a string column holds: containers as JSON (sorted keys), an Enum by its name.

    >>> as_text({"b": [1, "x"], "a": None}), as_text(0.5), as_text(None)
    ('{"a": null, "b": [1, "x"]}', '0.5', None)
    """
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


def column(values: list[Any], *, nested: bool = True) -> pa.Array:
    """One Arrow array for a column of Python values (None is null).

    Ints and floats mixed give floats; lists give list arrays and dicts struct arrays when their items agree
    (with ``nested=False``: JSON text, for formats without nested types such as CSV); anything else that does
    not fit one type becomes a string column (containers as JSON text, see :func:`as_text`).

    >>> column([1, 2.5, None]).type, column([[1], [2, 3]]).type, column([[1], {"a": 1}, "x"]).to_pylist()
    (DataType(double), ListType(list<item: int64>), ['[1]', '{"a": 1}', 'x'])
    >>> column([[1], None], nested=False).to_pylist()
    ['[1]', None]
    """
    if not nested:
        values = [as_text(v) if isinstance(v, (dict, list, tuple)) else v for v in values]
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
    return pa.array([as_text(v) for v in values], pa.string())


_PLAIN = (str, int, float, bool, list, tuple, dict, datetime, date, Enum, PurePath, bytes, Decimal)


def is_opaque(values: list[Any]) -> bool:
    """Whether a column holds objects that only a polars ``Object`` column keeps (runs, configs, models).

    >>> is_opaque([1, None, [2]]), is_opaque([object()])
    (False, True)
    """
    return any(v is not None and not isinstance(v, _PLAIN) for v in values)


def polars_frame(columns: dict[str, list[Any]]) -> Any:
    """A polars DataFrame of the columns: through Arrow (:func:`column`), objects in ``Object`` columns."""
    import polars as pl

    opaque = {name for name, values in columns.items() if is_opaque(values)}
    if not opaque:
        table = pa.table({name: column(values) for name, values in columns.items()})
        return pl.from_arrow(table) if columns else pl.DataFrame()
    series = [
        pl.Series(name, values, dtype=pl.Object)
        if name in opaque
        else cast("pl.Series", pl.from_arrow(column(values))).alias(name)
        for name, values in columns.items()
    ]
    return pl.DataFrame(series)


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
