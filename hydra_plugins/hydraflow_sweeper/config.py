"""``hydra/sweeper=hydraflow`` in Hydra's ConfigStore.

Hydra imports this module at every application start, so the name is registered lazily
(:func:`hydraflow.hydra_adapter.config_store.store_lazily`): the dataclass (:mod:`._conf`) is imported and
converted only when Hydra loads the config.
"""

from hydraflow.hydra_adapter.config_store import store_lazily


def _schema() -> type:
    from hydra_plugins.hydraflow_sweeper._conf import HydraflowSweeperConf

    return HydraflowSweeperConf


store_lazily(group="hydra/sweeper", name="hydraflow", schema=_schema, provider="hydraflow")
