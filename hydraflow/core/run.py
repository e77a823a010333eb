"""``hydraflow.core.run`` of HydraFlow 0.23: :class:`Run`."""

from __future__ import annotations

from hydraflow.analysis.run import Run

__all__ = ["Run"]
