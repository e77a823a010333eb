"""``hydra/launcher=hydraflow_local|hydraflow_slurm|hydraflow_pbs`` in Hydra's ConfigStore.

The configs (each field declared once, and the ``_target_`` Launcher class) are the dataclasses of
:mod:`hydraflow.launch.config`. Hydra imports this module at every application start, so the names are
registered lazily (:func:`hydraflow.hydra_adapter.config_store.store_lazily`): the dataclasses are imported
and converted only when Hydra loads one of these configs.
"""

from hydraflow.hydra_adapter.config_store import store_lazily


def _local() -> type:
    from hydraflow.launch.config import LocalConfig

    return LocalConfig


def _slurm() -> type:
    from hydraflow.launch.config import SlurmConfig

    return SlurmConfig


def _pbs() -> type:
    from hydraflow.launch.config import PBSConfig

    return PBSConfig


store_lazily(group="hydra/launcher", name="hydraflow_local", schema=_local, provider="hydraflow")
store_lazily(group="hydra/launcher", name="hydraflow_slurm", schema=_slurm, provider="hydraflow")
store_lazily(group="hydra/launcher", name="hydraflow_pbs", schema=_pbs, provider="hydraflow")
