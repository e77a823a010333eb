"""Structured configs registered in Hydra's ConfigStore by name, built on first use.

Hydra imports every plugin's config module at every application start, and ``ConfigStore.store`` turns
the dataclass into an OmegaConf node on the spot: for the three launchers (70 fields) that is ~10 ms, plus
~6 ms to create the dataclasses, at every start of every Hydra app in the environment, hydraflow's or not.
:func:`store_lazily` registers the name with a function that returns the dataclass: the dataclass module is
imported and the node built the first time Hydra loads that config (``hydra/launcher=hydraflow_slurm``), once
per process. What Hydra then sees is exactly what ``ConfigStore.store`` would have stored.

Only the standard library, OmegaConf and Hydra's public ``hydra.core.config_store`` are imported here. The
entries go into ``ConfigStore.repo`` (the store's own table) as a :class:`LazyConfigNode`, a ``ConfigNode``
whose ``node`` is built on first read; ``tests/sweeper/test_config_store.py`` checks this against Hydra.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hydra.core.config_store import ConfigNode, ConfigStore
from omegaconf import DictConfig, OmegaConf

Schema = Callable[[], type]
"""A function returning the structured config's dataclass (it imports the module that defines it)."""

_BUILT: dict[Schema, DictConfig] = {}


def _build(schema: Schema) -> DictConfig:
    node = _BUILT.get(schema)
    if node is None:
        node = _BUILT[schema] = OmegaConf.structured(schema())
    return node


class LazyConfigNode(ConfigNode):
    """A ConfigStore entry whose OmegaConf node is built from its dataclass the first time it is read.

    Hydra copies an entry and deep-copies its node on every load; the copies share one built node per schema
    (never handed out itself), so a config is built once per process however often Hydra loads it.
    """

    def __init__(self, *, name: str, schema: Schema, group: str | None, provider: str | None) -> None:
        """An entry named ``name`` (``<config>.yaml``) of ``group``; ``schema()`` returns its dataclass."""
        self._schema = schema
        self._node: DictConfig | None  # the node is not built here: ``None`` goes to the setter below
        super().__init__(name=name, node=None, group=group, package=None, provider=provider)  # type: ignore[arg-type]

    @property
    def node(self) -> DictConfig:
        """The structured config, built on first read."""
        if self._node is None:
            self._node = _build(self._schema)
        return self._node

    @node.setter
    def node(self, value: DictConfig | None) -> None:
        self._node = value

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its schema function (by reference); the node is built where it is read.

        Hydra's Singleton state, the ConfigStore included, is pickled for jobs that run elsewhere (submitit).
        """
        return (_restore, (self.name, self._schema, self.group, self.provider))


def _restore(name: str, schema: Schema, group: str | None, provider: str | None) -> LazyConfigNode:
    return LazyConfigNode(name=name, schema=schema, group=group, provider=provider)


def store_lazily(*, group: str, name: str, schema: Schema, provider: str) -> None:
    """Register ``group/name`` in Hydra's ConfigStore; ``schema()`` is called when Hydra first loads it.

    The same as ``ConfigStore.instance().store(group=group, name=name, node=schema(), provider=provider)``,
    without importing or converting the dataclass now.
    """
    table: dict[str, Any] = ConfigStore.instance().repo
    for part in group.split("/"):
        table = table.setdefault(part, {})
    filename = f"{name}.yaml"
    table[filename] = LazyConfigNode(name=filename, schema=schema, group=group, provider=provider)


__all__ = ["LazyConfigNode", "Schema", "store_lazily"]
