"""A virtual-clock model of DTS throughput (REFERENCE B3, B4): N workers with given compute
times per step, one first-in-first-out link of latency L and bandwidth B (the model
`hwnas.distributed.EmulatedLink` enforces), and the delay t and period p of the update. The
benchmarks feed it measured compute times to predict throughput at worker counts the machine
cannot run.

With a constant compute time c and unlimited bandwidth the steady state is REFERENCE B3's:
synchronous SGD steps in c + L, the sparse update in c + L / p, and the delayed update in
max(c, (c + L) / (t + 1)), flat while L <= t x c.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from hwnas.distributed.auto_delay import smallest_hiding_delay


@dataclass(frozen=True)
class LinkModel:
    """Latency L (s), per-worker bandwidth (bit/s, None: unlimited) and exchanged bytes."""

    latency_s: float
    bandwidth_bps: float | None = None
    payload_bytes: int = 0

    def transfer_s(self, workers: int) -> float:
        """2(N-1)/N x bytes x 8 / B: what a ring all-reduce sends per worker."""
        if not self.bandwidth_bps or workers < 2:
            return 0.0
        return 2 * (workers - 1) / workers * self.payload_bytes * 8 / self.bandwidth_bps


@dataclass(frozen=True)
class Simulated:
    """Steady-state seconds per step (the slope over whole cycles of the second half of the
    run, so the first t steps, which wait for nothing, do not flatter it) and the exposed wait
    per step over the whole run."""

    step_s: float
    wait_s: float


def simulate(compute_s: np.ndarray, link: LinkModel, delay: int = 0, period: int = 1) -> Simulated:
    """Run the virtual clock. `compute_s[w, k]`: worker w's compute in step k (everything but the
    wait). Every `period` steps each worker sends; the exchange begins when the last worker has
    sent and the link is free, and is used at the end of step k + `delay`."""
    compute = np.atleast_2d(np.asarray(compute_s, dtype=np.float64))
    workers, steps = compute.shape
    if steps < 4:
        raise ValueError("simulate needs at least 4 steps")
    transfer = link.transfer_s(workers)
    clock, waited = np.zeros(workers), np.zeros(workers)
    free_at = float("-inf")
    pending: deque[tuple[int, float]] = deque()  # (step it is used after, arrival time)
    ends = np.empty(steps)
    for k in range(steps):
        clock += compute[:, k]
        if (k + 1) % period == 0:
            begin = max(float(clock.max()), free_at)
            free_at = begin + transfer
            pending.append((k + delay, free_at + link.latency_s))
        while pending and pending[0][0] <= k:
            arrival = pending.popleft()[1]
            waited += np.maximum(arrival - clock, 0.0)
            clock = np.maximum(clock, arrival)
        ends[k] = clock.max()
    cycle = (delay + 1) * period  # the steady state repeats with this period (or a divisor)
    window = min(steps - 1, max(1, (steps // 2) // cycle) * cycle)
    return Simulated(
        step_s=(ends[-1] - ends[-1 - window]) / window, wait_s=float(waited.mean()) / steps
    )


def bootstrap_compute(samples: np.ndarray, workers: int, steps: int, seed: int = 0) -> np.ndarray:
    """Compute times for `workers` x `steps`, drawn with replacement from measured ones."""
    rng = np.random.default_rng(seed)
    pool = np.asarray(samples, dtype=np.float64).reshape(-1)
    return rng.choice(pool, size=(workers, steps), replace=True)


def tuned_delay(
    compute_s: np.ndarray, link: LinkModel, period: int = 1, max_delay: int = 64
) -> int:
    """What `dts.delay=auto` would pick: the smallest t with t x (mean compute) >= the mean
    exposed wait of an exchange at t = 0 (stragglers included)."""
    compute = np.atleast_2d(np.asarray(compute_s, dtype=np.float64))
    waited = simulate(compute, link, 0, period).wait_s * period  # per exchange
    return smallest_hiding_delay(float(compute.mean()), waited, max_delay)
