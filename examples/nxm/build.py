"""Stage A of the N x M workflow: build one target per (model, data, seed).

The target's id is ``${hydraflow.id:model,data,seed}``: the same three values always give the same id, in this
stage and in stage B. Running the stage again builds nothing new: the runtime finds the FINISHED run with the
same config fingerprint and skips the job.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
import numpy as np
from targets import fit, make_data

import hydraflow


@dataclass
class Config:
    model: str = "linear"  # linear | quadratic | cubic
    data: str = "sine"  # sine | step
    seed: int = 0
    n: int = 200  # training points of the fit
    target_id: str = "${hydraflow.id:model,data,seed}"


@hydraflow.main(Config)
def build(run, cfg) -> str:
    x, y = make_data(cfg.data, cfg.n, cfg.seed)
    coefficients = fit(cfg.model, x, y)
    residual = y - np.polyval(coefficients, x)
    mlflow.log_metric("fit_mse", float((residual**2).mean()))
    mlflow.log_dict({"target_id": cfg.target_id, "coefficients": coefficients.tolist()}, "target.json")
    print(f"built target {cfg.target_id} ({cfg.model}, {cfg.data}, seed {cfg.seed}) in run {run.info.run_id}")
    return cfg.target_id


if __name__ == "__main__":
    build()
