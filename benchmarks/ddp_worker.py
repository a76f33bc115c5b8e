"""One process of `ddp_scaling.py` (run alone, or under torchrun): a short train.py or search.py
run on synthetic 32x32 data; rank 0 writes images/s of the timed steps to a JSON file."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from hwnas.runs.search_run import build_search
from hwnas.runs.train_run import build_training

CONF = str(Path(__file__).resolve().parents[1] / "conf")


class StepClock(pl.Callback):
    """Wall time of the steps after `warmup` (the last step's end waits for every rank: DDP's
    all-reduce makes the ranks step in lockstep)."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end, self.steps = warmup, 0.0, 0.0, 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx: int) -> None:
        if batch_idx + 1 == self.warmup:
            self.start = time.perf_counter()
        elif batch_idx + 1 > self.warmup:
            self.end, self.steps = time.perf_counter(), batch_idx + 1 - self.warmup


def overrides(args: argparse.Namespace) -> list[str]:
    batches = args.warmup + args.steps
    size = args.batch * args.devices * batches + 64
    common = [
        "dataset=synthetic",
        "dataset.input_size=32",
        "dataset.num_classes=10",
        f"dataset.train_size={size}",
        f"dataset.batch_size={args.batch}",
        "epochs=1",
        f"trainer.limit_train_batches={batches}",
        "trainer.limit_val_batches=0",
        "trainer.accelerator=cpu",
        f"trainer.devices={args.devices}",
        "+trainer.num_nodes=1",
        "+trainer.enable_checkpointing=false",
        "+trainer.enable_progress_bar=false",
        "~logger",
        "~callbacks",
        f"paths.output_dir={args.out_dir}",
    ]
    if args.devices > 1:
        common.insert(0, "trainer=ddp")
    if args.task == "train":
        return [*common, f"arch={args.arch}"]
    # synthetic data has no recipe: the MNIST recipe's form and learning rates, as recorded
    return [
        *common,
        f"search_space={args.space}",
        "hardware=flops",
        "arch_update.warmup_epochs=0",
        "arch_update.every=5",
        "dataset.arch_fraction=0.05",
        "cost_loss=add_linear",
        "optimizer.lr=0.05",
        "arch_update.optimizer.lr=0.1",
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("task", choices=["train", "search"])
    parser.add_argument("out_dir")
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--arch", default="proxyless_mobile_cifar")
    parser.add_argument("--space", default="proxyless_cifar")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name=args.task, overrides=overrides(args))
    pl.seed_everything(0, workers=True)
    module, datamodule = (build_training if args.task == "train" else build_search)(cfg)
    clock = StepClock(args.warmup)
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[clock])
    trainer.fit(module, datamodule=datamodule)
    if int(os.environ.get("RANK", 0)) == 0:
        images = clock.steps * args.batch * args.devices
        result = {"images_per_s": images / (clock.end - clock.start), "steps": clock.steps}
        (Path(args.out_dir) / "throughput.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
