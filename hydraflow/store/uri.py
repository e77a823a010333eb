"""Tracking URIs: which kind of MLflow store a URI names, and where its files are on this machine.

Every part of hydraflow that needs to know "what store is this" asks :func:`parse_store`:

>>> parse_store("sqlite:////data/mlflow.db")
StoreRef(kind='sqlite', uri='sqlite:////data/mlflow.db', path=PosixPath('/data/mlflow.db'))
>>> parse_store("file:///data/mlruns").kind, parse_store("/data/mlruns").path
('file', PosixPath('/data/mlruns'))
>>> [parse_store(u).kind for u in ("http://host:5000", "postgresql://u@db/mlflow", "databricks", "x-y://z")]
['server', 'sql', 'databricks', 'other']

This module does not import MLflow: when MLflow is already imported, its active tracking URI is asked for.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "StoreKind",
    "StoreRef",
    "absolute_uri",
    "local_path",
    "parse_store",
    "resolve_tracking_uri",
    "run_dir_of_artifact_uri",
    "sqlite_path",
]

StoreKind = Literal["file", "sqlite", "sql", "server", "databricks", "other"]
"""``file``: an MLflow file store (``./mlruns``); ``sqlite``: a sqlite database file; ``sql``: another
database MLflow reaches through SQLAlchemy (PostgreSQL, MySQL, MSSQL); ``server``: an ``mlflow server`` over
HTTP(S); ``databricks``; ``other``: a scheme of an MLflow tracking-store plugin."""

_SQL_DIALECTS = frozenset({"postgresql", "mysql", "mssql"})


@dataclass(frozen=True)
class StoreRef:
    """A tracking URI resolved: its kind and, for the local kinds, its path.

    Attributes:
        kind: See :data:`StoreKind`.
        uri: The tracking URI as given (or as resolved by :func:`resolve_tracking_uri`).
        path: The file store's root directory, or the sqlite database file (absolute); None for the other
            kinds and for an in-memory sqlite database.
    """

    kind: StoreKind
    uri: str
    path: Path | None = None

    @property
    def is_local(self) -> bool:
        """True when the store is read from files on this machine (a file store or a sqlite database file)."""
        return self.path is not None


def local_path(uri: str | None) -> Path | None:
    """The local filesystem path of a ``file:`` URI or a plain path; None for other URIs.

    >>> local_path("file:///a/b%20c"), local_path("runs/mlruns"), local_path("s3://bucket/x")
    (PosixPath('/a/b c'), PosixPath('runs/mlruns'), None)
    >>> local_path("mlflow-artifacts:/1/abc/artifacts") is None
    True
    """
    if not uri:
        return None
    scheme = urlparse(uri).scheme
    if scheme == "file":
        return Path(url2pathname(urlparse(uri).path))
    if scheme == "" or len(scheme) == 1:  # a plain path; a one-letter "scheme" is a Windows drive (C:\runs)
        return Path(uri)
    return None


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:`` URI, absolute (None for other URIs and in-memory databases).

    ``sqlite:///rel.db`` is relative to the working directory, ``sqlite:////abs.db`` absolute (SQLAlchemy's
    rules); a ``?query`` is not part of the path.

    >>> sqlite_path("sqlite:////data/mlflow.db?timeout=30"), sqlite_path("sqlite://"), sqlite_path("/x.db")
    (PosixPath('/data/mlflow.db'), None, None)
    """
    if not uri.startswith("sqlite:"):
        return None
    rest = uri[len("sqlite:") :].split("?", 1)[0]
    rest = rest[3:] if rest.startswith("///") else rest.lstrip("/")
    rest = unquote(rest)
    if not rest or rest == ":memory:":
        return None
    return Path(rest).resolve()


def parse_store(tracking_uri: str | os.PathLike[str] | None = None) -> StoreRef:
    """Resolve a tracking URI (default: :func:`resolve_tracking_uri`) into a :class:`StoreRef`."""
    uri = resolve_tracking_uri(tracking_uri)
    scheme = urlparse(uri).scheme.lower()
    if scheme == "sqlite":
        return StoreRef("sqlite", uri, sqlite_path(uri))
    if scheme.split("+", 1)[0] in _SQL_DIALECTS:
        return StoreRef("sql", uri)
    if scheme in {"http", "https"}:
        return StoreRef("server", uri)
    if uri == "databricks" or scheme.startswith("databricks"):
        return StoreRef("databricks", uri)
    path = local_path(uri)
    if path is not None:
        return StoreRef("file", uri, path)
    return StoreRef("other", uri)


def _has_mlruns_data(root: Path) -> bool:
    try:
        with os.scandir(root) as entries:
            return any(
                e.is_dir() and e.name.isdigit() and (Path(e.path) / "meta.yaml").exists() for e in entries
            )
    except OSError:
        return False


def resolve_tracking_uri(tracking_uri: str | os.PathLike[str] | None = None) -> str:
    """The tracking URI to use: the argument, else MLflow's active one, without importing MLflow.

    When MLflow is already imported, :func:`mlflow.get_tracking_uri` is asked (so
    ``mlflow.set_tracking_uri`` is honoured); otherwise ``MLFLOW_TRACKING_URI`` and then MLflow's own default
    (``./mlruns`` if it holds a file store, else ``sqlite:///mlflow.db`` in the working directory).
    """
    if tracking_uri is not None:
        return os.fspath(tracking_uri)
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None and hasattr(mlflow, "get_tracking_uri"):
        return str(mlflow.get_tracking_uri())
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    if _has_mlruns_data(Path("mlruns")):
        return Path("mlruns").resolve().as_uri()
    return f"sqlite:///{Path('mlflow.db').resolve()}"


def absolute_uri(uri: str) -> str:
    """``uri`` with a relative sqlite / file / plain path made absolute (against the working directory).

    >>> absolute_uri("http://host:5000"), absolute_uri("sqlite:////a/b.db?timeout=5")
    ('http://host:5000', 'sqlite:////a/b.db?timeout=5')
    """
    store = parse_store(uri)
    if store.kind == "sqlite" and store.path is not None:
        query = uri.split("?", 1)[1] if "?" in uri else ""
        return f"sqlite:///{store.path}" + (f"?{query}" if query else "")
    if store.kind == "file" and store.path is not None and not store.path.is_absolute():
        return store.path.resolve().as_uri()
    return uri


def run_dir_of_artifact_uri(artifact_uri: str | None) -> Path | None:
    """A run's directory from its artifact URI (``<run dir>/artifacts``), when the artifacts are local.

    >>> run_dir_of_artifact_uri("file:///s/1/abc/artifacts"), run_dir_of_artifact_uri("mlflow-artifacts:/1")
    (PosixPath('/s/1/abc'), None)
    """
    local = local_path(artifact_uri)
    if local is None:
        return None
    return local.parent if local.name == "artifacts" else local


@contextlib.contextmanager
def working_dir(path: Path) -> Iterator[Path]:
    """Work inside ``path`` for the block (``contextlib.chdir`` of Python 3.11, for 3.10 too); yields it.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp, working_dir(Path(tmp)) as where:
    ...     Path.cwd().samefile(where)
    True
    """
    old = Path.cwd()
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(old)
