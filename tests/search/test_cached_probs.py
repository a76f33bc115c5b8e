"""`SuperNet.cpu_probs()` follows the alphas: after an architecture step by any optimiser and
after loading a state, also under `Adam(fused=True)`, whose step does not bump the tensors'
version counter."""

from __future__ import annotations

import pytest
import torch

from hwnas.cost.flops import FlopsCostModel
from hwnas.cost.model import ExpectedCost
from hwnas.search import SuperNet
from hwnas.search.arch_step import architecture_step


def _true_probs(net: SuperNet) -> list[torch.Tensor]:
    return [torch.softmax(a.detach(), 0) for a in net.arch_parameters()]


@pytest.mark.parametrize("options", [{"fused": True}, {"foreach": True}, {"foreach": False}])
def test_cpu_probs_follow_architecture_steps(tiny_space, options: dict) -> None:
    net = SuperNet(tiny_space)
    assert torch.allclose(net.cpu_probs()[0], torch.full((4,), 0.25))
    optimizer = torch.optim.Adam(net.arch_parameters(), lr=0.5, **options)
    cost = ExpectedCost(FlopsCostModel("MACs"), tiny_space)
    x, y = torch.randn(4, 3, 16, 16), torch.randint(0, 4, (4,))
    for seed in range(3):
        architecture_step(
            net,
            x,
            y,
            "full",
            torch.Generator().manual_seed(seed),
            cost,
            lambda ce, c: ce + 1e-3 * c,
            optimizer,
        )
        for cached, true in zip(net.cpu_probs(), _true_probs(net), strict=True):
            torch.testing.assert_close(cached, true)
    assert not torch.allclose(net.cpu_probs()[0], torch.full((4,), 0.25))


def test_cpu_probs_follow_a_loaded_state(tiny_space) -> None:
    trained, fresh = SuperNet(tiny_space), SuperNet(tiny_space)
    with torch.no_grad():
        for a in trained.arch_parameters():
            a.copy_(torch.randn_like(a))
    fresh.cpu_probs()  # cached at the uniform start
    holder = torch.nn.ModuleDict({"supernet": fresh})  # loaded as a submodule, as Lightning does
    holder.load_state_dict({f"supernet.{k}": v for k, v in trained.state_dict().items()})
    for cached, true in zip(fresh.cpu_probs(), _true_probs(trained), strict=True):
        torch.testing.assert_close(cached, true)
