r"""Loading the Hydra configs of many runs fast, with an optional on-disk Parquet index.

Each run's ``artifacts/.hydra/config.yaml`` is parsed into plain Python containers (by a reader for the
block-style YAML Hydra writes, see :mod:`hydraflow.analysis._fastyaml`, else libyaml's
``yaml.CSafeLoader``); no OmegaConf object is created until a run's ``cfg`` is asked for. Files are read in
a thread pool.

With an index, the parsed configs are also written, per experiment directory, to a Parquet file in a cache
directory, keyed by run directory name and invalidated by the config file's modification time and size. A
second load then only ``stat``\\s the config files and decodes JSON, which is several times faster than YAML.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from hydraflow import settings
from hydraflow.analysis import _fastyaml, remote
from hydraflow.analysis._errors import CorruptRunWarning
from hydraflow.analysis.readers.file import is_experiment_dir

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

CONFIG_PATH = ("artifacts", ".hydra", "config.yaml")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_INDEX_VERSION = "1"
MAX_CONFIG_VALUES = 1_000_000  # values of one config, aliases expanded (Hydra configs hold a few hundred)
MAX_CONFIG_DEPTH = 100  # nesting levels of one config (OmegaConf recurses per level)
_POOL_MIN_ITEMS = 64  # a thread pool costs more than it saves on fewer items

T = TypeVar("T")
U = TypeVar("U")


class BadRunError(Exception):
    """Internal: why a run directory cannot be loaded."""


def config_file(run_dir: str | os.PathLike[str]) -> Path:
    """The Hydra config file of a run directory."""
    return Path(run_dir).joinpath(*CONFIG_PATH)


def _check_meta(run_dir: str) -> None:
    if is_experiment_dir(os.path.dirname(run_dir)) and not os.path.isfile(  # noqa: PTH120, PTH113
        os.path.join(run_dir, "meta.yaml")  # noqa: PTH118
    ):
        msg = f"run directory {run_dir} has no meta.yaml (partial file-store run)"
        raise BadRunError(msg)


def _missing_config(run_dir: str) -> BadRunError:
    if not os.path.isdir(run_dir):  # noqa: PTH112
        return BadRunError(f"run directory {run_dir} does not exist")
    return BadRunError(f"run directory {run_dir} has no {'/'.join(CONFIG_PATH)}")


def check_size(value: Any, where: str | os.PathLike[str]) -> None:
    """Refuse a parsed config that is too deep, or too large once its aliases are expanded (a YAML bomb).

    PyYAML builds ``&a``/``*a`` as shared objects, so a small file can stand for billions of values that
    every later step (OmegaConf, flattening, frames) would expand. Hydra writes neither aliases nor more than
    a few levels. The walk stops at the first limit passed.

    >>> bomb = [["x"] * 10]
    >>> for _ in range(8):
    ...     bomb = [bomb] * 10
    >>> check_size({"a": bomb}, "config.yaml")
    Traceback (most recent call last):
    ...
    hydraflow.analysis.loading.BadRunError: config.yaml is too large to load: over 1000000 values, aliases expanded
    """  # noqa: E501
    count = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_CONFIG_VALUES:
            msg = f"{where} is too large to load: over {MAX_CONFIG_VALUES} values, aliases expanded"
            raise BadRunError(msg)
        if depth > MAX_CONFIG_DEPTH:
            msg = f"{where} is nested too deep to load (over {MAX_CONFIG_DEPTH} levels)"
            raise BadRunError(msg)
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def parse_config(data: bytes, where: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a config file's bytes into a dict.

    Hydra writes every config whole, newline-terminated (an empty config is ``{}``): an empty file or one
    without its final newline is a damaged run, not an empty config.

    Raises:
        BadRunError: The file is empty, truncated, broken YAML, too large or deep (:func:`check_size`), or
            not a mapping.
    """
    if not data.strip():
        msg = f"{where} is empty (a damaged run: Hydra writes {{}} for an empty config)"
        raise BadRunError(msg)
    try:
        cfg = _fastyaml.load(data)
    except _fastyaml.Unsupported:
        try:
            cfg = yaml.load(data, Loader=_LOADER)  # noqa: S506 - CSafeLoader is the safe loader
        except yaml.YAMLError as exc:
            problem = str(exc).replace("\n", " ")
            msg = f"broken YAML in {where}: {problem}"
            raise BadRunError(msg) from None
        except RecursionError:
            msg = f"{where} is nested too deep to load"
            raise BadRunError(msg) from None
        check_size(cfg, where)
    except RecursionError:
        msg = f"{where} is nested too deep to load"
        raise BadRunError(msg) from None
    if not data.endswith(b"\n"):  # parsed, but cut short: keys or values may be missing
        msg = f"{where} is truncated (no final newline)"
        raise BadRunError(msg)
    if not isinstance(cfg, dict):
        msg = f"{where} is not a mapping (got {type(cfg).__name__})"
        raise BadRunError(msg)
    return cfg


def check_run_dir(run_dir: str | os.PathLike[str]) -> os.stat_result:
    """Check the files a run needs; returns the stat of its config file.

    Raises:
        BadRunError: The directory, its config or (in a file store) its ``meta.yaml`` is missing.
    """
    d = os.fspath(run_dir)
    try:
        st = os.stat(os.path.join(d, *CONFIG_PATH))  # noqa: PTH116, PTH118
    except OSError:
        raise _missing_config(d) from None
    _check_meta(d)
    return st


def read_config_bytes(run_dir: str | os.PathLike[str]) -> bytes:
    """Check a run directory and read its config file (the I/O half of :func:`read_config`).

    Raises:
        BadRunError: The directory, its config or (in a file store) its ``meta.yaml`` is missing, or the
            config cannot be read.
    """
    d = os.fspath(run_dir)
    path = os.path.join(d, *CONFIG_PATH)  # noqa: PTH118
    try:
        with open(path, "rb") as f:  # noqa: PTH123
            data = f.read()
    except FileNotFoundError:
        raise _missing_config(d) from None
    except OSError as exc:
        msg = f"cannot read {path}: {exc}"
        raise BadRunError(msg) from None
    _check_meta(d)
    return data


def read_config(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Check a run directory and parse its config (fetched first, for a run of the artifact cache).

    Raises:
        BadRunError: See :func:`read_config_bytes` and :func:`parse_config`.
        StoreError: The config of a remote run cannot be fetched.
    """
    path = Path(run_dir)
    if remote.is_remote(path):
        problem = remote.prefetch([path]).get(path)
        if problem is not None:
            raise BadRunError(problem)
    return parse_config(read_config_bytes(run_dir), config_file(run_dir))


def default_cache_dir() -> Path:
    """``$HYDRAFLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/hydraflow``, else ``~/.cache/hydraflow``."""
    return settings.cache_dir()


@dataclass
class _Entry:
    mtime_ns: int
    size: int
    config: str | None  # JSON; None when the config does not survive a JSON round trip


def _index_path(cache_dir: Path, parent: Path) -> Path:
    digest = hashlib.sha1(str(parent.resolve()).encode(), usedforsecurity=False).hexdigest()[:24]
    return cache_dir / "index" / f"{digest}.parquet"


def _read_index(path: Path, parent: Path) -> dict[str, _Entry]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, ValueError):
        return {}
    meta = table.schema.metadata or {}
    if meta.get(b"hydraflow.index") != _INDEX_VERSION.encode() or meta.get(b"parent") != str(parent).encode():
        return {}
    cols = table.to_pydict()
    return {
        name: _Entry(m, s, c)
        for name, m, s, c in zip(cols["name"], cols["mtime_ns"], cols["size"], cols["config"], strict=True)
    }


def _write_index(path: Path, parent: Path, entries: dict[str, _Entry]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = sorted(entries)
    table = pa.table(
        {
            "name": pa.array(names, pa.string()),
            "mtime_ns": pa.array([entries[n].mtime_ns for n in names], pa.int64()),
            "size": pa.array([entries[n].size for n in names], pa.int64()),
            "config": pa.array([entries[n].config for n in names], pa.large_string()),
        }
    ).replace_schema_metadata({"hydraflow.index": _INDEX_VERSION, "parent": str(parent)})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(path)  # atomic: concurrent readers see the old or the new index
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _to_json(cfg: dict[str, Any]) -> str | None:
    try:
        text = json.dumps(cfg, separators=(",", ":"), allow_nan=True)
    except (TypeError, ValueError):
        return None
    return text if json.loads(text) == cfg else None


def _read_raw(run_dir: Path) -> tuple[Path, bytes | None, str | None]:
    """:func:`read_config_bytes` for a thread pool (threads overlap the I/O; parsing holds the GIL)."""
    try:
        return run_dir, read_config_bytes(run_dir), None
    except BadRunError as exc:
        return run_dir, None, str(exc)


def _load_many(dirs: list[Path], n_jobs: int) -> list[tuple[Path, dict[str, Any] | None, str | None]]:
    out: list[tuple[Path, dict[str, Any] | None, str | None]] = []
    for run_dir, data, problem in parallel_map(_read_raw, dirs, n_jobs):
        if data is None:
            out.append((run_dir, None, problem))
            continue
        try:
            out.append((run_dir, parse_config(data, config_file(run_dir)), None))
        except BadRunError as exc:
            out.append((run_dir, None, str(exc)))
    return out


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: building many small dicts otherwise triggers it again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _warn_skipped(problem: str) -> None:
    warnings.warn(f"skipped run: {problem}", CorruptRunWarning, stacklevel=4)


def parallel_map(fn: Callable[[T], U], items: list[T], n_jobs: int) -> list[U]:
    """``[fn(i) for i in items]``, in ``n_jobs`` threads when there are enough items to pay for a pool.

    >>> parallel_map(str, list(range(100)), 4)[-1]
    '99'
    """
    if n_jobs <= 1 or len(items) < _POOL_MIN_ITEMS:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(n_jobs) as pool:
        return list(pool.map(fn, items, chunksize=_POOL_MIN_ITEMS))


def load_all_configs(
    run_dirs: Iterable[Path], *, n_jobs: int, cache_dir: Path | None
) -> list[tuple[Path, dict[str, Any] | None, str | None]]:
    """Load the configs of ``run_dirs`` (in order): ``(dir, config, None)`` or ``(dir, None, problem)``.

    The configs of runs whose artifacts are not on this machine are fetched into the artifact cache first
    (:func:`hydraflow.analysis.remote.prefetch`).

    Raises:
        StoreError: The store of such runs cannot be read.
    """
    dirs = list(run_dirs)
    remote_problems = remote.prefetch(dirs)
    results = _load_many(dirs, n_jobs) if cache_dir is None else _load_indexed(dirs, n_jobs, cache_dir)
    if not remote_problems:
        return results
    return [(d, cfg, (remote_problems.get(d) or p) if cfg is None else p) for d, cfg, p in results]


def load_configs(
    run_dirs: Iterable[Path], *, n_jobs: int, cache_dir: Path | None
) -> list[tuple[Path, dict[str, Any]]]:
    """Load the configs of ``run_dirs`` (in order), skipping bad runs with a :class:`CorruptRunWarning`.

    Raises:
        StoreError: The store of runs whose artifacts are not on this machine cannot be read.
    """
    results = load_all_configs(run_dirs, n_jobs=n_jobs, cache_dir=cache_dir)
    out: list[tuple[Path, dict[str, Any]]] = []
    for run_dir, cfg, problem in results:
        if cfg is None:
            _warn_skipped(problem or f"{run_dir}: unknown problem")
        else:
            out.append((run_dir, cfg))
    return out


def _load_indexed(
    dirs: list[Path], n_jobs: int, cache_dir: Path
) -> list[tuple[Path, dict[str, Any] | None, str | None]]:
    by_parent: dict[Path, list[int]] = {}
    for i, d in enumerate(dirs):
        by_parent.setdefault(d.parent, []).append(i)
    results: list[tuple[Path, dict[str, Any] | None, str | None]] = [(d, None, None) for d in dirs]

    for parent, idxs in by_parent.items():
        ipath = _index_path(cache_dir, parent)
        index = _read_index(ipath, parent)
        dirty = False
        misses: list[int] = []
        stats: dict[int, os.stat_result] = {}
        for i in idxs:
            d = dirs[i]
            try:
                st = check_run_dir(d)
            except BadRunError as exc:
                results[i] = (d, None, str(exc))
                continue
            stats[i] = st
            entry = index.get(d.name)
            if (
                entry is not None
                and entry.mtime_ns == st.st_mtime_ns
                and entry.size == st.st_size
                and entry.config
            ):
                results[i] = (d, json.loads(entry.config), None)
            else:
                misses.append(i)
        for i, (d, cfg, problem) in zip(misses, _load_many([dirs[i] for i in misses], n_jobs), strict=True):
            results[i] = (d, cfg, problem)
            if cfg is not None:
                st = stats[i]
                index[d.name] = _Entry(st.st_mtime_ns, st.st_size, _to_json(cfg))
                dirty = True
        if dirty:
            try:
                _write_index(ipath, parent, index)
            except OSError as exc:
                warnings.warn(f"cannot write run index {ipath}: {exc}", RuntimeWarning, stacklevel=4)
    return results
