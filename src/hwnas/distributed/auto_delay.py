"""`dts.delay=auto`: the smallest delay that hides the measured exchange time.

A few warm-up exchanges run synchronously (t = 0); each step's time splits into compute c (all
but the wait) and the exposed wait w, which at t = 0 is, on a step that exchanges, the latency
plus the transfer of one exchange (with period p > 1 only every p-th step exchanges). The delay
is then the smallest t with t x c >= w (REFERENCE B3: the delayed update stays at full speed
while latency < t x c), or 0 when w is under 5% of c, using the slowest rank's medians so that
every rank picks the same t.
"""

from __future__ import annotations

import math
import statistics

import torch
import torch.distributed as dist

NEGLIGIBLE_WAIT = 0.05  # of the compute: a wait this small is not worth a stale gradient


def smallest_hiding_delay(compute_s: float, wait_s: float, max_delay: int) -> int:
    """Smallest t >= 0 with t x compute_s >= wait_s, at most `max_delay`; 0 when the wait is
    under 5% of the compute (a delay would cost staleness and save next to nothing)."""
    if wait_s <= 0 or wait_s < NEGLIGIBLE_WAIT * compute_s:
        return 0
    if compute_s <= 0:
        return max_delay
    return min(max_delay, math.ceil(wait_s / compute_s - 1e-9))


def bandwidth_bound_note(transfer_s: float, compute_s: float, period: int) -> str | None:
    """A warning when pushing one exchange through the link takes longer than the steps
    between two exchanges: they then queue up behind each other and no delay hides them."""
    between = compute_s * period
    if transfer_s <= between:
        return None
    needed = math.ceil(transfer_s / compute_s - 1e-9)
    return (
        f"DTS: one exchange needs {transfer_s * 1e3:.0f} ms of the link's bandwidth, more "
        f"than the {between * 1e3:.0f} ms of compute between two exchanges: they queue up, "
        f"and no delay hides that. Exchange less often (dts.period={needed} or more) or "
        "over a faster link"
    )


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
        times = torch.tensor(
            [statistics.median(self.compute_s), statistics.median(self.wait_s)], dtype=torch.float64
        )
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            device = "cuda" if dist.get_backend() == "nccl" else "cpu"
            times = times.to(device)
            dist.all_reduce(times, op=dist.ReduceOp.MAX)
        compute, wait = (float(x) for x in times.cpu())
        return smallest_hiding_delay(compute, wait, self.max_delay), compute, wait
