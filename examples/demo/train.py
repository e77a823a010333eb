"""The demo app: a tiny numpy MLP trained on synthetic data, one MLflow run per Hydra job.

python train.py                                   # one run with the defaults
python train.py -m hydra/sweeper=hydraflow 'model.lr/m=1,10,100' model.hidden=4,32
hydraflow run train                               # the sweep of hydraflow.yaml
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mlflow
from mlp import make_data, train

import hydraflow


@dataclass
class Data:
    n: int = 256  # training points
    noise: float = 0.1  # standard deviation of the label noise
    seed: int = 0


@dataclass
class Model:
    hidden: int = 16  # hidden units
    lr: float = 0.01  # Adam learning rate
    l2: float = 1e-4  # weight decay


@dataclass
class Config:
    data: Data = field(default_factory=Data)
    model: Model = field(default_factory=Model)
    steps: int = 400
    seed: int = 0


@hydraflow.main(Config)
def app(run, cfg) -> float:
    data = make_data(cfg.data.n, cfg.data.noise, cfg.data.seed)
    history = list(
        train(data, hidden=cfg.model.hidden, lr=cfg.model.lr, l2=cfg.model.l2, steps=cfg.steps, seed=cfg.seed)
    )
    for step, train_loss, val_loss in history:
        mlflow.log_metrics({"train_loss": train_loss, "val_loss": val_loss}, step=step)
    final = history[-1][2]
    print(f"run {run.info.run_id}: hidden={cfg.model.hidden} lr={cfg.model.lr:g} -> val_loss={final:.4g}")
    return final


if __name__ == "__main__":
    app()
