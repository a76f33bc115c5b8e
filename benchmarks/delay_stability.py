"""How large a step the delayed update tolerates: linear stability of the replicas' drift
under REFERENCE B1's update w_j <- w_j - lr (g_j(k) - g_j(k - t) + gbar(k - t)).

Under the delayed update every step moves the replicas' mean exactly as synchronous SGD would,
so the mean is stable wherever synchronous SGD is. What differs is the drift of each replica
from that mean. Near a minimum, along a direction of curvature h, the corrected gradient of
replica j deviates from the replicas' average by h (x(k) - x(k - t)), where x is the replica's
drift along that direction (the average arriving at step k carries everyone's drift of step
k - t, which averages to zero). Fed to torch's SGD with momentum m, that drift follows a linear
recurrence (`drift_recurrence`) whose only free parameter is a = lr x h. Synchronous SGD's
recurrence is the same with h x(k) alone.

`largest_stable_step(delay, momentum, nesterov)` is the largest a at which every mode of that
recurrence stays bounded (the mode at 1, which carries the drift the next sync point removes,
is set aside). Its closed forms: 2 for plain SGD at t = 0 and 1 at every t >= 1; 2 (1 + m) for
heavy-ball momentum at t = 0 and 1 + m at t = 1; 2 (1 + m) / (1 + 2 m) for Nesterov momentum at
t = 0. Along a direction whose lr x curvature lies between the delayed and the synchronous
limit, the mean is stable but the replicas' drift grows until something nonlinear stops it.

Without the correction (`dts.correction=false`) every replica applies the same stale average,
so nothing drifts, but the weights themselves follow x(k + 1) = x(k) - a x(k - t) through the
optimiser; `correction=False` gives that recurrence's limit, 2 sin(pi / (2 (2 t + 1))) for plain
SGD.
"""

from __future__ import annotations

import numpy as np


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
