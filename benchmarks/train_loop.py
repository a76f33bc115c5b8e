"""Training throughput: the whole train.py loop beside a bare training step of the same net on
synthetic data already on the device, and the bare step of timm's mobilenetv2_100 (the usual
point of comparison). Measured in the same run. At 32x32 the loop is CIFAR-10's (uint8 tensors
on the device, crop/flip there) and MobileNetV2 has a stride-1 stem; at `--input-size 224` the
loop reads the synthetic data set through a DataLoader (1000 classes, `proxyless_mobile`).

    python benchmarks/train_loop.py --device cuda --amp bf16 --channels-last --batch 1024
    python benchmarks/train_loop.py --device cuda --amp bf16 --input-size 224 --batch 256
    python benchmarks/train_loop.py --quick          # CPU check that it runs
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import timm
import torch
import torch.nn.functional as F
from common import add_device_options, autocast, machine_line, markdown_table, setup_device

from hwnas.architecture.timm_model import build_timm_model, resolve_architecture
from hwnas.data import Cifar10DataModule, SyntheticDataModule
from hwnas.training.module import TrainModule


def bare_step_rate(model: torch.nn.Module, args: argparse.Namespace, device: torch.device) -> float:
    """Images/s of forward + backward + SGD step on one batch already on the device."""
    model.to(device).train()
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    size, classes = args.input_size, _classes(args)
    x = torch.randn(args.batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, classes, (args.batch,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)

    def step() -> None:
        with autocast(device, args.amp):
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    _sync(device)
    return args.steps * args.batch / (time.perf_counter() - start)


class StepClock(pl.Callback):
    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end, self.steps = warmup, 0.0, 0.0, 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx: int) -> None:
        if batch_idx + 1 == self.warmup:
            _sync(module.device)
            self.start = time.perf_counter()
        elif batch_idx + 1 > self.warmup:
            _sync(module.device)
            self.end, self.steps = time.perf_counter(), batch_idx + 1 - self.warmup


def _classes(args: argparse.Namespace) -> int:
    return 10 if args.input_size == 32 else 1000


def loop_rate(args: argparse.Namespace, device: torch.device, data_dir: Path) -> float:
    """Images/s of train.py's loop: Lightning, TrainModule and the data module."""
    arch = resolve_architecture(args.arch)
    module = TrainModule(
        arch.to_dict(),
        optimizer=lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True),
        channels_last=args.channels_last,
    )
    if args.input_size == 32:
        data = Cifar10DataModule(
            str(data_dir),
            batch_size=args.batch,
            arch_fraction=0.02,
            cache_dir=str(data_dir / "cache"),
        )
    else:
        data = SyntheticDataModule(
            input_size=args.input_size,
            num_classes=_classes(args),
            train_size=args.batch * (args.warmup + args.steps + 2),
            test_size=args.batch,
            batch_size=args.batch,
            arch_fraction=0.02,
            num_workers=4 if device.type == "cuda" else 0,
        )
    clock = StepClock(args.warmup)
    precision = "bf16-mixed" if args.amp == "bf16" else "32-true"
    trainer = pl.Trainer(
        accelerator=device.type,
        devices=1,
        precision=precision,
        max_epochs=1,
        limit_train_batches=args.warmup + args.steps,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[clock],
    )
    trainer.fit(module, datamodule=data)
    return clock.steps * args.batch / (clock.end - clock.start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _random_cifar(folder: Path, images: int) -> Path:
    """torchvision's CIFAR-10 layout with random pixels: the loop's cost does not depend on them."""
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in [(f"data_batch_{i}", images // 5) for i in range(1, 6)] + [("test_batch", 100)]:
        data = {
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "labels": rng.integers(0, 10, n).tolist(),
        }
        with open(batches / name, "wb") as f:
            pickle.dump(data, f)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_device_options(parser)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--input-size", type=int, default=32, choices=[32, 224])
    parser.add_argument(
        "--arch",
        default=None,
        help="default: proxyless_mobile_cifar at 32, proxyless_mobile at 224",
    )
    parser.add_argument("--data", default=None, help="CIFAR-10 (any form dataset=cifar10 reads)")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.steps, args.warmup, args.rounds = (
            16 if args.input_size == 32 else 2,
            2,
            1,
            1,
        )
    args.arch = args.arch or (
        "proxyless_mobile_cifar" if args.input_size == 32 else "proxyless_mobile"
    )
    device = setup_device(args)
    mnv2 = timm.create_model("mobilenetv2_100", num_classes=_classes(args))
    if args.input_size == 32:
        mnv2.conv_stem.stride = (1, 1)
    ours = build_timm_model(resolve_architecture(args.arch))
    rates: dict[str, list[float]] = {"loop": [], "bare": [], "mnv2": []}
    with tempfile.TemporaryDirectory(prefix="hwnas-loop-") as tmp:
        images = max(args.batch * (args.warmup + args.steps) * 2, 2048)
        data_dir = Path(args.data) if args.data else Path(tmp)
        if args.input_size == 32 and not args.data:
            _random_cifar(data_dir, images)
        for _ in range(args.rounds):
            rates["loop"].append(loop_rate(args, device, data_dir))
            rates["bare"].append(bare_step_rate(ours, args, device))
            rates["mnv2"].append(bare_step_rate(mnv2, args, device))
    med = {k: float(np.median(v)) for k, v in rates.items()}
    rows = [
        [f"train.py loop ({args.arch})", f"{med['loop']:,.0f}", f"{med['loop'] / med['bare']:.2f}"],
        [f"bare step ({args.arch})", f"{med['bare']:,.0f}", "1.00"],
        [
            f"bare step (timm mobilenetv2_100{', stride-1 stem' if args.input_size == 32 else ''})",
            f"{med['mnv2']:,.0f}",
            "-",
        ],
    ]
    print(
        f"\nTraining throughput, {args.input_size}x{args.input_size}, batch {args.batch}, amp {args.amp}, channels_last "
        f"{args.channels_last}; median of {args.rounds} rounds of {args.steps} steps\n"
    )
    print(markdown_table(["what", "images/s", "x bare step"], rows))
    print("\n" + machine_line(device, torch.get_num_threads()))


if __name__ == "__main__":
    main()
