"""The link's scenarios for scenarios.py (on a virtual clock and on the host's): delivery
against the latest issue, the first-in-first-out bandwidth, synchronous step times, and
collectives on the default group beside exchanges in flight. Not a test module."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from toy_model import LR, backward, gather, toy_model
from virtual_clock import VirtualClock

from hwnas.distributed import DelayedGradients, EmulatedLink
from hwnas.distributed.link import CLOCK, Clock


def _clock(virtual: bool) -> Clock:
    """A virtual clock at the same start on every rank, or the host's (`CLOCK`)."""
    return VirtualClock() if virtual else CLOCK


def _pause(clock: Clock, seconds: float) -> None:
    if isinstance(clock, VirtualClock):
        clock.advance(seconds)
    else:
        time.sleep(seconds)


def delivery_times(rank: int, latency_ms: float, messages: int, virtual: bool) -> dict[str, Any]:
    """Deliveries against the latest issue time over the ranks, with uneven gaps between."""
    clock = _clock(virtual)
    link = EmulatedLink(latency_ms, clock=clock)
    issued, delivered = [], []
    for i in range(messages):
        _pause(clock, 0.001 * ((i * 7 + rank * 3) % 5))  # ranks issue at different moments
        issued.append(clock.now())
        message = link.all_reduce_mean(torch.ones(1000))
        message.wait()
        delivered.append(clock.now())
    latest = torch.stack(gather(torch.tensor(issued, dtype=torch.float64))).max(0).values
    return {
        "after_latest_issue_s": torch.tensor(delivered, dtype=torch.float64) - latest,
        "link_late_s": list(link.stats.late_s),
    }


def fifo_bandwidth(
    rank: int, latency_ms: float, bandwidth_mbps: float, messages: int, numel: int, virtual: bool
) -> dict[str, Any]:
    """Back-to-back messages: each must wait for the one before it to cross."""
    clock = _clock(virtual)
    link = EmulatedLink(latency_ms, bandwidth_mbps, clock=clock)
    start = clock.now()
    sent = [link.all_reduce_mean(torch.ones(numel)) for _ in range(messages)]
    done = []
    for message in sent:
        message.wait()
        done.append(clock.now())
    latest_start = float(max(gather(torch.tensor([start], dtype=torch.float64))))
    return {"done_s": [t - latest_start for t in done], "transfer_s": link.transfer_s(numel * 4)}


def synchronous_step_times(
    rank: int, latency_ms: float | None, steps: int, virtual: bool
) -> list[float]:
    """Step times of synchronous SGD (delay 0) over a link of `latency_ms`; None: no exchange
    at all, the step's compute alone. On the virtual clock a step's compute is 4 ms."""
    clock = _clock(virtual)
    model = toy_model()
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=LR)
    exchange = None
    if latency_ms is not None:
        exchange = DelayedGradients(params, EmulatedLink(latency_ms, clock=clock), delay=0)
    times = []
    for step in range(steps):
        start = clock.now()
        backward(model, rank, step)
        if isinstance(clock, VirtualClock):
            clock.advance(0.004)
        if exchange is not None:
            exchange.exchange()
        opt.step()
        times.append(clock.now() - start)
    return times


def collective_beside_exchanges(rank: int, channels: int, messages: int) -> list[int]:
    """Rank 0 has `messages` exchanges in flight when it broadcasts on the default group; rank 1
    joins the broadcast first and sends its exchanges afterwards. If the broadcast waited behind
    the exchanges, neither rank could go on (a deadlock until the group's timeout)."""
    link = EmulatedLink(channels=channels, timeout_s=20)
    flag = torch.tensor([7 if rank == 0 else 0])
    if rank == 0:
        sent = [link.all_reduce_mean(torch.full((4,), float(i))) for i in range(messages)]
        dist.broadcast(flag, src=0)
    else:
        dist.broadcast(flag, src=0)
        sent = [link.all_reduce_mean(torch.full((4,), float(i))) for i in range(messages)]
    averages = [int(m.wait()[0]) for m in sent]
    return [int(flag), *averages, len({id(g) for g in link.channels})]


# the link's scenarios on the host's clock, for the slow tests of how closely it keeps the times
ON_THE_HOSTS_CLOCK: dict[str, tuple[Callable[..., Any], tuple]] = {
    "delivery_20ms": (delivery_times, (20.0, 15, False)),
    "fifo_10ms_100mbps": (fifo_bandwidth, (10.0, 100.0, 4, 100_000, False)),
    "compute_only": (synchronous_step_times, (None, 6, False)),
    "ssgd_0ms": (synchronous_step_times, (0.0, 6, False)),
    "ssgd_50ms": (synchronous_step_times, (50.0, 6, False)),
}
