from __future__ import annotations

import pytest
import torch

from hwnas.training.optim import warmup_cosine


def _factors(warmup: int, total: int, **kwargs) -> list[float]:
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = warmup_cosine(opt, warmup, total, **kwargs)
    factors = []
    for _ in range(total + 1):
        factors.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return factors


def test_linear_warmup_then_cosine_to_the_floor() -> None:
    f = _factors(4, 14, start_factor=0.2, min_factor=0.1)
    assert f[0] == pytest.approx(0.2) and f[2] == pytest.approx(0.6)
    assert f[4] == pytest.approx(1.0)  # the peak, where the cosine starts
    assert f[9] == pytest.approx(0.55)  # half way down: 0.1 + 0.9 * 0.5
    assert f[14] == pytest.approx(0.1) and f[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(f[4:], f[5:], strict=False))


def test_bad_step_counts_are_refused() -> None:
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        warmup_cosine(opt, 10, 5)
