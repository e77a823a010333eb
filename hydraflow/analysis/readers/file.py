"""Reading an MLflow file store (``./mlruns``) straight from its files.

Layout: ``<root>/<experiment id>/meta.yaml`` (the experiment's name and stage) and
``<root>/<experiment id>/<run id>/{meta.yaml, params/, tags/, metrics/, artifacts/}``; deleted experiments
move to ``<root>/.trash``. One file per param, tag and metric: params and tags are read on first access.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from hydraflow.analysis import _fastyaml
from hydraflow.analysis._errors import CorruptRunWarning
from hydraflow.analysis.info import STATUS_BY_CODE, RunInfo, datetime_from_ms

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "experiment_meta",
    "is_experiment_dir",
    "is_run_dir",
    "iter_experiments",
    "iter_run_dirs",
    "read_info",
]

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_META_KEYS = ("run_id", "status", "start_time")  # what every meta.yaml MLflow writes has (and RunInfo needs)
_START_TIME = re.compile(r"^start_time: *(\d+)", re.MULTILINE)


def is_run_dir(run_dir: str | os.PathLike[str]) -> bool:
    """Whether ``run_dir`` is a file-store run directory (it has a ``meta.yaml``)."""
    return os.path.isfile(os.path.join(run_dir, "meta.yaml"))  # noqa: PTH113, PTH118 - hot path: no pathlib


@lru_cache(maxsize=4096)
def is_experiment_dir(exp_dir: str) -> bool:
    """Whether ``exp_dir`` is a file-store experiment directory (it has a ``meta.yaml``; cached)."""
    return os.path.isfile(os.path.join(exp_dir, "meta.yaml"))  # noqa: PTH113, PTH118 - hot path: no pathlib


@lru_cache(maxsize=4096)
def experiment_meta(exp_dir: Path) -> Mapping[str, Any]:
    """An experiment directory's ``meta.yaml`` (``name``, ``lifecycle_stage``...); empty when unreadable."""
    try:
        data = yaml.load((exp_dir / "meta.yaml").read_bytes(), Loader=_LOADER)  # noqa: S506 - CSafeLoader
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


# --------------------------------------------------------------------------- listing


def iter_run_dirs(root: Path, match: Callable[[str], bool], include_deleted: bool) -> Iterator[Path]:
    """The run directories of the experiments whose name ``match``es, experiment by experiment.

    Raises:
        FileNotFoundError: ``root`` is not a directory.
    """
    if not root.is_dir():
        msg = f"file store {root} does not exist"
        raise FileNotFoundError(msg)
    exp_dirs = sorted(
        (p for p in root.iterdir() if p.is_dir() and p.name not in {".trash", "models"}),
        key=lambda p: (len(p.name), p.name),
    )
    trash = root / ".trash"
    if include_deleted and trash.is_dir():  # deleted experiments are moved there
        exp_dirs += sorted((p for p in trash.iterdir() if p.is_dir()), key=lambda p: (len(p.name), p.name))
    for exp_dir in exp_dirs:
        meta = experiment_meta(exp_dir)
        if not meta:
            _warn_unreadable_experiment(exp_dir)
            continue
        if not match(str(meta.get("name", ""))):
            continue
        if not include_deleted and meta.get("lifecycle_stage") == "deleted":
            continue
        yield from _experiment_runs(exp_dir, include_deleted)


def _warn(message: str) -> None:
    warnings.warn(message, CorruptRunWarning, stacklevel=5)


def _warn_unreadable_experiment(exp_dir: Path) -> None:
    """A directory of the store whose ``meta.yaml`` cannot be read: said, unless it has none (not ours)."""
    path = exp_dir / "meta.yaml"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    except OSError as exc:
        _warn(f"skipped experiment {exp_dir}: cannot read {path}: {exc.strerror or exc}")
        return
    _warn(f"skipped experiment {exp_dir}: {path} is {'empty' if not data.strip() else 'not a YAML mapping'}")


def iter_experiments(root: Path, include_deleted: bool) -> Iterator[tuple[str, Path]]:
    """``(name, directory)`` of each experiment of the store, in id order.

    Raises:
        FileNotFoundError: ``root`` is not a directory.
    """
    if not root.is_dir():
        msg = f"file store {root} does not exist"
        raise FileNotFoundError(msg)
    for exp_dir in sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: (len(p.name), p.name)):
        meta = experiment_meta(exp_dir)
        if meta and (include_deleted or meta.get("lifecycle_stage") != "deleted"):
            yield str(meta.get("name", "")), exp_dir


def _experiment_runs(exp_dir: Path, include_deleted: bool) -> list[Path]:
    """An experiment's run dirs in start-time order (like the sqlite store); deleted ones dropped.

    A run directory that cannot be read (permissions) is skipped with a :class:`CorruptRunWarning`.
    """
    keyed: list[tuple[int, str, Path]] = []
    try:
        entries = [Path(e.path) for e in os.scandir(exp_dir) if e.is_dir()]
    except OSError as exc:
        _warn(f"skipped experiment {exp_dir}: cannot list its runs: {exc.strerror or exc}")
        return []
    for run_dir in entries:
        try:
            text = (run_dir / "meta.yaml").read_text(encoding="utf-8")
        except FileNotFoundError:
            # not a run (the experiment's tags/), or a partial run that Run.load reports (no meta.yaml)
            if os.path.isdir(os.path.join(run_dir, "artifacts")):  # noqa: PTH112, PTH118 - never raises
                keyed.append((0, run_dir.name, run_dir))
            continue
        except (OSError, UnicodeDecodeError) as exc:  # chmod 000, a damaged disk, binary garbage
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            _warn(f"skipped run {run_dir}: cannot read {run_dir / 'meta.yaml'}: {why}")
            continue
        if not include_deleted and "lifecycle_stage: deleted" in text:
            continue
        m = _START_TIME.search(text)
        keyed.append((int(m.group(1)) if m else 0, run_dir.name, run_dir))
    return [d for _, _, d in sorted(keyed)]


# --------------------------------------------------------------------------- run info


class _LazyTree(Mapping[str, str]):
    """A file store's ``params/`` or ``tags/`` directory, read on first access (one file per key)."""

    __slots__ = ("_data", "_root")

    def __init__(self, root: Path) -> None:
        self._root = root
        self._data: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._data is None:
            self._data = _read_tree(self._root)
        return self._data

    def __getitem__(self, key: str) -> str:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, key: object) -> bool:
        return key in self._load()

    def __eq__(self, other: object) -> bool:
        return self._load() == other if isinstance(other, Mapping) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._load())


def _read_tree(root: Path) -> dict[str, str]:
    """``params/`` or ``tags/``: one file per key (keys with ``/`` are nested directories)."""
    out: dict[str, str] = {}
    try:
        entries = list(os.scandir(root))
    except OSError:
        return out
    for entry in entries:
        if entry.is_dir():
            for sub_key, value in _read_tree(Path(entry.path)).items():
                out[f"{entry.name}/{sub_key}"] = value
        else:
            try:
                out[entry.name] = Path(entry.path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                _warn(f"ignored {entry.path}: {why}")
    return out


def _latest_metric(path: str) -> float | None:
    """The value of the latest entry of a metric file (lines ``<timestamp> <value> <step>``).

    Lines that are not such a triple are skipped with a :class:`CorruptRunWarning`.
    """
    best: tuple[int, int, float] | None = None
    try:
        with open(path, encoding="utf-8") as f:  # noqa: PTH123 - hot path: no pathlib
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return None
    bad = 0
    for line in text.splitlines():
        parts = line.split()
        try:
            ts, value = int(parts[0]), float(parts[1])
            step = int(parts[2]) if len(parts) > 2 else 0  # noqa: PLR2004
        except (ValueError, IndexError):
            bad += bool(line.strip())
            continue
        if best is None or (step, ts) >= best[:2]:
            best = (step, ts, value)
    if bad:
        kept = "the metric dropped" if best is None else "the other lines read"
        _warn(f"metric file {path}: {bad} line(s) are not '<timestamp> <value> <step>'; {kept}")
    return None if best is None else best[2]


def _read_metrics(root: str) -> dict[str, float]:
    out: dict[str, float] = {}
    try:
        with os.scandir(root) as it:
            entries = list(it)
    except OSError:
        return out
    for entry in entries:
        if entry.is_dir():
            for sub_key, value in _read_metrics(entry.path).items():
                out[f"{entry.name}/{sub_key}"] = value
        else:
            latest = _latest_metric(entry.path)
            if latest is not None:
                out[entry.name] = latest
    return out


def read_info(run_dir: Path) -> RunInfo:
    """Read one run's ``meta.yaml``, ``params/``, ``tags/`` and ``metrics/``.

    Raises:
        OSError: ``meta.yaml`` cannot be read.
        yaml.YAMLError: ``meta.yaml`` is not YAML.
        ValueError: ``meta.yaml`` is not a mapping.
    """
    path = run_dir / "meta.yaml"
    data = path.read_bytes()
    if not data.endswith(b"\n"):  # MLflow writes it whole, newline-terminated: a cut file or an empty one
        msg = f"{path} is {'empty' if not data else 'truncated (no final newline)'}"
        raise ValueError(msg)
    try:
        meta = _fastyaml.load(data)
    except _fastyaml.Unsupported:
        meta = yaml.load(data, Loader=_LOADER)  # noqa: S506 - CSafeLoader
    if not isinstance(meta, dict):
        msg = f"{path} is not a mapping"
        raise ValueError(msg)  # noqa: TRY004 - a content error, not a type error of the caller
    missing = [key for key in _META_KEYS if key not in meta]
    if missing:  # cut at a line end: the keys are written in order, the last ones are gone
        msg = f"{path} is incomplete (no {', '.join(missing)})"
        raise ValueError(msg)
    status = meta.get("status")
    if isinstance(status, int):
        status = STATUS_BY_CODE.get(status, str(status))
    exp_id = meta.get("experiment_id")
    exp_name = experiment_meta(run_dir.parent).get("name")
    return RunInfo(
        run_id=str(meta.get("run_id") or run_dir.name),
        run_dir=run_dir,
        experiment_id=None if exp_id is None else str(exp_id),
        experiment_name=exp_name,
        status=status,
        start_time=datetime_from_ms(meta.get("start_time")),
        end_time=datetime_from_ms(meta.get("end_time")),
        params=_LazyTree(run_dir / "params"),  # one file per key: read when first used
        tags=_LazyTree(run_dir / "tags"),
        metrics=_read_metrics(os.path.join(run_dir, "metrics")),  # noqa: PTH118
        run_name=meta.get("run_name"),
        lifecycle_stage=meta.get("lifecycle_stage"),
        artifact_uri=meta.get("artifact_uri"),
    )
