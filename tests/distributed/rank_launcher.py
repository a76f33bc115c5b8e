"""Run a function on N gloo processes (torch.multiprocessing, one thread each) and collect
what every rank returns, or a worker script's arms under torchrun. Not a test module."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_arms(worker: Path, out: Path, arms: list[str]) -> dict[str, list[dict]]:
    """`worker out arm...` under torchrun on two processes of one thread; every arm's saved
    `<arm>.rank<r>.pt` of both ranks."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
        str(worker),
        str(out),
        *arms,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return {
        arm: [torch.load(out / f"{arm}.rank{r}.pt", weights_only=False) for r in (0, 1)]
        for arm in arms
    }


def run_ranks(
    fn: Callable[..., Any], *args: Any, world: int = 2, timeout_s: float = 60
) -> list[Any]:
    """`fn(rank, *args)` on `world` processes in one gloo group; returns every rank's result."""
    with tempfile.TemporaryDirectory() as out:
        mp.start_processes(
            _entry,
            args=(fn, world, free_port(), out, timeout_s, args),
            nprocs=world,
            join=True,
            start_method="spawn",
        )
        return [torch.load(os.path.join(out, f"{r}.pt"), weights_only=False) for r in range(world)]


def _entry(
    rank: int,
    fn: Callable[..., Any],
    world: int,
    port: int,
    out: str,
    timeout_s: float,
    args: tuple,
) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group(
        "gloo", rank=rank, world_size=world, timeout=timedelta(seconds=timeout_s)
    )
    try:
        result = fn(rank, *args)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    torch.save(result, os.path.join(out, f"{rank}.pt"))
