"""Run under torchrun by dts_search.py: one short `search.py distributed=dts` fit per (round,
latency, arm) in one pair of processes; each rank appends, per fit, every step's wall time and
the link's wait during it (weight and architecture exchanges both) to steps.rank<r>.jsonl."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from hwnas.runs.search_run import build_search

CONF = str(Path(__file__).resolve().parents[1] / "conf")


class StepClock(pl.Callback):
    """Wall time and the link's cumulative wait at the end of every training batch (a weight
    step and, every `arch_update.every` batches, an architecture step)."""

    def __init__(self) -> None:
        self.ends: list[float] = []
        self.waits: list[float] = []

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self.ends.append(time.perf_counter())
        self.waits.append(trainer.strategy.engine.link.stats.wait_s)


def fit(args: argparse.Namespace, latency_ms: float, arm: str, out: Path) -> dict[str, Any]:
    overrides = [
        "trainer=ddp",
        "trainer.devices=2",
        "trainer.accelerator=cpu",
        "+trainer.num_nodes=1",
        "+trainer.enable_progress_bar=false",
        "+trainer.enable_checkpointing=false",
        f"search_space={args.space}",
        "dataset=synthetic",
        "dataset.train_size=4096",
        f"dataset.batch_size={args.batch}",
        f"dataset.arch_batch_size={args.batch}",
        "hardware=flops",
        "epochs=1",
        "arch_update.warmup_epochs=0",
        # the MNIST recipe's form and learning rates, as the figures in benchmarks/README.md
        "cost_loss=add_linear",
        "optimizer.lr=0.05",
        "arch_update.optimizer.lr=0.1",
        f"++trainer.limit_train_batches={args.steps}",
        "++trainer.limit_val_batches=0",
        "distributed=dts",
        f"dts.delay={0 if arm == 'ssgd' else 'auto'}",
        f"wan.latency_ms={latency_ms}",
        f"paths.output_dir={out}",
    ]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="search", overrides=overrides)
    pl.seed_everything(0, workers=True)
    module, datamodule = build_search(cfg)
    clock = StepClock()
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[clock])
    trainer.fit(module, datamodule=datamodule)
    steps = [b - a for a, b in zip(clock.ends, clock.ends[1:], strict=False)]
    waits = [b - a for a, b in zip(clock.waits, clock.waits[1:], strict=False)]
    engine = trainer.strategy.engine
    return {
        "latency_ms": latency_ms,
        "arm": arm,
        "step_s": steps[args.warmup :],
        "wait_s": waits[args.warmup :],
        "delay": engine.delay,
        "shared_delay": engine.shared.delay,
        "every": module.arch_update.every,
        "paths": module.supernet.argmax_paths(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--latencies", type=float, nargs="+", required=True)
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--warmup", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--space", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    for r in range(args.rounds):
        for latency in args.latencies:
            for arm in ("ssgd", "delay"):
                record = fit(args, latency, arm, args.out / f"fit_{r}_{latency:g}_{arm}")
                with open(args.out / f"steps.rank{rank}.jsonl", "a") as f:
                    f.write(json.dumps({"round": r, **record}) + "\n")


if __name__ == "__main__":
    main()
