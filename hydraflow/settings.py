"""Every ``HYDRAFLOW_*`` environment setting, in one place, read when asked (never at import time).

Each setting is a :class:`Setting` listed in :data:`SETTINGS`; an accessor function reads and checks its value
from ``os.environ`` on every call, so a value set after ``import hydraflow`` (by a test, a launcher, a job
script) is honoured. ``docs/settings.md`` has the same list as a table (a test keeps the two in step).

A value that cannot be read raises :class:`SettingError`, naming the variable and what it accepts:

>>> import os
>>> os.environ["HYDRAFLOW_N_JOBS"] = "many"
>>> n_jobs()
Traceback (most recent call last):
...
hydraflow.settings.SettingError: HYDRAFLOW_N_JOBS='many': expected a positive integer
>>> os.environ["HYDRAFLOW_N_JOBS"] = "3"
>>> n_jobs()
3
>>> del os.environ["HYDRAFLOW_N_JOBS"]
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SETTINGS",
    "Setting",
    "SettingError",
    "artifact_cache_dir",
    "cache_dir",
    "dry_run",
    "fetch_threads",
    "lock_dir",
    "n_jobs",
    "pbs_array",
    "pbs_signal_delay_s",
    "pbs_stderr_to_stdout",
    "postgres_index",
    "server_retry_seconds",
    "server_timeout",
    "sqlite_index",
    "store_retry_seconds",
]


class SettingError(ValueError):
    """An environment setting has a value hydraflow cannot use."""


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, its default (as text) and who reads it."""

    name: str
    default: str
    scope: str
    """``"runtime"`` (jobs), ``"analysis"``, ``"pbs"`` (set by the PBS job script), ``"development"``."""

    def raw(self) -> str | None:
        """The variable's value with surrounding blanks removed; None when unset or empty."""
        value = os.environ.get(self.name, "").strip()
        return value or None

    def text(self) -> str:
        """The variable's value, else its default (for settings that are plain text, such as paths)."""
        return self.raw() or self.default


DRY_RUN = Setting("HYDRAFLOW_DRY_RUN", "0", "runtime")
STORE_RETRY_SECONDS = Setting("HYDRAFLOW_STORE_RETRY_SECONDS", "120", "runtime")
SQLITE_INDEX = Setting("HYDRAFLOW_SQLITE_INDEX", "1", "runtime")
POSTGRES_INDEX = Setting("HYDRAFLOW_POSTGRES_INDEX", "1", "runtime")
LOCK_DIR = Setting("HYDRAFLOW_LOCK_DIR", "", "runtime")
N_JOBS = Setting("HYDRAFLOW_N_JOBS", "", "analysis")
CACHE_DIR = Setting("HYDRAFLOW_CACHE_DIR", "", "analysis")
ARTIFACT_CACHE_DIR = Setting("HYDRAFLOW_ARTIFACT_CACHE_DIR", "", "analysis")
FETCH_THREADS = Setting("HYDRAFLOW_FETCH_THREADS", "8", "analysis")
SERVER_RETRY_SECONDS = Setting("HYDRAFLOW_SERVER_RETRY_SECONDS", "20", "analysis")
SERVER_TIMEOUT = Setting("HYDRAFLOW_SERVER_TIMEOUT", "60", "analysis")
PBS_ARRAY = Setting("HYDRAFLOW_PBS_ARRAY", "1", "pbs")
PBS_DIALECT = Setting("HYDRAFLOW_PBS_DIALECT", "", "pbs")
PBS_SIGNAL_DELAY_S = Setting("HYDRAFLOW_PBS_SIGNAL_DELAY_S", "90", "pbs")
PBS_STDERR_TO_STDOUT = Setting("HYDRAFLOW_PBS_STDERR_TO_STDOUT", "", "pbs")
BENCH_DIR = Setting("HYDRAFLOW_BENCH_DIR", "/tmp/hydraflow-bench", "development")  # noqa: S108 - documented
BENCH_CACHE = Setting("HYDRAFLOW_BENCH_CACHE", "/tmp/hf/bench_dedup", "development")  # noqa: S108 - documented
NO_CLUSTER = Setting("HYDRAFLOW_NO_CLUSTER", "", "development")
FULL_SUITE = Setting("HYDRAFLOW_FULL_SUITE", "", "development")
FUZZ_EXAMPLES = Setting("HYDRAFLOW_FUZZ_EXAMPLES", "0", "development")

SETTINGS: tuple[Setting, ...] = (
    DRY_RUN,
    STORE_RETRY_SECONDS,
    SQLITE_INDEX,
    POSTGRES_INDEX,
    LOCK_DIR,
    N_JOBS,
    CACHE_DIR,
    ARTIFACT_CACHE_DIR,
    FETCH_THREADS,
    SERVER_RETRY_SECONDS,
    SERVER_TIMEOUT,
    PBS_ARRAY,
    PBS_DIALECT,
    PBS_SIGNAL_DELAY_S,
    PBS_STDERR_TO_STDOUT,
    BENCH_DIR,
    BENCH_CACHE,
    NO_CLUSTER,
    FULL_SUITE,
    FUZZ_EXAMPLES,
)
"""All settings, in the order of the docs table."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _flag(setting: Setting) -> bool:
    value = setting.raw()
    if value is None:
        value = setting.default or "0"
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    msg = f"{setting.name}={value!r}: expected 1/true/yes/on or 0/false/no/off"
    raise SettingError(msg)


def _number(setting: Setting, kind: type[float], *, minimum: float) -> float:
    value = setting.raw() or setting.default
    try:
        number = kind(value)
    except ValueError:
        number = None
    if number is None or number < minimum:
        what = "a positive integer" if kind is int and minimum > 0 else f"a number >= {minimum:g}"
        msg = f"{setting.name}={value!r}: expected {what}"
        raise SettingError(msg)
    return number


def dry_run() -> bool:
    """``HYDRAFLOW_DRY_RUN``: ``@hydraflow.main`` jobs print their config and fingerprint, touch no store.

    >>> dry_run()
    False
    """
    return _flag(DRY_RUN)


def store_retry_seconds() -> float:
    """``HYDRAFLOW_STORE_RETRY_SECONDS``: how long a job retries transient store errors (default 120).

    >>> store_retry_seconds()
    120.0
    """
    return float(_number(STORE_RETRY_SECONDS, float, minimum=0))


def sqlite_index() -> bool:
    """``HYDRAFLOW_SQLITE_INDEX``: add the ``(key, value)`` index on the ``tags`` table of a sqlite store.

    >>> sqlite_index()
    True
    """
    return _flag(SQLITE_INDEX)


def postgres_index() -> bool:
    """``HYDRAFLOW_POSTGRES_INDEX``: add the hash index on ``tags.value`` of a PostgreSQL store jobs write to.

    >>> postgres_index()
    True
    """
    return _flag(POSTGRES_INDEX)


def lock_dir() -> Path | None:
    """``HYDRAFLOW_LOCK_DIR``: where the per-fingerprint lock files go (None: beside the store)."""
    value = LOCK_DIR.raw()
    return None if value is None else Path(value)


def n_jobs() -> int | None:
    """``HYDRAFLOW_N_JOBS``: threads reading run files in analysis (None: not set)."""
    if N_JOBS.raw() is None:
        return None
    return int(_number(N_JOBS, int, minimum=1))


def cache_dir() -> Path:
    """``HYDRAFLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/hydraflow``, else ``~/.cache/hydraflow``."""
    value = CACHE_DIR.raw()
    if value is not None:
        return Path(value)
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "hydraflow"


def artifact_cache_dir() -> Path:
    """``HYDRAFLOW_ARTIFACT_CACHE_DIR``, else ``<cache_dir()>/artifacts``.

    Where analysis keeps the files it downloads of runs whose artifacts are not on this machine (the Hydra
    configs of runs on an ``mlflow server`` with proxied artifacts, and what ``run.path(...)`` asks for).
    """
    value = ARTIFACT_CACHE_DIR.raw()
    return Path(value) if value is not None else cache_dir() / "artifacts"


def fetch_threads() -> int:
    """``HYDRAFLOW_FETCH_THREADS``: concurrent downloads of run artifacts from a server (default 8).

    >>> fetch_threads()
    8
    """
    return int(_number(FETCH_THREADS, int, minimum=1))


def server_retry_seconds() -> float:
    """``HYDRAFLOW_SERVER_RETRY_SECONDS``: how long hydraflow's requests to a server retry (default 20).

    Transient failures only (503, 429, a reset connection, a timeout); an unreachable or refusing server is
    reported at once.

    >>> server_retry_seconds()
    20.0
    """
    return float(_number(SERVER_RETRY_SECONDS, float, minimum=0))


def server_timeout() -> float:
    """``HYDRAFLOW_SERVER_TIMEOUT``: seconds one request to a server may take (default 60).

    >>> server_timeout()
    60.0
    """
    return float(_number(SERVER_TIMEOUT, float, minimum=0.1))


def pbs_array() -> bool:
    """``HYDRAFLOW_PBS_ARRAY``: set by hydraflow's PBS job script, 1 when the job is an array task."""
    return _flag(PBS_ARRAY)


def pbs_signal_delay_s() -> int:
    """``HYDRAFLOW_PBS_SIGNAL_DELAY_S``: set by the PBS job script: checkpoint this long before wall time."""
    return int(_number(PBS_SIGNAL_DELAY_S, int, minimum=0))


def pbs_stderr_to_stdout() -> bool:
    """``HYDRAFLOW_PBS_STDERR_TO_STDOUT``: set by the PBS job script when stderr goes to the stdout file."""
    return _flag(PBS_STDERR_TO_STDOUT)
