"""The hardware term: E[C] is differentiable in alpha (finite differences), and multiply-adds
match a count taken on the real timm model."""

from __future__ import annotations

import pytest
import timm
import torch

import hwnas.architecture  # noqa: F401  (registers the published nets with timm)
from hwnas.cost import ExpectedCost, FlopsCostModel
from hwnas.objective import HardwareCostLoss
from hwnas.search import SuperNet


def test_expected_cost_gradient_matches_finite_differences(tiny_space) -> None:
    cost = ExpectedCost(FlopsCostModel("kMACs"), tiny_space)
    torch.manual_seed(0)
    alphas = [
        torch.randn(len(c), dtype=torch.float64, requires_grad=True) for c in cost.layer_costs
    ]
    cost.layer_costs = [c.double() for c in cost.layer_costs]

    def value(al):
        return cost([torch.softmax(a, 0) for a in al])

    value(alphas).backward()
    eps = 1e-6
    for layer, a in enumerate(alphas):
        for i in range(len(a)):
            plus = [x.detach().clone() for x in alphas]
            minus = [x.detach().clone() for x in alphas]
            plus[layer][i] += eps
            minus[layer][i] -= eps
            fd = (value(plus) - value(minus)) / (2 * eps)
            assert a.grad[i].item() == pytest.approx(fd.item(), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("mode", ["full", "two", "full_v2"])
@pytest.mark.parametrize("form", ["mul_log", "add_linear"])
def test_hardware_term_moves_alphas_toward_cheaper_ops(tiny_space, mode: str, form: str) -> None:
    """With the CE gradient switched off, the architecture steps must lower E[C] (a detached
    penalty would leave it unchanged)."""
    net = SuperNet(tiny_space)
    cost = ExpectedCost(FlopsCostModel("kMACs"), tiny_space)
    loss_fn = HardwareCostLoss(form, target=cost.bounds()[0] * 1.01, weight=1.0)
    opt = torch.optim.Adam(net.arch_parameters(), lr=0.05, betas=(0.0, 0.999))
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 16, 16)
    start = float(cost(net.probs()))
    for _ in range(30):
        net.begin_arch_step(mode, gen)
        ce = net(x).sum() * 0 + 1.0  # constant CE: only the hardware term has a gradient
        opt.zero_grad()
        loss_fn(ce, cost(net.probs_for_cost())).backward()
        opt.step()
        net.end_arch_step()
    assert float(cost(net.probs())) < 0.9 * start


def test_analytic_macs_match_hooks_and_the_papers_figure(count_macs) -> None:
    from hwnas.architecture import resolve_architecture
    from hwnas.cost.flops import op_macs
    from hwnas.cost.op_shapes import OpShape

    arch = resolve_architecture("proxyless_mobile")
    model = timm.create_model("proxyless_mobile")
    size = 112
    ops = [OpShape("conv", 224, 3, 32, 3, 2)]
    blocks = [arch.first_block] + [b for b in arch.layers if not b.removed]
    for b in blocks:
        ops.append(
            OpShape("expanded_conv", size, b.in_channels, b.channels, b.kernel, b.stride, b.expand)
        )
        size = (size - 1) // b.stride + 1
    ops += [OpShape("conv_1x1", 7, 320, 1280), OpShape("logits", 7, 1280, 1000)]
    analytic = sum(op_macs(op) for op in ops)
    assert analytic == count_macs(model, 224)
    assert analytic == pytest.approx(320e6, rel=0.03)  # "about 320M multiply-adds"


def test_loss_forms_and_bad_targets() -> None:
    ce, cost = torch.tensor(2.0), torch.tensor(160.0)
    assert float(HardwareCostLoss("mul_log", 80)(ce, cost)) == pytest.approx(
        0.2 * 2 * (torch.log(cost) / torch.log(torch.tensor(80.0))) ** 0.3
    )
    assert float(HardwareCostLoss("add_linear", 80)(ce, cost)) == pytest.approx(
        2.0 + 0.1 * (160 - 80) / 80
    )
    assert float(HardwareCostLoss("none", 80)(ce, cost)) == 2.0
    with pytest.raises(ValueError, match="target"):
        HardwareCostLoss("mul_log", 0.5)
    with pytest.raises(ValueError, match="form"):
        HardwareCostLoss("quadratic", 80)
