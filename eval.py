"""Evaluate a trained checkpoint: `python eval.py ckpt_path=outputs/train/<run>/checkpoints/last.ckpt`.

Reports top-1/top-5 on the test split, parameters, multiply-adds, latency on `hardware=`
(measured end to end, with the latency model's prediction beside it) and checks an ONNX export
against PyTorch; writes `eval.json`. Hydra composes conf/eval.yaml; all logic lives in
`hwnas.runs.eval_run`.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from hwnas.runs.eval_run import run_eval


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> float | None:
    figures = run_eval(cfg)
    return figures.get("test_top1")


if __name__ == "__main__":
    main()
