"""``hydraflow.core.collection`` of HydraFlow 0.23: ``Collection``, ``matches``, ``to_hashable``."""

from __future__ import annotations

from hydraflow.analysis.collection import Collection
from hydraflow.analysis.matching import matches
from hydraflow.analysis.values import to_hashable

__all__ = ["Collection", "matches", "to_hashable"]
