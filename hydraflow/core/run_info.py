"""``hydraflow.core.run_info`` of HydraFlow 0.23: :class:`RunInfo`."""

from __future__ import annotations

from hydraflow.analysis.info import RunInfo

__all__ = ["RunInfo"]
