"""Sharpness of trained networks against the delayed update's step-size limits: the top
eigenvalue of the training loss's Hessian at a `train.py` checkpoint, times the run's peak
learning rate, beside the limits of synchronous SGD and of the delayed update at each delay
(`hessian.py`, `delay_stability.py`).

    python benchmarks/sharpness.py RUN_DIR [RUN_DIR ...] [--batches 16] [--iterations 20]

RUN_DIR is a `train.py` run directory: its `config.yaml` gives the data set, the batch size
(per process), the learning rate and momentum, and `checkpoints/last.ckpt` the weights. The loss
is the mean cross-entropy over `--batches` training batches drawn once, in training mode
(BatchNorm on each batch's statistics, as the optimiser saw it), without label smoothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from common import machine_line, markdown_table
from delay_stability import largest_stable_step
from hessian import top_hessian_eigenvalue
from hydra.utils import instantiate
from omegaconf import OmegaConf

from hwnas.evaluation.checkpoint import load_trained_network

DELAYS = (0, 1, 2, 5, 16)


def measure(run: Path, batches: int, iterations: int) -> tuple[list[str], str]:
    config = run / "config.yaml"
    checkpoint = run / "checkpoints" / "last.ckpt"
    for path in (config, checkpoint):
        if not path.exists():
            raise SystemExit(f"{path} is missing: pass a train.py run directory")
    cfg = OmegaConf.load(config)
    network = load_trained_network(checkpoint, weights="model")
    datamodule = instantiate(cfg.dataset)
    datamodule.setup("fit")
    torch.manual_seed(0)
    drawn = []
    for inputs, targets in datamodule.train_dataloader():
        drawn.append((inputs, targets))
        if len(drawn) == batches:
            break
    model = network.model.train()
    top, _ = top_hessian_eigenvalue(model, drawn, iterations=iterations)
    lr, momentum = float(cfg.optimizer.lr), float(cfg.optimizer.get("momentum", 0.0))
    nesterov = bool(cfg.optimizer.get("nesterov", False))
    limits = [largest_stable_step(t, momentum, nesterov) for t in DELAYS]
    row = [
        run.name,
        str(network.epoch),
        f"{len(drawn)} x {cfg.dataset.batch_size}",
        f"{top:.2f}",
        f"{lr:g}",
        f"{lr * top:.3f}",
        *(f"{limit:.3f}{' (over)' if lr * top > limit else ''}" for limit in limits),
    ]
    return row, f"momentum {momentum:g}{' Nesterov' if nesterov else ''}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows, optimisers = [], set()
    for run in args.runs:
        row, optimiser = measure(run, args.batches, args.iterations)
        rows.append(row)
        optimisers.add(optimiser)
    print("#### Top Hessian eigenvalue at the last checkpoint against the step-size limits\n")
    print(
        markdown_table(
            [
                "run",
                "epoch",
                "batches",
                "top eigenvalue",
                "peak lr",
                "lr x top",
                *(f"limit t = {t}" for t in DELAYS),
            ],
            rows,
        )
    )
    print(f"\nOptimiser: {', '.join(sorted(optimisers))}. " + machine_line(torch.device("cpu"), 1))


if __name__ == "__main__":
    main()
