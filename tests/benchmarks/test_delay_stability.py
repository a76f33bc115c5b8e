"""benchmarks/delay_stability.py, the delayed update's stability limit: the closed forms it must
reproduce, and two replicas running the real `DelayedGradients` with torch's SGD on a quadratic,
whose drift stays bounded just under the limit and grows just over it."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

from hwnas.distributed.delayed_gradients import DelayedGradients

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from delay_stability import largest_stable_step  # noqa: E402


def test_closed_forms() -> None:
    assert largest_stable_step(0) == pytest.approx(2.0, abs=1e-4)  # gradient descent: lr h < 2
    for delay in (1, 2, 5, 16):  # plain SGD's drift: x(k+1) = x(k) - a (x(k) - x(k-t))
        assert largest_stable_step(delay) == pytest.approx(1.0, abs=1e-4)
    m = 0.9
    assert largest_stable_step(0, m) == pytest.approx(2 * (1 + m), abs=1e-4)  # heavy ball
    assert largest_stable_step(0, m, nesterov=True) == pytest.approx(
        2 * (1 + m) / (1 + 2 * m), abs=1e-4
    )
    assert largest_stable_step(1, m) == pytest.approx(1 + m, abs=1e-4)


def test_without_the_correction_the_weights_limit_is_the_delayed_recurrences() -> None:
    """The stale average alone: x(k + 1) = x(k) - a x(k - t), stable for a < 2 sin(pi / (2 (2t
    + 1))) (plain SGD); t = 0 is synchronous SGD either way; under Nesterov momentum the limit
    falls far below the corrected update's drift limit."""
    for delay in (0, 1, 2, 5, 16):
        assert largest_stable_step(delay, correction=False) == pytest.approx(
            2 * math.sin(math.pi / (2 * (2 * delay + 1))), abs=1e-4
        )
    assert largest_stable_step(0, 0.9, True, correction=False) == pytest.approx(
        largest_stable_step(0, 0.9, True), abs=1e-4
    )
    for delay in (1, 2, 5, 16):
        stale = largest_stable_step(delay, 0.9, nesterov=True, correction=False)
        assert stale < largest_stable_step(delay, 0.9, nesterov=True) / 2


def test_the_limit_falls_with_the_delay_under_momentum() -> None:
    limits = [largest_stable_step(t, 0.9, nesterov=True) for t in (0, 1, 2, 5, 16)]
    assert limits == sorted(limits, reverse=True)
    assert limits[1] == pytest.approx(limits[0] / 2, rel=1e-3)  # t = 1: half of SSGD's
    assert limits[3] < limits[0] / 4  # t = 5: under a quarter


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="delay"):
        largest_stable_step(-1)
    with pytest.raises(ValueError, match="momentum"):
        largest_stable_step(1, momentum=1.0)


class _PairLink:
    """Two in-process replicas: message i's average is the mean of both replicas' i-th sends."""

    def __init__(self) -> None:
        self.sent: list[list[torch.Tensor]] = [[], []]

    def endpoint(self, rank: int):
        link = self

        class _Message:
            def __init__(self, index: int) -> None:
                self.index, self.sent = index, None  # sent: travelled as it was

            def wait(self) -> torch.Tensor:
                return (link.sent[0][self.index] + link.sent[1][self.index]) / 2

        class _Endpoint:
            def all_reduce_mean(
                self, payload: torch.Tensor, what: str = "", feedback: None = None
            ) -> _Message:
                link.sent[rank].append(payload.clone())
                return _Message(len(link.sent[rank]) - 1)

        return _Endpoint()


def _final_drift(step: float, delay: int, steps: int = 1000) -> float:
    """|w0 - w1| after `steps` of the delayed update (or once it passes 1) on f(w) = 1/2 w^2
    (curvature 1, so lr is lr x curvature), Nesterov momentum 0.9, the replicas started 2e-3
    apart on either side of the minimum."""
    link = _PairLink()
    weights = [torch.nn.Parameter(torch.tensor([1e-3])), torch.nn.Parameter(torch.tensor([-1e-3]))]
    optimizers = [torch.optim.SGD([w], lr=step, momentum=0.9, nesterov=True) for w in weights]
    exchanges = [DelayedGradients([w], link.endpoint(r), delay) for r, w in enumerate(weights)]
    for _ in range(steps):
        for w, optimizer, exchange in zip(weights, optimizers, exchanges, strict=True):
            optimizer.zero_grad()
            (0.5 * w.pow(2).sum()).backward()
            exchange.exchange()  # delay >= 1: the other replica sent step k - t already
            optimizer.step()
        if (weights[0] - weights[1]).abs() > 1.0:
            break
    return float((weights[0] - weights[1]).detach().abs())


@pytest.mark.parametrize("delay", [1, 2, 5])
def test_real_replicas_drift_apart_just_over_the_limit(delay: int) -> None:
    limit = largest_stable_step(delay, 0.9, nesterov=True)
    assert _final_drift(0.9 * limit, delay) < 2e-3  # bounded: no further than it started
    assert _final_drift(1.1 * limit, delay) > 1.0  # grown five-hundredfold
    # the mean is synchronous SGD, stable at both rates: what diverged is the replicas' drift
    assert 1.1 * limit < largest_stable_step(0, 0.9, nesterov=True)


def _final_weight(step: float, delay: int, steps: int) -> float:
    """|w| after `steps` of the stale average alone (`correction=False`; or once it passes 1)
    on f(w) = 1/2 w^2 with Nesterov momentum 0.9, two replicas started at 1e-3."""
    link = _PairLink()
    weights = [torch.nn.Parameter(torch.tensor([1e-3])) for _ in range(2)]
    optimizers = [torch.optim.SGD([w], lr=step, momentum=0.9, nesterov=True) for w in weights]
    exchanges = [
        DelayedGradients([w], link.endpoint(r), delay, correction=False)
        for r, w in enumerate(weights)
    ]
    for _ in range(steps):
        for w, optimizer, exchange in zip(weights, optimizers, exchanges, strict=True):
            optimizer.zero_grad()
            (0.5 * w.pow(2).sum()).backward()
            exchange.exchange()
            optimizer.step()
        if weights[0].abs() > 1.0:
            break
    assert torch.equal(weights[0], weights[1])  # the same stale average: nothing drifts
    return float(weights[0].detach().abs())


@pytest.mark.parametrize("delay", [1, 2, 5])
def test_real_replicas_without_the_correction_diverge_just_over_its_limit(delay: int) -> None:
    limit = largest_stable_step(delay, 0.9, nesterov=True, correction=False)
    steps = 500 + 500 * delay  # 1.1 x the limit grows a thousandfold in 590, 1190, 1660 steps
    assert _final_weight(0.9 * limit, delay, steps) < 1e-3  # settles towards the minimum
    assert _final_weight(1.1 * limit, delay, steps) > 1.0  # grown a thousandfold


def test_the_limits_under_nesterov_momentum_to_three_figures() -> None:
    """Torch's Nesterov momentum 0.9: the drift's limit at t = 1 is half of synchronous SGD's;
    without the correction the weights' limit at t = 5 is under a fiftieth of it."""
    limit = largest_stable_step(1, 0.9, nesterov=True)
    synchronous = largest_stable_step(0, 0.9, nesterov=True)
    assert f"{limit:.3g} {limit / synchronous:.2f} {synchronous:.3g}" == "0.679 0.50 1.36"
    stale = largest_stable_step(5, 0.9, nesterov=True, correction=False)
    assert f"{stale:.3g}" == "0.0253"
