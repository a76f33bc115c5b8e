"""One process of `wan_scaling.py`, run under torchrun: for every round, emulated latency and
arm, a short `train.py` fit with `distributed=dts` on synthetic 32x32 data (one thread per
process); appends each fit's per-step (step s, exposed wait s) to `<out>/steps.rank<r>.jsonl`.

With `--real-delay-ms D` the processes are two torchrun nodes in the namespaces of a
`delay_line.DelayLine` (one process each): nothing is emulated, the records are labelled with
the link's one-way delay D, and `<out>/collective.rank<r>.json` gets the time of a gradient-sized
all-reduce over the real link."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
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
    "delay_bf16": ["dts.delay=auto", "dts.period=1", "dts.compress=bf16"],
}


def arm_overrides(arm: str, latency_ms: float, args: argparse.Namespace) -> tuple[list[str], int]:
    """Hydra overrides of one fit, and its number of batches (warm-up of dts.delay=auto and
    `skip` steps before the `steps` that are kept)."""
    warmup = args.warmup * (args.period if "period={period}" in ARMS[arm][1] else 1)
    warmup = warmup + 3 if "auto" in ARMS[arm][0] else 0  # + the untimed first step, the tuning
    # step and the step that opens the chosen delay's channels
    batches = warmup + args.skip + args.steps
    size = args.batch * 2 * batches + 64
    nodes = int(os.environ.get("WORLD_SIZE", 2)) // int(os.environ.get("LOCAL_WORLD_SIZE", 2))
    overrides = [
        "trainer=ddp",
        f"trainer.devices={2 // nodes}",
        "trainer.accelerator=cpu",
        f"+trainer.num_nodes={nodes}",
        "distributed=dts",
        f"dts.auto_warmup_exchanges={args.warmup}",
        f"wan.latency_ms={latency_ms}",
        "dataset=synthetic",
        "dataset.input_size=32",
        "dataset.num_classes=10",
        f"dataset.train_size={size}",
        f"dataset.batch_size={args.batch}",
        "epochs=1",
        f"trainer.limit_train_batches={batches}",
        "trainer.limit_val_batches=0",
        "+trainer.enable_checkpointing=false",
        "+trainer.enable_progress_bar=false",
        "~logger",
        "~callbacks",
        f"paths.output_dir={args.out_dir}/fit",
        f"arch={args.arch}",
        "num_classes=10",
        "module.ema=null",
        "module.mixup=null",
    ]
    if args.bandwidth_mbps:
        overrides.append(f"wan.bandwidth_mbps={args.bandwidth_mbps}")
    return overrides + [o.format(period=args.period) for o in ARMS[arm]], batches


def collective_s(module: torch.nn.Module, repeats: int = 5) -> dict[str, float]:
    """Median time of a blocking all-reduce of the model's gradient size, and of 4 bytes."""
    import torch.distributed as dist

    numel = sum(p.numel() for p in module.parameters() if p.requires_grad)
    times = {}
    for name, size in (("gradient", numel), ("small", 1)):
        buffer, samples = torch.zeros(size), []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            dist.all_reduce(buffer)
            samples.append(time.perf_counter() - start)
        times[f"{name}_s"] = statistics.median(samples[1:])
    return {**times, "gradient_bytes": numel * 4}


def fit(arm: str, latency_ms: float, args: argparse.Namespace) -> dict:
    overrides, _ = arm_overrides(arm, latency_ms, args)
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    pl.seed_everything(0, workers=True)
    module, datamodule = build_training(cfg)
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    fit_s = time.perf_counter() - start
    if args.real_delay_ms is not None and not args.collective_written:
        rank = int(os.environ.get("RANK", 0))
        measured = {"delay_ms": args.real_delay_ms, **collective_s(module)}
        (
            Path(args.out_dir)
            / f"collective.rank{rank}.r{args.round_offset}.d{args.real_delay_ms:g}.json"
        ).write_text(json.dumps(measured))
        args.collective_written = True
    engine = trainer.strategy.engine
    history = list(engine.timer.history)
    if engine.tuning is not None:  # steady state: after the tuning and the step that opens
        history = history[int(engine.tuning["timed_steps"]) + 1 :]  # the delay's channels
    kept = history[-args.steps :]
    label = args.real_delay_ms if args.real_delay_ms is not None else latency_ms
    stats = engine.link.stats
    return {
        "arm": arm,
        "latency_ms": label,
        "delay": engine.delay,
        "fit_s": fit_s,
        "bytes_per_message": stats.payload_bytes / max(1, stats.messages),
        "step_s": [s for s, _ in kept],
        "wait_s": [w for _, w in kept],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--latencies", type=float, nargs="+", required=True, help="ms")
    parser.add_argument(
        "--arms", nargs="+", default=["ssgd", "delay", "sparse", "both"], choices=list(ARMS)
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--skip", type=int, default=2)
    parser.add_argument(
        "--warmup", type=int, default=3, help="exchanges before dts.delay=auto picks"
    )
    parser.add_argument("--period", type=int, default=8)
    parser.add_argument("--arch", default="proxyless_mobile_cifar")
    parser.add_argument("--real-delay-ms", type=float, help="label: the real link's one-way delay")
    parser.add_argument("--round-offset", type=int, default=0)
    parser.add_argument("--bandwidth-mbps", type=float, help="emulate this bandwidth too")
    args = parser.parse_args()
    args.collective_written = False
    torch.set_num_threads(1)
    rank = int(os.environ.get("RANK", 0))
    out = Path(args.out_dir) / f"steps.rank{rank}.jsonl"
    for round_ in range(args.rounds):
        for latency in args.latencies:
            for arm in args.arms:
                record = {
                    "round": round_ + args.round_offset,
                    "rank": rank,
                    **fit(arm, latency, args),
                }
                with out.open("a") as f:
                    f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
