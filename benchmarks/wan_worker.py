"""One process of `wan_scaling.py`, run under torchrun: for every round, emulated latency and
arm, a short `train.py` fit with `distributed=dts` on synthetic 32x32 data (one thread per
process); appends each fit's per-step (step s, exposed wait s) to `<out>/steps.rank<r>.jsonl`."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from hwnas.runs.train_run import build_training

CONF = str(Path(__file__).resolve().parents[1] / "conf")
ARMS = {  # the four arms of the talk's comparison; auto: the delay that hides the latency
    "ssgd": ["dts.delay=0", "dts.period=1"],
    "delay": ["dts.delay=auto", "dts.period=1"],
    "sparse": ["dts.delay=0", "dts.period={period}"],
    "both": ["dts.delay=auto", "dts.period={period}"],
}


def arm_overrides(arm: str, latency_ms: float, args: argparse.Namespace) -> tuple[list[str], int]:
    """Hydra overrides of one fit, and its number of batches (warm-up of dts.delay=auto and
    `skip` steps before the `steps` that are kept)."""
    warmup = args.warmup * (args.period if "period={period}" in ARMS[arm][1] else 1)
    warmup = warmup if "auto" in ARMS[arm][0] else 0
    batches = warmup + args.skip + args.steps
    size = args.batch * 2 * batches + 64
    overrides = [
        "trainer=ddp", "trainer.devices=2", "trainer.accelerator=cpu", "+trainer.num_nodes=1",
        "distributed=dts", f"dts.auto_warmup_exchanges={args.warmup}", f"wan.latency_ms={latency_ms}",
        "dataset=synthetic", "dataset.input_size=32", "dataset.num_classes=10",
        f"dataset.train_size={size}", f"dataset.batch_size={args.batch}", "epochs=1",
        f"+trainer.limit_train_batches={batches}", "+trainer.limit_val_batches=0",
        "+trainer.enable_checkpointing=false", "+trainer.enable_progress_bar=false", "~logger",
        "~callbacks", f"paths.output_dir={args.out_dir}/fit", f"arch={args.arch}",
        "module.ema=null", "module.mixup=null",
    ]  # fmt: skip
    return overrides + [o.format(period=args.period) for o in ARMS[arm]], batches


def fit(arm: str, latency_ms: float, args: argparse.Namespace) -> dict:
    overrides, _ = arm_overrides(arm, latency_ms, args)
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    pl.seed_everything(0, workers=True)
    module, datamodule = build_training(cfg)
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    trainer.fit(module, datamodule=datamodule)
    strategy = trainer.strategy
    kept = list(strategy.timer.history)[-args.steps :]
    return {"arm": arm, "latency_ms": latency_ms, "delay": strategy.delay,
            "step_s": [s for s, _ in kept], "wait_s": [w for _, w in kept]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--latencies", type=float, nargs="+", required=True, help="ms")
    parser.add_argument("--arms", nargs="+", default=list(ARMS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--skip", type=int, default=2)
    parser.add_argument(
        "--warmup", type=int, default=3, help="exchanges before dts.delay=auto picks"
    )
    parser.add_argument("--period", type=int, default=8)
    parser.add_argument("--arch", default="proxyless_mobile_cifar")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rank = int(os.environ.get("RANK", 0))
    out = Path(args.out_dir) / f"steps.rank{rank}.jsonl"
    for round_ in range(args.rounds):
        for latency in args.latencies:
            for arm in args.arms:
                record = {"round": round_, "rank": rank, **fit(arm, latency, args)}
                with out.open("a") as f:
                    f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
