"""``hydraflow.core.run_collection`` of HydraFlow 0.23: :class:`RunCollection`."""

from __future__ import annotations

from hydraflow.analysis.run_collection import RunCollection

__all__ = ["RunCollection"]
