"""Fixtures of the job-file tests."""

from __future__ import annotations

import pytest

APP = """\
from dataclasses import dataclass, field

import mlflow

import hydraflow


@dataclass
class Sub:
    z: float = 0.0


@dataclass
class Config:
    x: int = 0
    y: str = "a"
    fail: bool = False
    sub: Sub = field(default_factory=Sub)


@hydraflow.main(Config)
def app(run, cfg):
    mlflow.log_metric("score", cfg.x * 10 + (1 if cfg.y == "b" else 0))
    if cfg.fail or cfg.x == 9:
        raise RuntimeError("boom")


if __name__ == "__main__":
    app()
"""


@pytest.fixture
def tracked_app() -> str:
    """The source of a small Hydra app tracked with @hydraflow.main (config x, y, fail, sub.z; metric score; x=9 fails)."""
    return APP
