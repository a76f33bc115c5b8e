"""Search an architecture for a target device: `python search.py hardware=flops dataset=mnist`.

Hydra composes conf/search.yaml; all logic lives in `hwnas.runs.search_run`.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from hwnas.runs.search_run import run_search, sweep_objectives


@hydra.main(version_base="1.3", config_path="conf", config_name="search")
def main(cfg: DictConfig) -> float | tuple[float, ...] | None:
    summary = run_search(cfg)
    return sweep_objectives(summary, cfg.get("objectives"))


if __name__ == "__main__":
    main()
