"""``hydra/launcher=hydraflow_local|hydraflow_slurm|hydraflow_pbs`` in Hydra's ConfigStore.

The configs (each field declared once, and the ``_target_`` Launcher class) are the dataclasses of
:mod:`hydraflow.launch.config`, which imports only the standard library and ``hydra.errors``: Hydra imports
this module at every application start.
"""

from hydra.core.config_store import ConfigStore

from hydraflow.launch.config import LocalConfig, PBSConfig, SlurmConfig

_store = ConfigStore.instance()
_store.store(group="hydra/launcher", name="hydraflow_local", node=LocalConfig, provider="hydraflow")
_store.store(group="hydra/launcher", name="hydraflow_slurm", node=SlurmConfig, provider="hydraflow")
_store.store(group="hydra/launcher", name="hydraflow_pbs", node=PBSConfig, provider="hydraflow")
