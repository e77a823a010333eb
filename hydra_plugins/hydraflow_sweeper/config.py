"""Structured config of ``hydra/sweeper=hydraflow`` (registered in Hydra's ConfigStore).

Kept tiny on purpose: Hydra imports this module at every application start. No ``from __future__ import
annotations`` here: Hydra's plugin scan executes the module outside ``sys.modules``, where dataclasses cannot
resolve string annotations.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class HydraflowSweeperConf:
    """Fields of ``hydra.sweeper`` when ``hydra/sweeper=hydraflow`` is selected."""

    _target_: str = "hydra_plugins.hydraflow_sweeper.sweeper.HydraflowSweeper"
    # jobs handed to the launcher at once (null or -1: the whole sweep in one batch)
    max_batch_size: int | None = None
    # sweep arguments by key, in the extended syntax ("1:5:1", "cnn,vit"); the command line wins per key.
    # Values may be strings, numbers, booleans, lists (a list is a comma-separated sweep) or nested
    # mappings (flattened to dotted keys). Add one on the command line with
    # '++hydra.sweeper.params.KEY="VALUE"' (Hydra removes the quotes: parentheses reach the sweeper raw).
    params: dict[str, Any] | None = field(default_factory=dict)
    # print the jobs (after validation) and launch nothing
    dry_run: bool = False
    # check every job against the app's config before the first launch
    validate: bool = True


ConfigStore.instance().store(
    group="hydra/sweeper", name="hydraflow", node=HydraflowSweeperConf, provider="hydraflow"
)
