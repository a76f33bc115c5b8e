"""benchmarks/link_simulation.py: the virtual-clock model against REFERENCE B3's closed forms
and the slide's figures."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from link_simulation import LinkModel, bootstrap_compute, simulate, tuned_delay  # noqa: E402

C = 0.2  # the talk's compute per step


def _step(latency: float, delay: int = 0, period: int = 1, workers: int = 2, **link) -> float:
    compute = np.full((workers, 400), C)
    return simulate(compute, LinkModel(latency, **link), delay, period).step_s


@pytest.mark.parametrize("latency", [1e-6, 1e-3, 1e-2, 0.1, 0.5, 1.0])
def test_closed_forms_of_b3(latency: float) -> None:
    assert _step(latency) == pytest.approx(C + latency)  # synchronous SGD
    assert _step(latency, period=8) == pytest.approx(C + latency / 8)  # sparse
    for t in (1, 2, 5):
        assert _step(latency, delay=t) == pytest.approx(max(C, (C + latency) / (t + 1)))


def test_slide_figures_of_synchronous_sgd() -> None:
    """REFERENCE B6's model of the slide: 1.00 / 0.99 / 0.95 / 0.67 / 0.29 / 0.17."""
    normalised = [C / _step(L) for L in (1e-6, 1e-3, 1e-2, 0.1, 0.5, 1.0)]
    assert [round(x, 2) for x in normalised] == [1.00, 1.00, 0.95, 0.67, 0.29, 0.17]


def test_delay_hides_latency_but_not_bandwidth() -> None:
    """B6: at 50 ms and 20 Mb/s a large delay is bandwidth-bound; the sparse update is not."""
    link = {"bandwidth_bps": 20e6, "payload_bytes": 1_000_000}  # 0.4 s per exchange
    assert _step(0.05, delay=8, **link) == pytest.approx(0.4)
    assert _step(0.05, period=8, **link) == pytest.approx(C + 0.45 / 8)
    assert _step(0.05, **link) == pytest.approx(C + 0.45)


def test_stragglers_slow_synchronous_sgd_more_with_more_workers() -> None:
    samples = np.random.default_rng(1).gamma(20, C / 20, size=500)  # c about 0.2 s, +-22%
    steps = {
        n: simulate(bootstrap_compute(samples, n, 300), LinkModel(0.0)).step_s for n in (2, 64)
    }
    assert C < steps[2] < steps[64]  # the slowest of N sets the pace
    hidden = simulate(bootstrap_compute(samples, 64, 300), LinkModel(0.0), delay=4).step_s
    assert hidden < steps[64]  # a delay lets a slow step be made up


def test_tuned_delay_is_the_auto_rule() -> None:
    compute = np.full((2, 200), C)
    assert tuned_delay(compute, LinkModel(0.5)) == 3  # 2 x 0.2 < 0.5 <= 3 x 0.2
    assert tuned_delay(compute, LinkModel(1.0), period=8) == 5
    assert tuned_delay(compute, LinkModel(0.0)) == 0
