"""Stage B of the N x M workflow: run one sampler on one target built by stage A.

The job computes its target's id from the same keys as stage A (``${hydraflow.id:model,data,seed}``) and looks
the target up among the FINISHED runs of the ``build`` experiment with :mod:`hydraflow.analysis`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import mlflow
import numpy as np
from targets import exact_integral, sample_points

import hydraflow
from hydraflow import Run, iter_run_dirs


@dataclass
class Config:
    model: str = "linear"
    data: str = "sine"
    seed: int = 0
    sampler: str = "uniform"  # uniform | grid | antithetic
    n_samples: int = 64
    target_id: str = "${hydraflow.id:model,data,seed}"


def find_target(target_id: str) -> Run:
    """The FINISHED stage-A run that built ``target_id`` (a clear error when there is none)."""
    builds = Run.load(iter_run_dirs("build")).filter(target_id=target_id)
    finished = [r for r in builds if r.info.status == "FINISHED"]
    if not finished:
        msg = f"no FINISHED build run has target_id={target_id}: run `hydraflow run build-target` first"
        raise LookupError(msg)
    return finished[-1]


@hydraflow.main(Config)
def sample(run, cfg) -> float:  # noqa: ARG001 - the runtime passes the MLflow run
    target = find_target(cfg.target_id)
    coefficients = np.array(json.loads(target.path("target.json").read_text())["coefficients"])
    points = sample_points(cfg.sampler, cfg.n_samples, cfg.seed)
    estimate = 2.0 * float(np.polyval(coefficients, points).mean())  # the interval [-1, 1] has length 2
    error = abs(estimate - exact_integral(coefficients))
    mlflow.set_tag("target_run_id", target.run_id)
    mlflow.log_metrics({"estimate": estimate, "abs_error": error})
    print(f"target {cfg.target_id} (run {target.run_id}), sampler {cfg.sampler}: |error| = {error:.3g}")
    return error


if __name__ == "__main__":
    sample()
