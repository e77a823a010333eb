"""A single MLflow run of a Hydra job: its config, its tracking-store info and an optional implementation."""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast, overload

from typing_extensions import Self

from hydraflow import settings
from hydraflow.analysis import remote
from hydraflow.analysis._errors import RunLoadError
from hydraflow.analysis.collection import RunCollection
from hydraflow.analysis.info import INFO_KEYS
from hydraflow.analysis.loading import (
    BadRunError,
    config_file,
    default_cache_dir,
    gc_paused,
    load_configs,
    read_config,
)
from hydraflow.analysis.store import read_infos
from hydraflow.analysis.values import MISSING, flatten_dict, lookup_plain
from hydraflow.store.uri import resolve_tracking_uri

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from hydraflow.analysis.info import RunInfo

__all__ = ["MISSING", "ImplFactory", "InfoBatch", "Run", "default_n_jobs", "flatten_dict"]

C = TypeVar("C")
I = TypeVar("I")  # noqa: E741 - the implementation type, named like HydraFlow's
R = TypeVar("R", bound="Run[Any, Any]")


_CONTAINER: Any = object()  # _schema_node: a typed container (nested dataclass, typed list or dict)


@functools.lru_cache(maxsize=64)
def _schema(cfg_type: type) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.structured(cfg_type)


@functools.lru_cache(maxsize=4096)
def _schema_node(cfg_type: type, key: str) -> Any:
    """The typed value node of ``cfg_type`` at ``key``, :data:`_CONTAINER`, or None (untyped or absent)."""
    from omegaconf import DictConfig
    from omegaconf.errors import OmegaConfBaseException
    from omegaconf.nodes import AnyNode, ValueNode

    try:
        node: Any = _schema(cfg_type)
        for part in key.split("."):
            if not isinstance(node, DictConfig) or node._is_none() or node._is_missing():  # noqa: SLF001
                return None
            node = node._get_node(part)  # noqa: SLF001
            if node is None:
                return None
    except (OmegaConfBaseException, ValueError, TypeError):  # a class OmegaConf cannot read: run.cfg says why
        return None
    if isinstance(node, AnyNode):
        return None
    if isinstance(node, ValueNode):
        return node
    return _CONTAINER


ImplFactory = Callable[[Path], Any] | Callable[[Path, Any], Any]


def default_n_jobs() -> int:
    """Threads reading run files: ``$HYDRAFLOW_N_JOBS``, else ``min(4, cpu count)``.

    Only the reads run in threads (parsing holds the GIL): they pay off on cold caches and network file
    systems; with files in the page cache, ``n_jobs=1`` is as fast.
    """
    configured = settings.n_jobs()
    if configured is not None:
        return configured
    return min(4, os.cpu_count() or 1)


class InfoBatch:
    """The runs of one load; their infos are read together, on first access of any run's ``info``."""

    def __init__(self, tracking_uri: str | None, n_jobs: int) -> None:
        """An empty batch reading from ``tracking_uri`` with ``n_jobs`` threads."""
        self.tracking_uri = tracking_uri
        self.n_jobs = n_jobs
        self.runs: list[Run[Any, Any]] = []
        self._lock = threading.Lock()
        self._done = False

    def load(self) -> None:
        """Read the info of every run of the batch (once)."""
        with self._lock:
            if self._done:
                return
            infos = read_infos([r.run_dir for r in self.runs], self.tracking_uri, self.n_jobs)
            for run in self.runs:
                run._info = infos[run.run_dir]  # noqa: SLF001
            self._done = True


def _has_interpolation(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(_has_interpolation(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_interpolation(v) for v in value)
    return False


def _lookup_object(obj: Any, key: str) -> Any:
    """Dotted lookup through attributes and mappings; a mapping also matches the whole rest of the key.

    ``metrics.val.loss`` on an info finds ``info.metrics["val.loss"]`` (MLflow keys may contain dots).
    """
    parts = key.split(".")
    value = obj
    for n, part in enumerate(parts):
        if isinstance(value, Mapping):
            rest = ".".join(parts[n:])
            if rest in value:
                return value[rest]
            if part in value:
                value = value[part]
                continue
            return MISSING
        if isinstance(value, list):
            return lookup_plain(value, parts[n:])
        if part.startswith("_"):
            return MISSING
        attr = getattr(value, part, MISSING)
        if attr is MISSING or (inspect.ismethod(attr) or inspect.isbuiltin(attr)):
            return MISSING
        value = attr
    return value


class Run(Generic[C, I]):
    """One run: ``cfg`` (its Hydra config), ``info`` (what MLflow recorded) and ``impl`` (your object).

    Create runs with :meth:`Run.load`. ``Run[MyConfig].load(...)`` (or ``cfg_type=MyConfig``) gives ``cfg``
    the structure and types of a dataclass.
    """

    _cfg_type: ClassVar[type | None] = None
    _typed: ClassVar[dict[Any, type]] = {}

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        impl_factory: ImplFactory | None = None,
        *,
        config: dict[str, Any] | None = None,
        cfg_type: type | None = None,
        info_batch: InfoBatch | None = None,
        tracking_uri: str | None = None,
    ) -> None:
        """Wrap a run directory; prefer :meth:`Run.load`, which checks and batches."""
        self.run_dir = run_dir if isinstance(run_dir, Path) else Path(run_dir)
        self.impl_factory = impl_factory
        self.cfg_type = cfg_type if cfg_type is not None else type(self)._cfg_type  # noqa: SLF001
        self._config = config
        self._cfg: Any = None
        self._impl: Any = MISSING
        self._info: RunInfo | None = None
        if info_batch is None:
            info_batch = InfoBatch(tracking_uri, 1)
            info_batch.runs.append(self)
        self._batch = info_batch

    def __class_getitem__(cls, params: Any) -> Any:
        """``Run[Config]`` / ``Run[Config, Impl]``: a Run class whose ``cfg`` is typed by ``Config``."""
        if not isinstance(params, tuple):
            params = (params, Any)  # Run[Config]: the impl type defaults to Any
        alias = super().__class_getitem__(params)  # type: ignore[misc]
        first = params[0]
        if not isinstance(first, type) or isinstance(first, TypeVar):
            return alias
        typed = cls._typed.get((cls, first))
        if typed is None:
            typed = type(f"{cls.__name__}[{first.__name__}]", (cls,), {"_cfg_type": first})
            cls._typed[(cls, first)] = typed
        return typed

    def __repr__(self) -> str:
        """``Run('<run id>')``."""
        return f"{type(self).__name__}({self.run_id!r})"

    # ------------------------------------------------------------------ loading

    @overload
    @classmethod
    def load(  # type: ignore[overload-overlap]
        cls: type[R],
        run_dir: str | os.PathLike[str],
        impl_factory: ImplFactory | None = ...,
        *,
        cfg_type: type | None = ...,
        tracking_uri: str | os.PathLike[str] | None = ...,
        index: bool | str | os.PathLike[str] = ...,
        n_jobs: int | None = ...,
    ) -> R: ...

    @overload
    @classmethod
    def load(
        cls: type[R],
        run_dir: Iterable[str | os.PathLike[str]],
        impl_factory: ImplFactory | None = ...,
        *,
        cfg_type: type | None = ...,
        tracking_uri: str | os.PathLike[str] | None = ...,
        index: bool | str | os.PathLike[str] = ...,
        n_jobs: int | None = ...,
    ) -> RunCollection[R]: ...

    @classmethod
    def load(
        cls,
        run_dir: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        impl_factory: ImplFactory | None = None,
        *,
        cfg_type: type | None = None,
        tracking_uri: str | os.PathLike[str] | None = None,
        index: bool | str | os.PathLike[str] = False,
        n_jobs: int | None = None,
    ) -> Self | RunCollection[Self]:
        """Load one run (a path) or a :class:`RunCollection` (an iterable of paths).

        Args:
            run_dir: A run directory (``.../<experiment id>/<run id>``, containing ``artifacts/``), or an
                iterable of them such as :func:`iter_run_dirs`.
            impl_factory: Builds ``run.impl`` lazily: called with the run's artifacts directory, or with the
                artifacts directory and ``run.cfg`` if it takes two arguments.
            cfg_type: A dataclass (or attrs class) that types ``run.cfg``; same as ``Run[cfg_type].load``.
            tracking_uri: Where ``run.info`` is read from for runs of a sqlite or server store (file-store
                runs
                carry their own files). Default: MLflow's active tracking URI.
            index: Keep a Parquet index of the parsed configs, invalidated by each config file's modification
                time: True for the default cache directory (``$HYDRAFLOW_CACHE_DIR`` or
                ``~/.cache/hydraflow``), or a directory.
            n_jobs: Threads reading files (default: :func:`default_n_jobs`).

        Returns:
            A :class:`Run` for a path, a :class:`RunCollection` for an iterable.

        Raises:
            RunLoadError: A single run directory has no readable config (collections skip such runs with a
                :class:`CorruptRunWarning` instead).
        """
        uri = resolve_tracking_uri(tracking_uri)  # fixed now: a later set_tracking_uri does not move it
        jobs = default_n_jobs() if n_jobs is None else max(1, n_jobs)
        if isinstance(run_dir, (str, os.PathLike)):
            path = Path(run_dir)
            try:
                config = read_config(path)
            except BadRunError as exc:
                raise RunLoadError(str(exc)) from None
            return cls(path, impl_factory, config=config, cfg_type=cfg_type, tracking_uri=uri)

        cache_dir: Path | None = None
        if index is True:
            cache_dir = default_cache_dir()
        elif index is not False:
            cache_dir = Path(index)
        batch = InfoBatch(uri, jobs)
        dirs = [p if isinstance(p, Path) else Path(p) for p in run_dir]
        with gc_paused():
            loaded = load_configs(dirs, n_jobs=jobs, cache_dir=cache_dir)
            runs = [
                cls(d, impl_factory, config=cfg, cfg_type=cfg_type, info_batch=batch) for d, cfg in loaded
            ]
        batch.runs = list(runs)
        return RunCollection(runs)

    # ------------------------------------------------------------------ components

    @property
    def run_id(self) -> str:
        """The MLflow run id (the run directory's name)."""
        return self.run_dir.name

    @property
    def config(self) -> dict[str, Any]:
        """The raw config as parsed from ``.hydra/config.yaml`` (plain dicts and lists; do not modify)."""
        if self._config is None:
            try:
                self._config = read_config(self.run_dir)
            except BadRunError as exc:
                raise RunLoadError(str(exc)) from None
        return self._config

    @property
    def cfg(self) -> DictConfig:
        """The config as an OmegaConf ``DictConfig`` (typed by ``cfg_type``), created on first use."""
        if self._cfg is None:
            from omegaconf import OmegaConf

            from hydraflow.tracking.ids import register_resolver

            register_resolver()  # saved configs may use ${hydraflow.id:...}
            cfg: Any = OmegaConf.create(self.config)
            if self.cfg_type is not None:
                # Any reason the config does not fit the class is re-raised below as RunLoadError, naming the
                # run and the class (and chained: nothing is hidden).
                try:
                    schema = OmegaConf.structured(self.cfg_type)
                    OmegaConf.set_struct(schema, value=False)  # keys the class does not declare are kept
                    cfg = OmegaConf.merge(schema, cfg)
                except Exception as exc:
                    msg = (
                        f"config of run {self.run_id} ({config_file(self.run_dir)}) does not fit "
                        f"{self.cfg_type.__name__}: {exc}"
                    )
                    raise RunLoadError(msg) from exc
            self._cfg = cfg
        return cast("DictConfig", self._cfg)

    @property
    def info(self) -> RunInfo:
        """What the tracking store recorded (status, times, params, tags, latest metrics).

        Read on first access, for all runs loaded together (one batch per load).
        """
        if self._info is None:
            self._batch.load()
            if self._info is None:  # a run created by hand and added to no batch
                self._info = read_infos([self.run_dir], self._batch.tracking_uri, 1)[self.run_dir]
        return self._info

    @property
    def impl(self) -> I:
        """The object built by ``impl_factory`` (None without one), created on first use."""
        if self._impl is MISSING:
            factory = self.impl_factory
            if factory is None:
                self._impl = None
            else:
                artifacts = self.path()  # a remote run's artifacts are fetched first
                if _n_positional(factory) >= 2:  # noqa: PLR2004
                    self._impl = factory(artifacts, self.cfg)  # type: ignore[call-arg]
                else:
                    self._impl = factory(artifacts)  # type: ignore[call-arg]
        return cast("I", self._impl)

    # ------------------------------------------------------------------ values

    def _from_config(self, key: str) -> Any:  # noqa: PLR0911
        value = lookup_plain(self.config, key.split("."))
        if value is MISSING:
            if self.cfg_type is not None:
                from omegaconf import OmegaConf

                found = OmegaConf.select(self.cfg, key, default=MISSING)
                if found is not MISSING:
                    return OmegaConf.to_container(found) if OmegaConf.is_config(found) else found
            return MISSING
        if _has_interpolation(value):
            from omegaconf import OmegaConf
            from omegaconf.errors import OmegaConfBaseException

            try:
                found = OmegaConf.select(self.cfg, key, default=MISSING)
                if OmegaConf.is_config(found):
                    return OmegaConf.to_container(found, resolve=True)
            except OmegaConfBaseException:  # unresolvable, e.g. ${hydra:...} outside Hydra: keep the raw text
                return value
            return value if found is MISSING else found
        if self.cfg_type is not None:
            return self.typed_value(key, value)
        return value

    def typed_value(self, key: str, value: Any) -> Any:
        """``value`` (read from the saved YAML at ``key``) as ``cfg_type`` types it, like ``run.cfg`` does.

        A field declared ``float`` gives a float for a YAML ``1``, an ``Enum`` field its member, a ``Path``
        field a ``Path``; keys the class does not type (``Any``, undeclared) keep the YAML value. Only the
        one value is converted: the whole ``DictConfig`` is built only for a typed container (a nested
        dataclass or a typed list/dict), or to report a value that does not fit the class.
        """
        if self.cfg_type is None:
            return value
        node = _schema_node(self.cfg_type, key)
        if node is None:
            return value
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        if node is not _CONTAINER:
            try:
                return node.validate_and_convert(value)
            except (OmegaConfBaseException, ValueError, TypeError):  # self.cfg below raises RunLoadError
                pass  # naming the run and the class

        found = OmegaConf.select(self.cfg, key, default=MISSING)
        if OmegaConf.is_config(found):
            return OmegaConf.to_container(found, resolve=True)
        return value if found is MISSING else found

    def lookup(self, key: str) -> Any:
        """Like :meth:`get`, but returns :data:`MISSING` for a key found nowhere."""
        key = key.replace("__", ".")
        value = self._from_config(key)
        if value is not MISSING:
            return value
        if key in ("run_id", "run_dir", "cfg", "impl", "info"):
            return getattr(self, key)
        if self.impl_factory is not None:
            value = _lookup_object(self.impl, key)
            if value is not MISSING:
                return value
        if key.split(".", 1)[0] in INFO_KEYS:  # other keys never make the tracking store be read
            return _lookup_object(self.info, key)
        return MISSING

    def get(self, key: str, default: Any = MISSING) -> Any:
        """A value by dotted key (``"model.lr"``; ``"model__lr"`` is the same key).

        Looked up in the config, then in ``impl``, then in ``info`` (``"status"``, ``"metrics.loss"``,
        ``"params.model.lr"``, ``"tags.hydraflow.fingerprint"``, ``"start_time"``, ...). ``"run_id"``,
        ``"run_dir"``, ``"cfg"``, ``"impl"`` and ``"info"`` are also understood. Only keys starting with a
        :class:`RunInfo` field name (or ``job_name`` / ``duration``) read the tracking store.

        Args:
            key: The key.
            default: Returned when the key is found nowhere; a callable default is called with the run.

        Raises:
            KeyError: The key is found nowhere and no default was given (names the key and the run).
        """
        value = self.lookup(key)
        if value is not MISSING:
            return value
        if default is not MISSING:
            return default(self) if callable(default) else default
        key = key.replace("__", ".")
        msg = f"key {key!r} not found in run {self.run_id} ({self.run_dir}): not in its config, impl or info"
        raise KeyError(msg)

    def __getitem__(self, key: str) -> Any:
        """``run[key]`` is ``run.get(key)``."""
        return self.get(key)

    def to_dict(self, *, flatten: bool = True) -> dict[str, Any]:
        """The config as a dict; flattened to dotted keys (``{"model.lr": 0.1}``) by default."""
        cfg = self.config
        if _has_interpolation(cfg):
            from omegaconf import OmegaConf
            from omegaconf.errors import OmegaConfBaseException

            with contextlib.suppress(
                OmegaConfBaseException
            ):  # unresolvable (${hydra:...}): keep the raw text
                cfg = OmegaConf.to_container(self.cfg, resolve=True)  # type: ignore[assignment]
        return flatten_dict(cfg) if flatten else dict(cfg)

    # ------------------------------------------------------------------ artifacts

    def path(self, relative: str | os.PathLike[str] = "") -> Path:
        """A path inside the run's artifact directory (``<run dir>/artifacts/<relative>``).

        For a run whose artifacts are not on this machine (a server with proxied artifacts, S3...), the file
        or directory is fetched into the artifact cache first, once per run state (see :mod:`~.remote`).
        """
        remote.ensure(self.run_dir, relative, lambda: self.info)
        return self.run_dir / "artifacts" / relative

    def iterdir(self, relative: str = "") -> Iterator[Path]:
        """The entries of an artifact directory."""
        yield from self.path(relative).iterdir()

    def glob(self, pattern: str, relative: str = "") -> Iterator[Path]:
        """Artifact paths matching a glob pattern."""
        yield from self.path(relative).glob(pattern)


def _n_positional(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params):
        return 2
    return sum(1 for p in params if p.kind in kinds)
