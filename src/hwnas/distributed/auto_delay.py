"""`dts.delay=auto`: the smallest delay that hides the measured exchange time.

A few warm-up exchanges run synchronously (t = 0); each step's time splits into compute c (all
but the wait) and the exposed wait w, which at t = 0 is, on a step that exchanges, the latency
plus the transfer of one exchange (with period p > 1 only every p-th step exchanges). The delay is then the smallest t with t x c >= w (REFERENCE B3: the delayed update
stays at full speed while latency < t x c), using the slowest rank's medians so that every
rank picks the same t.
"""

from __future__ import annotations

import math
import statistics

import torch
import torch.distributed as dist


def smallest_hiding_delay(compute_s: float, wait_s: float, max_delay: int) -> int:
    """Smallest t >= 0 with t x compute_s >= wait_s, at most `max_delay`."""
    if wait_s <= 0:
        return 0
    if compute_s <= 0:
        return max_delay
    return min(max_delay, math.ceil(wait_s / compute_s - 1e-9))


class DelayTuner:
    """Collects (step time, wait) of the warm-up steps and picks the delay once
    `warmup_exchanges` steps that exchanged were seen."""

    def __init__(self, warmup_exchanges: int, max_delay: int) -> None:
        self.warmup_exchanges, self.max_delay = warmup_exchanges, max_delay
        self.compute_s: list[float] = []  # every step
        self.wait_s: list[float] = []  # steps that exchanged

    def record(self, step_s: float, wait_s: float, exchanged: bool = True) -> None:
        self.compute_s.append(max(0.0, step_s - wait_s))
        if exchanged:
            self.wait_s.append(wait_s)

    @property
    def ready(self) -> bool:
        return len(self.wait_s) >= self.warmup_exchanges

    def choose(self) -> tuple[int, float, float]:
        """(delay, compute s, wait s), the times as the slowest rank's medians."""
        times = torch.tensor([statistics.median(self.compute_s), statistics.median(self.wait_s)],
                             dtype=torch.float64)  # fmt: skip
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            device = "cuda" if dist.get_backend() == "nccl" else "cpu"
            times = times.to(device)
            dist.all_reduce(times, op=dist.ReduceOp.MAX)
        compute, wait = (float(x) for x in times.cpu())
        return smallest_hiding_delay(compute, wait, self.max_delay), compute, wait
