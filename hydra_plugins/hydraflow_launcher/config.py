"""``hydra/launcher=hydraflow_local|hydraflow_slurm|hydraflow_pbs`` in Hydra's ConfigStore.

The fields are declared once, in :mod:`hydraflow.launch.config` (standard library only); here each config
only gets the ``_target_`` of its Launcher class. Hydra imports this module at every application start.
No ``from __future__ import annotations``: Hydra's plugin scan executes the module outside ``sys.modules``,
where dataclasses cannot resolve string annotations.
"""

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore

from hydraflow.launch.config import LocalConfig, PBSConfig, SlurmConfig

_PLUGIN = "hydra_plugins.hydraflow_launcher.launcher"


@dataclass
class LocalLauncherConf(LocalConfig):
    """``hydra/launcher=hydraflow_local``."""

    _target_: str = f"{_PLUGIN}.HydraflowLocalLauncher"


@dataclass
class SlurmLauncherConf(SlurmConfig):
    """``hydra/launcher=hydraflow_slurm``."""

    _target_: str = f"{_PLUGIN}.HydraflowSlurmLauncher"


@dataclass
class PBSLauncherConf(PBSConfig):
    """``hydra/launcher=hydraflow_pbs``."""

    _target_: str = f"{_PLUGIN}.HydraflowPBSLauncher"


_store = ConfigStore.instance()
_store.store(group="hydra/launcher", name="hydraflow_local", node=LocalLauncherConf, provider="hydraflow")
_store.store(group="hydra/launcher", name="hydraflow_slurm", node=SlurmLauncherConf, provider="hydraflow")
_store.store(group="hydra/launcher", name="hydraflow_pbs", node=PBSLauncherConf, provider="hydraflow")
