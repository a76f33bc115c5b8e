"""Helpers shared by the benchmarks: the machine line, devices, autocast and search spaces."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from hwnas.search_space.space import SearchSpace
from hwnas.util.tables import markdown_table  # noqa: F401 - the benchmarks' table

CONF_DIR = Path(__file__).resolve().parents[1] / "conf" / "search_space"


def add_space_options(parser: argparse.ArgumentParser) -> None:
    """The search space and the data shape every benchmark takes."""
    parser.add_argument("--space", default="proxyless_cifar")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--classes", type=int, default=10)


def add_device_options(parser: argparse.ArgumentParser) -> None:
    """Options every benchmark takes: device, threads, autocast, memory format."""
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="torch.set_num_threads"
    )
    parser.add_argument("--amp", choices=["none", "bf16"], default="none", help="autocast dtype")
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="NHWC memory format, the search's default (module.channels_last); "
        "--no-channels-last for contiguous NCHW",
    )
    parser.add_argument("--quick", action="store_true", help="shrink everything (a check run)")


def setup_device(args: argparse.Namespace) -> torch.device:
    """Set the thread count and return the device; refuse CUDA when there is none."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda given but CUDA is not available")
    return device


def machine_line(device: torch.device, threads: int) -> str:
    """One line naming the CPU, its cores, torch and the device the benchmark ran on."""
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    return (
        f"Machine: {cpu}, {os.cpu_count()} cores ({threads} threads), "
        f"torch {torch.__version__}, device {device.type} ({dev})"
    )


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on `device` when `amp == "bf16"`, else a no-op context."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp == "bf16")


def load_space(name: str, **overrides: Any) -> SearchSpace:
    """Instantiate `conf/search_space/<name>.yaml`; overrides replace its fields."""
    cfg = OmegaConf.load(CONF_DIR / f"{name}.yaml")
    fixed = {"in_channels": 3, "input_size": 32, "num_classes": 10}
    return instantiate(cfg, **{**fixed, **overrides})


def to_device(model: torch.nn.Module, device: torch.device, channels_last: bool) -> None:
    """Move `model` in place, in NHWC layout when asked."""
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)


def synthetic_batches(
    n: int, batch: int, size: int, classes: int, device: torch.device, channels_last: bool
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`n` fixed random batches (seeded), already on `device`."""
    gen = torch.Generator().manual_seed(1234)
    out = []
    for _ in range(n):
        x = torch.randn(batch, 3, size, size, generator=gen)
        y = torch.randint(0, classes, (batch,), generator=gen)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out.append((x.to(device), y.to(device)))
    return out


def sync(device: torch.device) -> None:
    """Wait for the device (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cycle(items: list) -> Iterator:
    """Repeat `items` forever."""
    while True:
        yield from items
