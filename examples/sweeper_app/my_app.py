"""A tiny Hydra app for the hydraflow sweeper (configs in the repository's ``conf/``).

python examples/sweeper_app/my_app.py -m 'lr=1:3' model=cnn,vit
python examples/sweeper_app/my_app.py +experiment=lr_scan
python examples/sweeper_app/my_app.py -m 'lr=1:3' model=cnn,vit hydra.sweeper.dry_run=true
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import hydra
from hydra.core.hydra_config import HydraConfig

if TYPE_CHECKING:
    from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="../../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    job = HydraConfig.get().job
    score = cfg.lr * cfg.model.depth * (1 - cfg.wd)
    print(f"job {job.num}: model={cfg.model.name} lr={cfg.lr} wd={cfg.wd} seed={cfg.seed} score={score:.4g}")
    return score


if __name__ == "__main__":
    main()
