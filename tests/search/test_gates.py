"""The ProxylessNAS gate-gradient estimator against hand computations."""

from __future__ import annotations

import torch

from hwnas.search.gates import BinaryGates, alpha_grad_from_gate_grad
from hwnas.search.mixed_op import MixedOp


def test_estimator_matches_hand_computation() -> None:
    alpha = torch.tensor([0.1, -0.2, 0.3])
    gate_grad = torch.tensor([1.0, 2.0, -1.0])
    p = torch.softmax(alpha, 0)
    # dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i), written out term by term
    expected = torch.zeros(3)
    for i in range(3):
        for j in range(3):
            expected[i] += gate_grad[j] * p[j] * ((1.0 if i == j else 0.0) - p[i])
    torch.testing.assert_close(alpha_grad_from_gate_grad(p, gate_grad), expected)
    # and the autograd Function applies it
    a = alpha.clone().requires_grad_()
    (BinaryGates.apply(a, 1) * gate_grad).sum().backward()
    torch.testing.assert_close(a.grad, expected)
    assert expected.sum().abs() < 1e-6  # the estimate never changes the sum of alphas


def _layer_grads(layer: MixedOp, mode: str, x: torch.Tensor, seed: int) -> tuple[torch.Tensor, int]:
    layer.zero_grad(set_to_none=True)
    layer.begin_arch_step(
        mode, torch.softmax(layer.alpha.detach(), 0), torch.Generator().manual_seed(seed)
    )
    active = layer.active
    torch.manual_seed(1)
    weight = torch.randn(layer.spec.out_channels, 1, 1)
    (layer(x) * weight).sum().backward()
    layer.end_arch_step()
    return layer.alpha.grad.clone(), active


def test_full_and_full_v2_give_the_same_alpha_gradient(tiny_space) -> None:
    spec = tiny_space.layers[1]  # 16 -> 16, stride 1: has Zero and a shortcut
    layer = MixedOp(spec)
    layer.alpha.data = torch.randn(len(spec.candidates))
    x = torch.randn(4, spec.in_channels, 8, 8)
    for seed in range(4):
        g_full, a_full = _layer_grads(layer, "full", x, seed)
        g_v2, a_v2 = _layer_grads(layer, "full_v2", x, seed)
        assert a_full == a_v2
        torch.testing.assert_close(g_full, g_v2, rtol=1e-4, atol=1e-6)
        assert g_full.abs().sum() > 0


def test_full_gradient_equals_estimator_from_explicit_outputs(tiny_space) -> None:
    spec = tiny_space.layers[1]
    layer = MixedOp(spec)
    layer.alpha.data = torch.randn(len(spec.candidates))
    x = torch.randn(4, spec.in_channels, 8, 8)
    grad, _ = _layer_grads(layer, "full", x, seed=0)
    torch.manual_seed(1)
    weight = torch.randn(spec.out_channels, 1, 1).expand(4, -1, 8, 8)  # dL/dy
    with torch.no_grad():
        outs = [
            torch.zeros_like(x) if c.is_zero else op(x)
            for c, op in zip(spec.candidates, layer.candidates, strict=True)
        ]
    gate_grad = torch.stack([(weight * o).sum() for o in outs])
    torch.testing.assert_close(
        grad,
        alpha_grad_from_gate_grad(torch.softmax(layer.alpha.detach(), 0), gate_grad),
        rtol=1e-4,
        atol=1e-6,
    )
