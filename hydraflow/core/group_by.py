"""``hydraflow.core.group_by`` of HydraFlow 0.23: :class:`GroupBy`."""

from __future__ import annotations

from hydraflow.analysis.collection import GroupBy

__all__ = ["GroupBy"]
