"""What a store error means, decided by exception types and error codes (never by message text).

MLflow wraps the errors of its stores: a sqlite error reaches the caller as an ``MlflowException`` raised
``from`` SQLAlchemy's error, whose ``orig`` is the :mod:`sqlite3` error; an ``mlflow server`` answers with an
error code (``RestException.error_code``). :func:`causes` walks that chain; the predicates look at the types
and codes found in it. MLflow is never imported here: when an MLflow exception exists, MLflow is loaded.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import sys
import time
from typing import TYPE_CHECKING, Any, TypeVar

from hydraflow import settings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "StoreAccessError",
    "StoreError",
    "StoreRequestError",
    "StoreUnavailableError",
    "causes",
    "is_already_exists",
    "is_not_found",
    "is_transient",
    "mlflow_error_code",
    "retry",
    "store_errors",
]

log = logging.getLogger("hydraflow")

T = TypeVar("T")

# sqlite primary result codes (https://sqlite.org/rescode.html) of a busy or briefly unavailable database
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_IOERR, _SQLITE_CANTOPEN = 5, 6, 10, 14
_SQLITE_TRANSIENT = frozenset({_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_IOERR, _SQLITE_CANTOPEN})
# Python 3.10's sqlite3 errors carry no result code: sqlite's own fixed text for the same codes
# (sqlite3_errstr), the only way to tell them apart there.
_SQLITE_TRANSIENT_TEXT = (
    "database is locked",
    "database table is locked",
    "disk i/o error",
    "unable to open database file",
)
# error codes (mlflow.protos.databricks_pb2.ErrorCode names) an MLflow server sends for a passing condition
_SERVER_TRANSIENT = frozenset({"TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"})


class StoreError(RuntimeError):
    """A tracking store cannot be used; the message is one line that names the store's URI and the problem.

    Attributes:
        uri: The store's URI as shown to the user (credentials removed).
    """

    def __init__(self, message: str, uri: str) -> None:
        """An error of the store at ``uri``."""
        super().__init__(message)
        self.uri = uri


class StoreUnavailableError(StoreError):
    """The store cannot be reached: connection refused, unknown host, or still failing after the retries."""


class StoreAccessError(StoreError):
    """The store (or an authentication proxy in front of it) refused the request: HTTP 401 or 403."""


class StoreRequestError(StoreError):
    """The store answered a request with an error (an unknown experiment, a missing artifact...).

    Attributes:
        status: The HTTP status.
        error_code: MLflow's error code (``RESOURCE_DOES_NOT_EXIST``...), or None.
    """

    def __init__(self, message: str, uri: str, status: int, error_code: str | None) -> None:
        """An error answer ``status`` / ``error_code`` of the store at ``uri``."""
        super().__init__(message, uri)
        self.status = status
        self.error_code = error_code


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it was raised from or during (``__cause__``, ``__context__``, ``orig``).

    >>> try:
    ...     try:
    ...         raise KeyError("inner")
    ...     except KeyError as e:
    ...         raise ValueError("outer") from e
    ... except ValueError as e:
    ...     [type(c).__name__ for c in causes(e)]
    ['ValueError', 'KeyError']
    """
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = (getattr(current, "orig", None), current.__cause__, current.__context__)
        todo.extend(e for e in linked if isinstance(e, BaseException))


def _mlflow_exception_type() -> type[BaseException] | None:
    module = sys.modules.get("mlflow.exceptions")
    found = getattr(module, "MlflowException", None)
    return found if isinstance(found, type) else None


def mlflow_error_code(exc: BaseException) -> str | None:
    """The ``error_code`` of the first ``MlflowException`` in the chain of ``exc`` (None without one)."""
    mlflow_exc = _mlflow_exception_type()
    if mlflow_exc is None:
        return None
    for cause in causes(exc):
        if isinstance(cause, mlflow_exc):
            code = getattr(cause, "error_code", None)
            return code if isinstance(code, str) else None
    return None


def store_errors(*extra: type[BaseException]) -> tuple[type[BaseException], ...]:
    """The exception types that mean "this store cannot be read" (and ``extra``): for an ``except``.

    :class:`OSError` (a missing file or directory, no permission, a network file system error),
    :class:`sqlite3.Error` (not an MLflow database), :class:`StoreError` (a server that cannot be reached or
    refuses the request) and, once MLflow is loaded, ``MlflowException`` (an error MLflow's own client
    raised). Programming errors are none of these.

    >>> OSError in store_errors()
    True
    """
    mlflow_exc = _mlflow_exception_type()
    return (*extra, OSError, sqlite3.Error, StoreError) + ((mlflow_exc,) if mlflow_exc is not None else ())


def _sqlite_error(exc: BaseException) -> sqlite3.Error | None:
    return next((c for c in causes(exc) if isinstance(c, sqlite3.Error)), None)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a passing condition of a busy store, worth retrying.

    A sqlite error in the chain decides by its result code (busy, locked, I/O error, cannot open: lock
    contention and schema creation racing on a fresh file); without one, an MLflow error code that a server
    uses for "try again" (``TEMPORARILY_UNAVAILABLE``, ``REQUEST_LIMIT_EXCEEDED``).

    >>> is_transient(sqlite3.OperationalError("no such table: runs")), is_transient(ValueError("x"))
    (False, False)
    """
    error = _sqlite_error(exc)
    if error is not None:
        code = getattr(error, "sqlite_errorcode", None)
        if code is None:  # Python 3.10
            return str(error).lower().startswith(_SQLITE_TRANSIENT_TEXT)
        return bool(code & 0xFF in _SQLITE_TRANSIENT)
    return mlflow_error_code(exc) in _SERVER_TRANSIENT


def is_already_exists(exc: BaseException) -> bool:
    """Whether ``exc`` says the thing being created exists already (another job created it first).

    MLflow's ``RESOURCE_ALREADY_EXISTS``, or a database integrity error (a UNIQUE constraint) in the chain.
    """
    if mlflow_error_code(exc) == "RESOURCE_ALREADY_EXISTS":
        return True
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    integrity: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)
    if sqlalchemy_exc is not None:
        integrity += (sqlalchemy_exc.IntegrityError,)
    return any(isinstance(c, integrity) for c in causes(exc))


def is_not_found(exc: BaseException) -> bool:
    """Whether ``exc`` says the thing asked for does not exist (``RESOURCE_DOES_NOT_EXIST``, no file)."""
    if isinstance(exc, StoreRequestError):
        return exc.error_code == "RESOURCE_DOES_NOT_EXIST" or exc.status == 404  # noqa: PLR2004
    return isinstance(exc, FileNotFoundError) or mlflow_error_code(exc) == "RESOURCE_DOES_NOT_EXIST"


def retry(fn: Callable[..., T], *args: Any, what: str = "", **kwargs: Any) -> T:
    """Call ``fn(*args, **kwargs)``, retrying :func:`is_transient` errors with jittered exponential backoff.

    Gives up after ``HYDRAFLOW_STORE_RETRY_SECONDS`` (default 120) and raises the last error. MLflow already
    sets ``PRAGMA busy_timeout = 20000`` on sqlite; this covers what still escapes it (lock upgrades that
    sqlite refuses immediately, schema creation racing on a fresh file).
    """
    delay = 0.05
    deadline = time.monotonic() + settings.store_retry_seconds()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # re-raised below unless is_transient() (a typed check) says retry
            if not is_transient(exc) or time.monotonic() >= deadline:
                raise
            log.debug("hydraflow: %s failed (%s), retry %d in %.2fs", what or fn, exc, attempt, delay)
            time.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not crypto
            delay = min(delay * 2, 2.0)
