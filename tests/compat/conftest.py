"""Fixtures of the HydraFlow 0.23 compatibility tests: hand-written run directories and real MLflow stores."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def write_run(root: Path, name: str, cfg: dict[str, Any] | None, exp: str = "1") -> Path:
    """A run directory ``root/exp/name`` with ``artifacts/.hydra/config.yaml`` (none if ``cfg`` is None)."""
    d = root / exp / name
    (d / "artifacts" / ".hydra").mkdir(parents=True)
    if cfg is not None:
        (d / "artifacts" / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return d


@pytest.fixture
def make_run() -> Callable[..., Path]:
    return write_run
