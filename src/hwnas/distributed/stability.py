"""How large a step the delayed update tolerates: linear stability of the replicas' drift.

Under the delayed update (REFERENCE B1) every step moves the replicas' mean exactly as
synchronous SGD would, so the mean is stable wherever synchronous SGD is. What differs is the
drift of each replica from that mean. Near a minimum, along a direction of curvature h, the
corrected gradient of replica j deviates from the replicas' average by h (x(k) - x(k - t)),
where x is the replica's drift along that direction (the average arriving at step k carries
everyone's drift of step k - t, which averages to zero). Fed to SGD with momentum, that drift
follows a linear recurrence whose only free parameter is a = lr x h. Synchronous SGD's
recurrence is the same with h x(k) alone.

`largest_stable_step(delay, momentum, nesterov)` is the largest a at which every mode of that
recurrence stays bounded (the mode at 1, which carries the drift the next sync point removes,
is set aside). For plain SGD it is 2 at t = 0 and 1 at every t >= 1; with torch's Nesterov
momentum 0.9 it is 1.36 at t = 0 (2 (1 + m) / (1 + 2 m)), 0.68 at t = 1, 0.27 at t = 5. Along
any direction whose lr x curvature lies between the two limits, the mean is stable but the
replicas' drift grows until something nonlinear stops it: the replicas then take their gradients
away from the mean, and training can lose accuracy although the mean's update is exact. Training
at a high rate, near the largest curvature the rate allows, is where that happens first.

Without the correction (`dts.correction=false`, the ablation) every replica applies the same
stale average, so nothing drifts, but the weights themselves follow x(k + 1) = x(k) - a x(k - t)
through the optimiser: `correction=False` gives that recurrence's limit, which falls much faster
with t (plain SGD: 2 sin(pi / (2 (2 t + 1))), 1 at t = 1, 0.28 at t = 5; Nesterov 0.9: 0.25 at
t = 1, 0.025 at t = 5). A stale gradient fed to momentum overshoots; the correction keeps the
mean at synchronous SGD's limit and leaves the delay only the drift's.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.optim import Optimizer


def drift_recurrence(
    step: float, delay: int, momentum: float, nesterov: bool, correction: bool = True
) -> np.ndarray:
    """The linear map of (x(k), ..., x(k - delay), velocity) over one step of torch's SGD, for
    a drift mode with lr x curvature = `step`; `delay` = 0 is synchronous SGD's recurrence.
    `correction=False`: the weights' own recurrence under the stale average alone."""
    size = delay + 2
    rows = np.zeros((size, size))
    # gradient as a row over the state, scaled by lr (folded into `step`): h x(k) - h x(k - t)
    # for the drift under the correction, h x(k - t) for the weights without it
    grad = np.zeros(size)
    if correction:
        grad[0] += step
        if delay:
            grad[delay] -= step
    else:
        grad[delay] += step
    velocity = momentum * np.eye(size)[delay + 1] + grad
    update = grad + momentum * velocity if nesterov else velocity
    rows[0] = np.eye(size)[0] - update  # x(k + 1) = x(k) - lr x update (lr folded into step)
    rows[1 : delay + 1] = np.eye(size)[0:delay]  # shift the history
    rows[delay + 1] = velocity
    return rows


def spectral_radius(
    step: float, delay: int, momentum: float, nesterov: bool, correction: bool = True
) -> float:
    """Largest modulus among the recurrence's eigenvalues, the conserved mode at 1 set aside."""
    eigenvalues = np.linalg.eigvals(drift_recurrence(step, delay, momentum, nesterov, correction))
    # under the correction a constant drift is a fixed point (it sees differences only): mode 1
    if delay and correction:
        eigenvalues = np.delete(eigenvalues, np.argmin(np.abs(eigenvalues - 1)))
    return float(np.abs(eigenvalues).max()) if eigenvalues.size else 0.0


def largest_stable_step(
    delay: int,
    momentum: float = 0.0,
    nesterov: bool = False,
    tolerance: float = 1e-6,
    correction: bool = True,
) -> float:
    """Largest lr x curvature at which every drift mode stays bounded (see the module's
    docstring); `delay` = 0 gives synchronous SGD's limit. `correction=False`: the limit of the
    weights themselves under the stale average alone (the ablation)."""
    if delay < 0:
        raise ValueError(f"delay must be >= 0, got {delay}")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum}")

    def stable(step: float) -> bool:
        return spectral_radius(step, delay, momentum, nesterov, correction) <= 1.0 + 1e-9

    # scan up to synchronous SGD's bound (never above 2 (1 + m)), then bisect the first crossing
    grid = np.linspace(0.0, 2.0 * (1.0 + momentum) * 1.01, 801)[1:]
    unstable = next((step for step in grid if not stable(step)), None)
    if unstable is None:
        return float(grid[-1])
    low, high = unstable - (grid[1] - grid[0]), unstable
    while high - low > tolerance:
        middle = 0.5 * (low + high)
        low, high = (middle, high) if stable(middle) else (low, middle)
    return float(low)


def drift_limit_note(delay: int, optimizer: Optimizer, correction: bool = True) -> str | None:
    """One line for the run's log: the drift's limit at this delay under this optimiser's
    momentum (without the correction: the weights' own limit), against synchronous SGD's. None
    at delay 0, or for an optimiser other than SGD (the analysis is SGD's)."""
    group = optimizer.param_groups[0]
    if delay <= 0 or not isinstance(optimizer, torch.optim.SGD):
        return None
    momentum, nesterov = float(group.get("momentum", 0.0)), bool(group.get("nesterov", False))
    limit = largest_stable_step(delay, momentum, nesterov, correction=correction)
    synchronous = largest_stable_step(0, momentum, nesterov)
    kind = f"SGD, momentum {momentum:g}{' (Nesterov)' if nesterov else ''}"
    bound = (
        f"curvature < {limit:.3g}, {limit / synchronous:.2f} of synchronous SGD's {synchronous:.3g}"
    )
    if not correction:
        return (
            f"DTS: without the correction, at delay {delay} ({kind}) the weights themselves stay "
            f"stable only while lr x {bound}; along directions curved beyond that the stale "
            "average overshoots and training diverges or stalls (benchmarks/dts_stability.py)"
        )
    return (
        f"DTS: at delay {delay} ({kind}) the replicas' drift stays bounded only while lr x "
        f"{bound}; along directions curved beyond that, the replicas' drift grows between sync "
        "points (benchmarks/dts_stability.py)"
    )
