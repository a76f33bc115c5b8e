"""Run a function on N gloo processes (torch.multiprocessing, one thread each) and collect
what every rank returns. Not a test module."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_ranks(
    fn: Callable[..., Any], *args: Any, world: int = 2, timeout_s: float = 60
) -> list[Any]:
    """`fn(rank, *args)` on `world` processes in one gloo group; returns every rank's result."""
    with tempfile.TemporaryDirectory() as out:
        mp.start_processes(_entry, args=(fn, world, free_port(), out, timeout_s, args),
                           nprocs=world, join=True, start_method="spawn")  # fmt: skip
        return [torch.load(os.path.join(out, f"{r}.pt"), weights_only=False) for r in range(world)]


def _entry(rank: int, fn: Callable[..., Any], world: int, port: int, out: str, timeout_s: float,
           args: tuple) -> None:  # fmt: skip
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world,
                            timeout=timedelta(seconds=timeout_s))  # fmt: skip
    try:
        result = fn(rank, *args)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    torch.save(result, os.path.join(out, f"{rank}.pt"))
