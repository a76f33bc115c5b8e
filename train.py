"""Train an architecture from scratch: `python train.py arch=proxyless_cifar dataset=cifar10`.

`arch` is a published name (src/hwnas/architecture/published) or a path to an arch.yaml (such as a search run's). Hydra
composes conf/train.yaml; all logic lives in `hwnas.runs.train_run`.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from hwnas.runs.train_run import run_train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    figures = run_train(cfg)
    return figures.get("test_acc")  # the value a Hydra sweeper would optimise


if __name__ == "__main__":
    main()
