"""RunCollection: the :class:`~hydraflow.analysis.collection.Collection` of runs, with fast column reads.

This module does not import :mod:`hydraflow.analysis.run` (which imports it for ``Run.load``): what a
collection needs of its runs is the :class:`RunLike` protocol, which :class:`~hydraflow.analysis.Run` meets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from hydraflow.analysis.collection import Collection, Getter, config_keys
from hydraflow.analysis.values import MISSING, lookup_plain

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from pathlib import Path

    import polars as pl

__all__ = ["FAST_GETTERS", "RunCollection", "RunLike", "run_get"]


class RunLike(Protocol):
    """What a :class:`RunCollection` uses of its runs (:class:`~hydraflow.analysis.Run` has all of it)."""

    _config: dict[str, Any] | None  # the parsed config, read directly on the hot paths
    cfg_type: type | None

    @property
    def run_id(self) -> str:
        """The run id."""
        ...

    @property
    def config(self) -> dict[str, Any]:
        """The parsed config."""
        ...

    def lookup(self, key: str) -> Any:
        """The value of ``key``, or MISSING."""
        ...

    def get(self, key: str, default: Any = ...) -> Any:
        """The value of ``key``, else ``default``."""
        ...

    def typed_value(self, key: str, value: Any) -> Any:
        """``value`` at ``key`` as the run's config type types it."""
        ...


R = TypeVar("R", bound=RunLike)


def run_get(run: Any, key: str, default: Any = MISSING) -> Any:
    """``run.get(key, default)``: the default ``get`` of a :class:`RunCollection`."""
    return run.get(key, default)


#: ``get`` functions whose result equals the fast column read of :func:`_column` (``Run.get`` registers
#: itself when :mod:`hydraflow.analysis.run` is imported).
FAST_GETTERS: set[Callable[..., Any]] = set()


class RunCollection(Collection[R]):
    """An ordered, immutable collection of runs (a :class:`~collections.abc.Sequence`).

    Keys are dotted (``"model.lr"``, ``"metrics.loss"``; ``model__lr`` in keyword form) and are looked up like
    :meth:`Run.get`: config, then impl, then info. ``RunCollection(runs, get)`` takes HydraFlow's optional
    ``get(run, key, default)`` function; without it, runs are read column by column straight from their
    parsed configs.
    """

    _noun: ClassVar[str] = "run"

    def __init__(self, runs: Iterable[R] = (), get: Getter | None = None) -> None:
        """Collect runs (usually made by :meth:`Run.load`)."""
        super().__init__(runs, get if get is not None else run_get)
        self._fast: bool | None = None

    def _is_fast(self) -> bool:
        """Whether columns can be read from the runs' configs directly (same result as ``get``)."""
        if self._fast is None:
            get = self._get
            if get in FAST_GETTERS:
                self._fast = True
            elif get is run_get:
                self._fast = all(type(r).get in FAST_GETTERS for r in self._items)
            else:
                self._fast = False
        return self._fast

    def _lookup(self, key: str, items: list[R]) -> list[Any]:
        if self._is_fast():
            return _column(items, key)
        return super()._lookup(key, items)

    def _values(self, key: str, default: Any) -> list[Any]:
        if self._is_fast():
            runs = self._items
            col = _column(runs, key)
            return [run.get(key, default) if v is MISSING else v for run, v in zip(runs, col, strict=True)]
        return super()._values(key, default)

    def _default_keys(self) -> list[str]:
        return ["run_id", *(k for k in config_keys(self._items) if k != "run_id")]

    # ------------------------------------------------------------------ runs

    def update(self, key: str | tuple[str, ...], value: Any, *, force: bool = False) -> None:
        """:meth:`Run.update` on every run: set a config value where a run has none (or ``force``)."""
        for run in self._items:
            run.update(key, value, force=force)  # type: ignore[attr-defined]

    def concat(self, function: Callable[[R], pl.DataFrame], *keys: str | tuple[str, Any]) -> pl.DataFrame:
        """The frames of :meth:`Run.to_frame` (``function(run)`` plus ``keys``) of every run, stacked."""
        import polars as pl

        frames: list[pl.DataFrame] = [run.to_frame(function, *keys) for run in self._items]  # type: ignore[attr-defined]
        return pl.concat(frames)

    def iterdir(self, relative_dir: str = "") -> Iterator[Path]:
        """The entries of an artifact directory of every run."""
        for run in self._items:
            yield from run.iterdir(relative_dir)  # type: ignore[attr-defined]

    def glob(self, pattern: str, relative_dir: str = "") -> Iterator[Path]:
        """The artifact paths of every run matching a glob pattern."""
        for run in self._items:
            yield from run.glob(pattern, relative_dir)  # type: ignore[attr-defined]


def _column(runs: list[R], key: str) -> list[Any]:
    """``[run.lookup(key) for run in runs]``, walking the raw configs directly where possible."""
    parts = key.replace("__", ".").split(".")
    out: list[Any] = []
    append = out.append
    for run in runs:
        cfg = run._config  # noqa: SLF001 - the fast path of this package's own Run
        value = MISSING if cfg is None else lookup_plain(cfg, parts)
        if value is MISSING or isinstance(value, (dict, list)) or (isinstance(value, str) and "${" in value):
            value = run.lookup(key)  # missing (maybe in impl/info), a container or an interpolation
        elif run.cfg_type is not None:
            value = run.typed_value(key, value)
        append(value)
    return out
