"""A single MLflow run of a Hydra job: its config, its tracking-store info and an optional implementation."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast, overload

from typing_extensions import Self, TypedDict, Unpack

from hydraflow import settings
from hydraflow.analysis import remote
from hydraflow.analysis._errors import CorruptRunWarning, MissingKeyError, RunLoadError
from hydraflow.analysis.info import INFO_KEYS
from hydraflow.analysis.loading import (
    BadRunError,
    config_file,
    default_cache_dir,
    gc_paused,
    load_all_configs,
    parse_config,
    read_config,
)
from hydraflow.analysis.run_collection import FAST_GETTERS, RunCollection
from hydraflow.analysis.store import read_infos
from hydraflow.analysis.values import MISSING, as_plain, flatten_dict, lookup_plain
from hydraflow.store.uri import resolve_tracking_uri, working_dir

if TYPE_CHECKING:
    import polars as pl
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


def is_structured(cfg_type: Any) -> bool:
    """Whether OmegaConf can type a config by ``cfg_type``: a dataclass or an attrs class.

    Any other class (``DictConfig``, a plain class with annotations) only names the config's type for the
    type checker, as in HydraFlow: ``run.cfg`` then holds the YAML's values as they are.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class A:
    ...     x: int = 0
    >>> is_structured(A), is_structured(dict), is_structured(A())
    (True, False, False)
    """
    if not isinstance(cfg_type, type):
        return False
    return dataclasses.is_dataclass(cfg_type) or hasattr(cfg_type, "__attrs_attrs__")


def _read_lazily(run_dir: Path) -> dict[str, Any]:
    """A run's config read on first use: empty when it has none (as in HydraFlow), else parsed.

    Raises:
        RunLoadError: The config exists but is broken (not YAML, or not a mapping).
    """
    try:
        return read_config(run_dir)
    except BadRunError:
        path = config_file(run_dir)
        if not path.is_file():  # no directory or no config: an empty config
            return {}
        try:  # a file-store run without meta.yaml: its config is still readable
            return parse_config(path.read_bytes(), path)
        except (BadRunError, OSError) as exc:
            raise RunLoadError(str(exc)) from None


def _recover(run_dir: Path, problem: str) -> tuple[dict[str, Any] | None, str]:
    """What a collection keeps of a bad run: (its config or None when broken, what the warning says)."""
    path = config_file(run_dir)
    if not path.is_file():
        return {}, f"{problem}: the run is kept, with an empty config"
    try:
        return parse_config(path.read_bytes(), path), f"{problem}: the run is kept"
    except (BadRunError, OSError):
        return None, f"{problem}: the run is kept, and its config raises RunLoadError when used"


def _set_plain(config: Any, key: str, value: Any) -> None:
    """Set a dotted key in plain dicts, creating the dicts on the way (a list index sets an element).

    >>> d = {"a": {"b": 1}, "l": [1, 2]}
    >>> _set_plain(d, "a.c.d", 2); _set_plain(d, "l.0", 9); d
    {'a': {'b': 1, 'c': {'d': 2}}, 'l': [9, 2]}
    """
    *parents, last = key.split(".")
    node = config
    for part in parents:
        if isinstance(node, list) and part.lstrip("-").isdigit():
            node = node[int(part)]
            continue
        if not isinstance(node, dict):
            msg = f"cannot set {key!r}: {part!r} is inside a {type(node).__name__}, not a mapping"
            raise TypeError(msg)
        child = node.get(part)
        if not isinstance(child, (dict, list)):
            child = node[part] = {}
        node = child
    if isinstance(node, list) and last.lstrip("-").isdigit():
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        msg = f"cannot set {key!r}: its parent is a {type(node).__name__}, not a mapping"
        raise TypeError(msg)


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


def _warn(message: str) -> None:
    warnings.warn(message, CorruptRunWarning, stacklevel=4)


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


class LoadOptions(TypedDict, total=False):
    """The keyword options of :meth:`Run.load` (documented there), as its overloads see them."""

    cfg_type: type | None
    tracking_uri: str | os.PathLike[str] | None
    index: bool | str | os.PathLike[str]
    n_jobs: int | None
    strict: bool


class Run(Generic[C, I]):
    """One run: ``cfg`` (its Hydra config), ``info`` (what MLflow recorded) and ``impl`` (your object).

    Create runs with :meth:`Run.load`. ``Run[MyConfig].load(...)`` (or ``cfg_type=MyConfig``) gives ``cfg``
    the structure and types of a dataclass (or attrs class); any other class only names the type for the type
    checker, as in HydraFlow (``Run[DictConfig]``).
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
        """Wrap a run directory (nothing is read until used); :meth:`Run.load` loads many runs in one go."""
        self.run_dir = run_dir if isinstance(run_dir, Path) else Path(run_dir)
        self.impl_factory = impl_factory
        cfg_type = cfg_type if cfg_type is not None else type(self)._cfg_type  # noqa: SLF001
        self.cfg_type = cfg_type if is_structured(cfg_type) else None
        self._config = config
        self._problem: str | None = None  # why a config kept by a collection cannot be used
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
        if not is_structured(first):  # Run[DictConfig], Run[PlainClass], Run[C]: typing only
            return alias
        typed = cls._typed.get((cls, first))
        if typed is None:
            name = f"{cls.__name__}[{first.__name__}]"
            typed = type(name, (cls,), {"_cfg_type": first, "_origin": cls._origin_class()})
            cls._typed[(cls, first)] = typed
        return typed

    @classmethod
    def _origin_class(cls) -> type:
        """The class itself, or the class ``Run[Config]`` was made from."""
        origin: type | None = cls.__dict__.get("_origin")
        return origin if origin is not None else cls

    def __repr__(self) -> str:
        """``Run('<run id>')``; ``Run[Impl]('<run id>')`` when the impl factory is a class (HydraFlow's)."""
        name = type(self)._origin_class().__name__  # noqa: SLF001
        if isinstance(self.impl_factory, type):
            name = f"{name}[{self.impl_factory.__name__}]"
        return f"{name}({self.run_id!r})"

    # ------------------------------------------------------------------ loading

    @overload
    @classmethod
    def load(  # type: ignore[overload-overlap]
        cls: type[R],
        run_dir: str | os.PathLike[str],
        impl_factory: ImplFactory | None = ...,
        **options: Unpack[LoadOptions],
    ) -> R: ...

    @overload
    @classmethod
    def load(
        cls: type[R],
        run_dir: Iterable[str | os.PathLike[str]],
        impl_factory: ImplFactory | None = ...,
        **options: Unpack[LoadOptions],
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
        strict: bool = False,
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
            n_jobs: Threads reading files (default: :func:`default_n_jobs`; -1: one per CPU).
            strict: Check the configs now. Without it (HydraFlow's behaviour), one run is read when first
                used and a run directory without a config has an empty one; a collection keeps every run,
                with a :class:`CorruptRunWarning` for each one whose config is missing or broken (a broken
                one raises :class:`RunLoadError` when used). With it, a single run without a readable config
                raises :class:`RunLoadError` at once, and a collection leaves such runs out (with the
                warning).

        Returns:
            A :class:`Run` for a path, a :class:`RunCollection` for an iterable.

        Raises:
            RunLoadError: ``strict`` and a single run directory has no readable config.
        """
        uri = resolve_tracking_uri(tracking_uri)  # fixed now: a later set_tracking_uri does not move it
        jobs = default_n_jobs() if n_jobs is None else n_jobs if n_jobs > 0 else os.cpu_count() or 1
        if isinstance(run_dir, (str, os.PathLike)):
            path = Path(run_dir)
            config = None
            if strict:
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
            loaded = load_all_configs(dirs, n_jobs=jobs, cache_dir=cache_dir)
            runs = []
            for d, cfg, problem in loaded:
                if cfg is None:  # rare: the checks and the warning
                    if strict:
                        _warn(f"skipped run: {problem}")
                        continue
                    kept, message = _recover(d, problem or f"{d}: unknown problem")
                    _warn(f"{message} (strict=True leaves such runs out)")
                    run = cls(d, impl_factory, config=kept, cfg_type=cfg_type, info_batch=batch)
                    run._problem = None if kept is not None else problem
                else:
                    run = cls(d, impl_factory, config=cfg, cfg_type=cfg_type, info_batch=batch)
                runs.append(run)
        batch.runs = list(runs)
        return RunCollection(runs)

    # ------------------------------------------------------------------ components

    @property
    def run_id(self) -> str:
        """The MLflow run id (the run directory's name)."""
        return self.run_dir.name

    @property
    def config(self) -> dict[str, Any]:
        """The raw config as parsed from ``.hydra/config.yaml`` (plain dicts and lists; change it only with
        :meth:`update`). Empty when the run has no config file.

        Raises:
            RunLoadError: The config file is broken.
        """  # noqa: D205
        if self._config is None:
            if self._problem is not None:
                raise RunLoadError(self._problem)
            self._config = _read_lazily(self.run_dir)
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

    @cfg.setter
    def cfg(self, value: Any) -> None:
        """Replace the config (an OmegaConf container or plain data): ``get`` and the frames read it."""
        from omegaconf import OmegaConf

        self._cfg = value if OmegaConf.is_config(value) else OmegaConf.create(value)
        self._config = cast("dict[str, Any]", as_plain(self._cfg))
        self._problem = None

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
        """Like :meth:`get`, but returns :data:`MISSING` for a key found nowhere, and config containers as
        plain dicts and lists (the fast path of the collections and frames).
        """  # noqa: D205
        key = key.replace("__", ".")
        value = self._from_config(key)
        if value is not MISSING:
            return value
        return self._lookup_elsewhere(key)

    def _lookup_elsewhere(self, key: str) -> Any:
        if key in ("run_id", "run_dir", "cfg", "impl", "info"):
            return getattr(self, key)
        if key == "run":
            return self
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
        ``"params.model.lr"``, ``"tags.hydraflow.fingerprint"``, ``"start_time"``, ...), then among the run's
        own attributes. ``"run_id"``, ``"run_dir"``, ``"cfg"``, ``"impl"``, ``"info"`` and ``"run"`` (the
        run itself) are also understood.
        Only keys starting with a :class:`RunInfo` field name (or ``job_name`` / ``duration``) read the
        tracking store. A config value that is a mapping or a list comes as a node of :attr:`cfg`
        (``DictConfig`` / ``ListConfig``, as in HydraFlow: ``run.get("model").lr`` works).

        Args:
            key: The key.
            default: Returned when the key is found nowhere; a callable default is called with the run.

        Raises:
            MissingKeyError: The key is found nowhere and no default was given (an :class:`AttributeError`
                as in HydraFlow, and a :class:`KeyError`; the message names the key and the run).
        """
        key = key.replace("__", ".")
        value = self._from_config(key)
        if value is not MISSING:
            if isinstance(value, (dict, list)):
                return self._node(key, value)
            return value
        value = self._lookup_elsewhere(key)
        if value is not MISSING:
            return value
        if "." not in key and not key.startswith("_"):  # the run's own attributes (HydraFlow's last resort)
            attr = getattr(self, key, MISSING)
            if attr is not MISSING and not callable(attr):
                return attr
        if default is not MISSING:
            return default(self) if callable(default) else default
        msg = f"key {key!r} not found in run {self.run_id} ({self.run_dir}): not in its config, impl or info"
        raise MissingKeyError(msg)

    def _node(self, key: str, value: Any) -> Any:
        """The node of :attr:`cfg` at ``key`` (``value``, the plain container, if cfg cannot give it)."""
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        try:
            node = OmegaConf.select(self.cfg, key, default=MISSING)
        except OmegaConfBaseException:
            return value
        return value if node is MISSING else node

    def __getitem__(self, key: str) -> Any:
        """``run[key]`` is ``run.get(key)``."""
        return self.get(key)

    def update(self, key: str | tuple[str, ...], value: Any, *, force: bool = False) -> None:
        """Set a config value where the run has none (``force``: always); the file is not changed.

        ``run.update("model.lr", 0.1)`` sets one key (``model__lr`` works too); ``run.update(("a", "b"),
        [1, 2])`` several. ``value`` may be a function of the run, called only when a value is set (for
        several keys it returns their values). Used to give old runs a key that newer runs have.

        Raises:
            TypeError: Several keys, and ``value`` is not an iterable of values (or returns none).
        """
        if isinstance(key, str):
            key = key.replace("__", ".")
            if force or not self._has(key):
                self._set(key, value(self) if callable(value) else value)
            return
        keys = [k.replace("__", ".") for k in key]
        if not force and all(self._has(k) for k in keys):
            return
        values = value(self) if callable(value) else value
        if not isinstance(values, Iterable) or isinstance(values, str):
            msg = f"{values!r} is not an iterable of values for the keys {keys}"
            raise TypeError(msg)
        for k, v in zip(keys, values, strict=True):
            if force or not self._has(k):
                self._set(k, v)

    def _has(self, key: str) -> bool:
        return lookup_plain(self.config, key.split(".")) is not MISSING

    def _set(self, key: str, value: Any) -> None:
        value = as_plain(value)
        config = self.config
        if not isinstance(config, dict):
            msg = f"the config of run {self.run_id} is a {type(config).__name__}, not a mapping"
            raise TypeError(msg)
        _set_plain(config, key, value)
        if self._cfg is not None:
            from omegaconf import OmegaConf

            OmegaConf.update(self._cfg, key, value, force_add=True)

    def to_dict(self, *, flatten: bool = True) -> dict[str, Any]:
        """The config as a dict, interpolations resolved; flattened to dotted keys (``{"model.lr": 0.1}``).

        Raises:
            TypeError: The config is not a mapping.
        """
        cfg: Any = self.config
        if not isinstance(cfg, dict):
            msg = f"configuration must be a dictionary, not {type(cfg).__name__} (run {self.run_id})"
            raise TypeError(msg)
        if _has_interpolation(cfg):
            from omegaconf import OmegaConf
            from omegaconf.errors import OmegaConfBaseException

            with contextlib.suppress(OmegaConfBaseException):  # unresolvable (${hydra:...}): keep the text
                cfg = OmegaConf.to_container(self.cfg, resolve=True)
        return flatten_dict(cfg) if flatten else dict(cfg)

    # ------------------------------------------------------------------ polars

    def lit(self, key: str, default: Any = MISSING, *, dtype: Any = None) -> pl.Expr:
        """A polars literal of the value of ``key``, named ``key`` (``df.with_columns(run.lit("lr"))``)."""
        import polars as pl

        return pl.lit(as_plain(self.get(key, default)), dtype).alias(key)

    def to_frame(
        self, function: Callable[[Self], pl.DataFrame], *keys: str | tuple[str, Any]
    ) -> pl.DataFrame:
        """``function(run)`` (a polars DataFrame) plus a constant column per key (or ``(key, default)``)."""
        return function(self).with_columns(
            self.lit(k) if isinstance(k, str) else self.lit(k[0], k[1]) for k in keys
        )

    def to_frame_impl(
        self, function: Callable[[I], pl.DataFrame], *keys: str | tuple[str, Any]
    ) -> pl.DataFrame:
        """:meth:`to_frame` with ``function(run.impl)``."""
        return self.to_frame(lambda run: function(run.impl), *keys)

    # ------------------------------------------------------------------ artifacts

    def path(self, relative_path: str | os.PathLike[str] = "") -> Path:
        """A path inside the run's artifact directory (``<run dir>/artifacts/<relative_path>``).

        For a run whose artifacts are not on this machine (a server with proxied artifacts, S3...), the file
        or directory is fetched into the artifact cache first, once per run state (see :mod:`~.remote`).
        """
        remote.ensure(self.run_dir, relative_path, lambda: self.info)
        return self.run_dir / "artifacts" / relative_path

    def iterdir(self, relative_dir: str = "") -> Iterator[Path]:
        """The entries of an artifact directory."""
        yield from self.path(relative_dir).iterdir()

    def glob(self, pattern: str, relative_dir: str = "") -> Iterator[Path]:
        """Artifact paths matching a glob pattern."""
        yield from self.path(relative_dir).glob(pattern)

    @contextlib.contextmanager
    def chdir(self, relative_dir: str = "") -> Iterator[Path]:
        """Work inside the run's artifact directory (or ``relative_dir`` in it) for the block; yields it."""
        with working_dir(self.path(relative_dir)) as path:
            yield path


FAST_GETTERS.add(Run.get)


def _n_positional(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params):
        return 2
    return sum(1 for p in params if p.kind in kinds)
