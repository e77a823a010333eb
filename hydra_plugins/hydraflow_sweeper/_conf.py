"""The fields of ``hydra.sweeper`` when ``hydra/sweeper=hydraflow`` is selected.

Hydra's plugin scan skips modules whose name starts with ``_``: this one is imported when Hydra first loads
the config (:mod:`.config` registers it lazily). No ``from __future__ import annotations``: OmegaConf reads
these annotations at runtime.
"""

from dataclasses import dataclass, field
from typing import Any


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
