"""Expected latency E[LAT] (REFERENCE A4) is differentiable in alpha: its gradient matches
finite differences."""

from __future__ import annotations

import torch

from hwnas.cost import LatencyEntry, LatencyTable
from hwnas.cost.model import ExpectedCost
from hwnas.cost.op_shapes import space_ops


def test_expected_latency_gradient_matches_finite_differences(tiny_space) -> None:
    entries = {op: LatencyEntry(0.05 + 0.1 * i) for i, op in enumerate(space_ops(tiny_space))}
    expected = ExpectedCost(LatencyTable(entries, {}), tiny_space)
    torch.manual_seed(0)
    alphas = [
        torch.randn(n, dtype=torch.float64, requires_grad=True) for n in tiny_space.num_candidates
    ]

    def e_lat(a: list[torch.Tensor]) -> torch.Tensor:
        return expected([x.softmax(0) for x in a])

    e_lat(alphas).backward()
    eps = 1e-6
    for layer, alpha in enumerate(alphas):
        for j in range(len(alpha)):
            up = [a.detach().clone() for a in alphas]
            down = [a.detach().clone() for a in alphas]
            up[layer][j] += eps
            down[layer][j] -= eps
            numeric = (e_lat(up) - e_lat(down)) / (2 * eps)
            assert torch.allclose(alpha.grad[j], numeric, atol=1e-6), (layer, j)
    assert any(a.grad.abs().max() > 1e-3 for a in alphas)
