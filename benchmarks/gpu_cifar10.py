"""CIFAR-10 to the accuracy target on one GPU: `train_experiment=cifar10_fast`,
with the wall time at which the held-out accuracy (plain and EMA weights) first reaches the
target, every epoch's figures, and the final test accuracy on the full 10,000-image test split.

    python benchmarks/gpu_cifar10.py --data .gpu_bundle/data/cifar10-jpeg.npz    # on the GPU
    python benchmarks/gpu_cifar10.py --device cpu --quick                        # a CPU check

The data: any form `dataset=cifar10` reads (the JPEG zip, its packed .npz from gpu_bundle.sh,
torchvision's batches). Without --data, --quick uses random pixels.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from common import machine_line, markdown_table
from hydra import compose, initialize_config_dir
from omegaconf import open_dict
from train_loop import _random_cifar

from hwnas.runs.train_run import run_train

CONF = str(Path(__file__).resolve().parents[1] / "conf")
TARGET_ACC, TARGET_S = 0.93, 360.0
QUICK = [
    "dataset.train_subset=512",
    "dataset.batch_size=64",
    "dataset.arch_batch_size=64",
    "dataset.arch_fraction=0.1",
    "epochs=2",
    "module.warmup_epochs=0.5",
    "trainer.limit_test_batches=2",
]


class EpochClock(pl.Callback):
    """Appends (epoch, seconds since fit start, held-out accuracies) to a JSON-lines file."""

    def __init__(self, path: str) -> None:
        self.path, self.start = Path(path), 0.0

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_validation_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val")}
        record = {
            "epoch": trainer.current_epoch + 1,
            "seconds": time.perf_counter() - self.start,
            "val_acc": metrics.get("val/acc"),
            "val_ema_acc": metrics.get("val/ema/acc"),
        }
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")


def time_to(records: list[dict], key: str, target: float) -> str:
    hit = next((r for r in records if (r.get(key) or 0) >= target), None)
    return "not reached" if hit is None else f"{hit['seconds']:.0f} s (epoch {hit['epoch']})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--quick", action="store_true", help="a short CPU check, not a measurement")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/train.yaml")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hwnas-cifar-gpu-") as tmp:
        data = args.data or (_random_cifar(Path(tmp) / "data", 1024) if args.quick else None)
        if data is None:
            parser.error("--data is required (benchmarks/gpu_bundle.sh packs the JPEG copy)")
        clock_file = Path(tmp) / "epochs.jsonl"
        trainer = ["trainer=gpu"] if args.device == "cuda" else ["trainer.accelerator=cpu"]
        overrides = [
            "train_experiment=cifar10_fast",
            "logger=csv",
            f"dataset.data_dir={Path(data).resolve()}",
            *trainer,
            *(QUICK if args.quick else []),
            *args.overrides,
        ]
        with initialize_config_dir(config_dir=CONF, version_base="1.3"):
            cfg = compose(config_name="train", overrides=overrides)
        with open_dict(cfg):
            cfg.paths.output_dir = str(Path(tmp) / "run")
            cfg.callbacks.epoch_clock = {
                "_target_": "gpu_cifar10.EpochClock",
                "path": str(clock_file),
            }
        start = time.perf_counter()
        figures = run_train(cfg)
        total = time.perf_counter() - start
        records = [json.loads(line) for line in clock_file.read_text().splitlines()]
    rows = [
        [
            r["epoch"],
            f"{r['seconds']:.0f}",
            f"{(r['val_acc'] or 0):.2%}",
            f"{(r['val_ema_acc'] or 0):.2%}",
        ]
        for r in records
    ]
    print(f"\nCIFAR-10, {' '.join(overrides)}\n")
    print(
        markdown_table(["epoch", "s since fit start", "held-out acc", "held-out acc (EMA)"], rows)
    )
    ema = figures.get("test_ema_acc")
    print(
        f"\nTime to {TARGET_ACC:.0%} on the held-out images: {time_to(records, 'val_acc', TARGET_ACC)}"
        f" (EMA weights: {time_to(records, 'val_ema_acc', TARGET_ACC)}); whole run {total:.0f} s"
    )
    print(f"Final test top-1: {figures['test_acc']:.2%}" + (f", EMA {ema:.2%}" if ema else ""))
    best = max([figures["test_acc"], ema or 0])
    fit_s = figures["train_time_s"]
    verdict = "PASS" if best >= TARGET_ACC and fit_s <= TARGET_S else "FAIL"
    print(
        f"Target: >= {TARGET_ACC:.0%} test top-1 within {TARGET_S:.0f} s of training: {verdict} "
        f"({best:.2%} after {fit_s:.0f} s)"
    )
    print(machine_line(torch.device(args.device), torch.get_num_threads()))


if __name__ == "__main__":
    main()
