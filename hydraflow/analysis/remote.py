r"""Runs whose artifacts are not on this machine: their files fetched on demand into a local cache, by run id.

A run of an ``mlflow server`` with proxied artifacts (``mlflow-artifacts:/...``, MLflow's default), or of any
store whose artifacts live in S3, GCS, Azure, HDFS..., gets a run directory in the cache
(``HYDRAFLOW_ARTIFACT_CACHE_DIR``, default ``~/.cache/hydraflow/artifacts``)::

    <cache>/<host>-<hash of the tracking URI>/   .hydraflow-store.json: the tracking URI, no credentials
        <experiment id>/                          .hydraflow-fetched.json: the configs fetched, per run
            <run id>/artifacts/.hydra/config.yaml fetched by Run.load, concurrently
            <run id>/artifacts/...                fetched by run.path(...) when first asked for
            <run id>/.hydraflow-run.json          which paths run.path(...) fetched, for which run state

so that everything else in :mod:`hydraflow.analysis` (the config loader, the Parquet index, ``impl_factory``)
sees local files. What was fetched is kept per run, with the run's state at the time: its status and end
time. A run that has ended (FINISHED, FAILED, KILLED) is fetched once; if it is ever resumed, its end time
changes and its files are fetched again. A run that has not ended (RUNNING, SCHEDULED) may still change, so
its files are fetched again on every load. A second load of the same finished runs therefore reads local files
only (plus the listing from the server).

Configs are fetched in a pool of ``HYDRAFLOW_FETCH_THREADS`` threads (default 8). Proxied artifacts are read
through the server's REST API with hydraflow's retry policy (:mod:`hydraflow.store.server`); other artifact
URIs through MLflow's artifact repositories (``mlflow.artifacts.download_artifacts``). A server that fails
while fetching stops the whole load with a :class:`~hydraflow.store.errors.StoreError`: runs are never
silently dropped because their store failed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from hydraflow import settings
from hydraflow.store.errors import StoreError, StoreUnavailableError, is_not_found
from hydraflow.store.server import display_uri
from hydraflow.store.uri import parse_store

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from hydraflow.analysis.info import RunInfo

__all__ = [
    "CONFIG",
    "cache_root",
    "ensure",
    "is_remote",
    "prefetch",
    "read_infos",
    "remember",
    "run_dir",
    "safe_uri",
    "store_uri",
    "take_info",
]

CONFIG = ".hydra/config.yaml"
MARKER = ".hydraflow-store.json"
MANIFEST = ".hydraflow-fetched.json"
RUN_STATE = ".hydraflow-run.json"
_ENDED = frozenset({"FINISHED", "FAILED", "KILLED"})

_lock = threading.Lock()
_uris: dict[Path, str] = {}  # cache root -> the tracking URI as given (credentials included)
_infos: dict[Path, RunInfo] = {}  # run dir -> info from the latest listing in this process
# experiment dir (as a string) -> its cache root, None when it is not in the cache: every run of a load is
# asked about, so the answer is kept per experiment (cleared when cache_root() registers a store)
_roots: dict[str, Path | None] = {}


# ------------------------------------------------------------------------------------------------ layout


def safe_uri(uri: str) -> str:
    """The tracking URI without credentials (user info and query), for the marker file and messages.

    >>> safe_uri("postgresql://mlflow:secret@db:5432/mlflow?sslmode=require")
    'postgresql://db:5432/mlflow'
    """
    if parse_store(uri).kind == "server":
        return display_uri(uri)
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def cache_root(uri: str) -> Path:
    """The cache directory of the store ``uri`` (created, with its marker file, on first use).

    >>> cache_root.__doc__ is not None
    True
    """
    safe = safe_uri(uri)
    host = urlsplit(safe).netloc or urlsplit(safe).scheme or "store"
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", host)[:40]
    digest = hashlib.sha256(safe.encode()).hexdigest()[:12]
    root = settings.artifact_cache_dir() / f"{slug}-{digest}"
    with _lock:
        _uris[root] = uri
        _roots.clear()
    marker = root / MARKER
    if not marker.is_file():
        root.mkdir(parents=True, exist_ok=True)
        _write_json(marker, {"tracking_uri": safe})
    return root


def run_dir(root: Path, experiment_id: str, run_id: str) -> Path:
    """The cache directory of one run."""
    return root / experiment_id / run_id


@lru_cache(maxsize=1024)
def _root_marker(root: Path) -> str | None:
    try:
        data = json.loads((root / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    uri = data.get("tracking_uri") if isinstance(data, dict) else None
    return str(uri) if uri else None


def _root_of(run_dir: Path) -> Path | None:
    exp = os.path.dirname(os.fspath(run_dir))  # noqa: PTH120 - once per run of every load: no pathlib
    try:
        return _roots[exp]
    except KeyError:
        pass
    root: Path | None = Path(exp).parent
    if root not in _uris and _root_marker(root) is None:
        root = None
    _roots[exp] = root
    return root


def is_remote(run_dir: Path) -> bool:
    """Whether ``run_dir`` is a cache directory of a run whose artifacts are elsewhere."""
    return _root_of(run_dir) is not None


def store_uri(run_dir: Path) -> str | None:
    """The tracking URI a cache run directory belongs to (None for other directories)."""
    root = _root_of(run_dir)
    if root is None:
        return None
    return _uris.get(root) or _root_marker(root)


def read_infos(uri: str, dirs: list[Path]) -> dict[Path, RunInfo]:
    """Read the info of runs ``dirs`` from their store ``uri`` (a server's REST API, else MLflow's client)."""
    from hydraflow.analysis.readers import client, server

    reader: Any = server if parse_store(uri).kind == "server" else client
    found: dict[str, RunInfo] = reader.read_infos(uri, {d.name: d for d in dirs})
    return {info.run_dir: info for info in found.values()}


def remember(run_dir: Path, info: RunInfo) -> None:
    """Keep the info a listing found for ``run_dir`` (what to fetch, and ``run.info`` without a new query)."""
    _infos[run_dir] = info


def take_info(run_dir: Path) -> RunInfo | None:
    """The info remembered for ``run_dir``, forgotten now (a later load of the same runs asks again)."""
    return _infos.pop(run_dir, None)


# ------------------------------------------------------------------------------------------------ files


def _write_bytes(path: Path, data: bytes) -> None:
    """Write atomically: a concurrent reader (another process loading the same runs) sees all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


def _write_json(path: Path, data: Any) -> None:
    _write_bytes(path, json.dumps(data, separators=(",", ":")).encode())


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _stamp(info: RunInfo) -> str | None:
    """The state that a run's fetched files belong to; None while the run may still change them."""
    if info.status not in _ENDED or info.end_time is None:
        return None
    return f"{info.status}:{int(info.end_time.timestamp() * 1000)}"


@contextlib.contextmanager
def _locked(path: Path) -> Any:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _update_manifest(exp_dir: Path, changes: dict[str, list[Any] | None]) -> None:
    """Merge ``changes`` (run id -> [stamp, has config], or None to forget) into the experiment's manifest."""
    path = exp_dir / MANIFEST
    with _locked(exp_dir / f"{MANIFEST}.lock"):
        manifest = _read_json(path)
        for rid, entry in changes.items():
            if entry is None:
                manifest.pop(rid, None)
            else:
                manifest[rid] = entry
        _write_json(path, manifest)


# ------------------------------------------------------------------------------------------------ fetching


def _mlflow_artifacts_path(artifact_uri: str) -> str:
    return urlsplit(artifact_uri).path.lstrip("/")


def _artifact_server(uri: str, artifact_uri: str) -> str:
    """The base URI serving an ``mlflow-artifacts:`` URI, resolved as MLflow does.

    Its own host if it names one, else the tracking server's; scheme and path prefix from the tracking URI.

    >>> _artifact_server("https://h:5000/p", "mlflow-artifacts:/1/r/artifacts")
    'https://h:5000/p'
    >>> _artifact_server("http://h:5000", "mlflow-artifacts://art:8000/1/r/artifacts")
    'http://art:8000'
    """
    track = urlsplit(uri)
    art = urlsplit(artifact_uri)
    return urlunsplit((track.scheme, art.netloc or track.netloc, track.path, "", ""))


def _fetch(uri: str, artifact_uri: str, relative: str) -> bytes | None:
    """One artifact file's content; None when the run has no such file.

    Raises:
        StoreError: The store cannot be read.
    """
    from hydraflow.analysis.readers import server

    if artifact_uri.startswith("mlflow-artifacts:") and parse_store(uri).kind == "server":
        srv = server.client(_artifact_server(uri, artifact_uri))
        try:
            return srv.artifact_bytes(f"{_mlflow_artifacts_path(artifact_uri)}/{relative}")
        except StoreError as exc:
            if is_not_found(exc):
                return None
            raise
    with tempfile.TemporaryDirectory(prefix="hydraflow-fetch-") as tmp:
        local = _download_with_mlflow(uri, artifact_uri, relative, Path(tmp))
        return None if local is None else local.read_bytes()


def _download_with_mlflow(uri: str, artifact_uri: str, relative: str, dst: Path) -> Path | None:
    """Download ``relative`` (a file or a directory) of a run through MLflow's artifact repositories."""
    import mlflow.artifacts

    source = f"{artifact_uri.rstrip('/')}/{relative}" if relative else artifact_uri
    try:
        return Path(
            mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(dst), tracking_uri=uri)
        )
    except Exception as exc:  # noqa: BLE001 - each artifact repository raises its own types: sorted below
        if is_not_found(exc):
            return None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = f"cannot download {source} (tracking store {safe_uri(uri)}): {first}"
        raise StoreUnavailableError(msg, safe_uri(uri)) from None


def _parallel(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    """``[fn(i) for i in items]`` in the fetch pool; the first error stops the rest and is raised."""
    todo = list(items)
    if len(todo) <= 1:
        return [fn(i) for i in todo]
    stop = threading.Event()

    def guarded(item: Any) -> Any:
        if stop.is_set():
            return None
        return fn(item)

    pool = ThreadPoolExecutor(min(settings.fetch_threads(), len(todo)), thread_name_prefix="hydraflow-fetch")
    try:
        futures = [pool.submit(guarded, i) for i in todo]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for f in done:
            if f.exception() is not None:
                stop.set()
                raise f.exception()  # type: ignore[misc]
        return [f.result() for f in futures]
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def prefetch(dirs: Iterable[Path]) -> dict[Path, str]:
    """Make sure the Hydra config of every remote run among ``dirs`` is in the cache.

    Runs no listing of this process saw are looked up in their store first (a cache directory names it).

    Args:
        dirs: Run directories; those that are not cache directories are left alone.

    Returns:
        Why a run has no config: ``{run dir: message}`` (the run has no ``.hydra/config.yaml`` artifact, or
        the store does not know the run).

    Raises:
        StoreError: The store or its artifact store cannot be read.
    """
    groups: dict[Path, list[Path]] = {}
    for d in dirs:
        if _root_of(d) is not None:
            groups.setdefault(d.parent, []).append(d)
    problems: dict[Path, str] = {}
    for exp_dir, runs in groups.items():
        problems.update(_prefetch_experiment(exp_dir, runs))
    return problems


def _plan(
    runs: list[Path], manifest: dict[str, Any], uri: str
) -> tuple[list[tuple[Path, RunInfo]], list[Path], dict[Path, str]]:
    """Which runs need their config fetched; which have no known info; which are known to have no config."""
    todo: list[tuple[Path, RunInfo]] = []
    unknown: list[Path] = []
    problems: dict[Path, str] = {}
    for d in runs:
        info = _infos.get(d)
        raw = manifest.get(d.name)
        entry: list[Any] = raw if isinstance(raw, list) and len(raw) == 2 else [None, True]  # noqa: PLR2004
        stamp = None if info is None else _stamp(info)
        if info is None and entry[0] is None:  # an entry of an ended run stays valid without new info
            unknown.append(d)
        elif info is not None and (stamp is None or entry[0] != stamp):
            todo.append((d, info))
        elif not entry[1]:
            problems[d] = _no_config(d.name, uri)
    return todo, unknown, problems


def _prefetch_experiment(exp_dir: Path, runs: list[Path]) -> dict[Path, str]:
    root = exp_dir.parent
    uri = _uris.get(root) or _root_marker(root) or ""
    manifest = _read_json(exp_dir / MANIFEST)
    todo, unknown, problems = _plan(runs, manifest, uri)
    if unknown:
        found = read_infos(uri, unknown)
        for d in unknown:
            if d in found:
                _infos[d] = found[d]
                todo.append((d, found[d]))
            else:
                problems[d] = f"run {d.name} not found in tracking store {safe_uri(uri)}"

    def fetch(item: tuple[Path, RunInfo]) -> tuple[Path, str | None, bool]:
        d, info = item
        stamp = _stamp(info)
        entry = manifest.get(d.name)
        if isinstance(entry, list) and entry and entry[0] != stamp:  # the run changed: its old files go
            shutil.rmtree(d / "artifacts", ignore_errors=True)
            with contextlib.suppress(OSError):
                (d / RUN_STATE).unlink()
        data = _fetch(uri, info.artifact_uri, CONFIG) if info.artifact_uri else None
        if data is None:
            with contextlib.suppress(OSError):
                (d / "artifacts" / CONFIG).unlink()  # a config from an earlier state must not be used
        else:
            _write_bytes(d / "artifacts" / CONFIG, data)
        return d, stamp, data is not None

    changes: dict[str, list[Any] | None] = {}
    for d, stamp, has_config in _parallel(fetch, todo):
        changes[d.name] = None if stamp is None else [stamp, has_config]
        if not has_config:
            problems[d] = _no_config(d.name, uri)
    if changes:
        _update_manifest(exp_dir, changes)
    return problems


def _no_config(run_id: str, uri: str) -> str:
    return f"run {run_id} of tracking store {safe_uri(uri)} has no {CONFIG} artifact"


# ------------------------------------------------------------------------------------------------ on demand


def _normalize(relative: str | os.PathLike[str]) -> str:
    """A relative artifact path in POSIX form, "" for the artifact root.

    >>> _normalize("a/./b/"), _normalize(""), _normalize(".")
    ('a/b', '', '')
    """
    text = PurePosixPath(os.fspath(relative)).as_posix()
    return "" if text in {".", ""} else text.strip("/")


def _covered(relative: str, fetched: Iterable[str]) -> bool:
    """Whether ``relative`` is one of the ``fetched`` paths or below one of them.

    >>> _covered("a/b.txt", ["a"]), _covered("ab", ["a"]), _covered("x", [""])
    (True, False, True)
    """
    return any(p in {"", relative} or relative.startswith(p + "/") for p in fetched)


def ensure(run_dir: Path, relative: str | os.PathLike[str], info: Callable[[], RunInfo]) -> None:
    """Fetch ``relative`` (a file or a directory; "" for all artifacts) of a remote run, if not cached.

    Does nothing for a run directory that is not a cache directory. A run that has ended keeps what was
    fetched for as long as its state does not change; a run still going is fetched again at every call.

    Raises:
        StoreError: The store or its artifact store cannot be read.
    """
    root = _root_of(run_dir)
    if root is None:
        return
    rel = _normalize(relative)
    if ".." in PurePosixPath(rel).parts:
        return  # outside the run's artifacts: nothing to fetch (and nothing hydraflow may write there)
    run = info()
    stamp = _stamp(run)
    state_path = run_dir / RUN_STATE
    state = _read_json(state_path)
    fetched = state.get("paths", []) if state.get("stamp") == stamp and stamp is not None else []
    if _covered(rel, fetched) or not run.artifact_uri:
        return
    uri = _uris.get(root) or _root_marker(root) or ""
    _download(uri, run.artifact_uri, rel, run_dir / "artifacts")
    if stamp is not None:
        with _locked(run_dir / f"{RUN_STATE}.lock"):
            state = _read_json(state_path)
            paths = state.get("paths", []) if state.get("stamp") == stamp else []
            _write_json(state_path, {"stamp": stamp, "paths": sorted({*paths, rel})})


def _download(uri: str, artifact_uri: str, rel: str, dst: Path) -> None:
    """Fetch ``rel`` into ``dst`` (the run's ``artifacts`` cache directory)."""
    from hydraflow.analysis.readers import server

    if artifact_uri.startswith("mlflow-artifacts:") and parse_store(uri).kind == "server":
        srv = server.client(_artifact_server(uri, artifact_uri))
        base = _mlflow_artifacts_path(artifact_uri)
        prefix = f"{base}/{rel}" if rel else base
        files = [f[len(base) + 1 :] for f in srv.artifact_walk(prefix)]
        if not files and rel:
            files = [rel]  # a file (or nothing): listing a file gives no entries
        for name, data in zip(files, _parallel(lambda f: _fetch(uri, artifact_uri, f), files), strict=True):
            if data is not None:
                _write_bytes(dst / name, data)
        return
    with tempfile.TemporaryDirectory(
        prefix="hydraflow-fetch-", dir=dst.parent if dst.parent.is_dir() else None
    ) as tmp:
        local = _download_with_mlflow(uri, artifact_uri, rel, Path(tmp))
        if local is None:
            return
        target = dst / rel if rel else dst
        if local.is_dir():
            shutil.copytree(local, target, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local, target)
