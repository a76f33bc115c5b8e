"""Binarised paths: gradients reach only the active candidate; `two` keeps other probabilities."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from hwnas.search import MixedOp, SuperNet


def test_weight_step_gives_no_gradient_to_inactive_candidates_or_alphas(tiny_space) -> None:
    net = SuperNet(tiny_space)
    net.sample_paths(torch.Generator().manual_seed(0))
    net(torch.randn(2, 3, 16, 16)).sum().backward()
    for block in net.blocks:
        for index, op in enumerate(block.candidates):
            grads = [p.grad for p in op.parameters()]
            if index == block.active:
                assert all(g is not None for g in grads)
            else:
                assert all(g is None for g in grads), (
                    f"{block.spec.label}: inactive candidate got gradient"
                )
        assert block.alpha.grad is None


def test_two_mode_keeps_every_other_probability(tiny_space) -> None:
    spec = tiny_space.layers[1]
    layer = MixedOp(spec)
    layer.alpha.data = torch.randn(len(spec.candidates))
    opt = torch.optim.Adam([layer.alpha], lr=0.5, betas=(0.0, 0.999))
    x = torch.randn(4, spec.in_channels, 8, 8)
    for seed in range(5):
        before = torch.softmax(layer.alpha.detach(), 0).clone()
        layer.begin_arch_step("two", before, torch.Generator().manual_seed(seed))
        pair = list(layer._involved)
        opt.zero_grad()
        (layer(x) ** 2).mean().backward()
        others = [i for i in range(len(before)) if i not in pair]
        assert layer.alpha.grad[others].abs().sum() == 0
        opt.step()
        layer.end_arch_step()
        after = torch.softmax(layer.alpha.detach(), 0)
        torch.testing.assert_close(after[others], before[others], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(after[pair].sum(), before[pair].sum(), rtol=1e-5, atol=1e-7)
        assert not torch.allclose(after[pair], before[pair])


def test_two_mode_rescales_the_pair_when_it_is_the_whole_layer(tiny_space) -> None:
    """With two candidates the pair is every alpha: p cannot tell, but the alphas' log-sum-exp
    must come back to where it was, as in the original code (a pair kept as a view of the
    alphas, not a copy, would see the optimiser's step and undo nothing)."""
    spec = replace(tiny_space.layers[1], candidates=tiny_space.layers[1].candidates[:2])
    layer = MixedOp(spec)
    opt = torch.optim.SGD([layer.alpha], lr=1.0)
    x = torch.randn(4, spec.in_channels, 8, 8)
    pairs = set()
    for seed in range(6):
        before = torch.logsumexp(layer.alpha.detach(), 0).clone()
        layer.begin_arch_step("two", torch.tensor([0.5, 0.5]), torch.Generator().manual_seed(seed))
        pairs.add(tuple(layer._involved))
        opt.zero_grad()
        (layer(x) ** 2).mean().backward()
        opt.step()
        assert not torch.allclose(torch.logsumexp(layer.alpha.detach(), 0), before)
        layer.end_arch_step()
        torch.testing.assert_close(torch.logsumexp(layer.alpha.detach(), 0), before)
    assert pairs == {(0, 1), (1, 0)}  # both orders drawn


def test_unknown_mode_is_refused(tiny_space) -> None:
    layer = MixedOp(tiny_space.layers[0])
    with pytest.raises(ValueError, match="arch_update.mode"):
        layer.begin_arch_step("dart", torch.ones(len(layer.candidates)) / 4, torch.Generator())


@pytest.mark.parametrize("mode", ["full", "two", "full_v2"])
def test_arch_step_output_equals_the_active_path(tiny_space, mode: str) -> None:
    """Gates are one-hot: the value of an architecture step's forward is the active path's."""
    net = SuperNet(tiny_space).eval()
    x = torch.randn(2, 3, 16, 16)
    net.begin_arch_step(mode, torch.Generator().manual_seed(3))
    gated = net(x)
    active = [b.active for b in net.blocks]
    net.end_arch_step()
    net.set_paths(active)
    torch.testing.assert_close(gated, net(x))


def test_same_generator_state_gives_the_same_paths(tiny_space) -> None:
    a, b = SuperNet(tiny_space), SuperNet(tiny_space)
    ga, gb = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert [a.sample_paths(ga) for _ in range(10)] == [b.sample_paths(gb) for _ in range(10)]


def test_two_mode_cost_gradient_moves_each_pair_toward_its_cheaper_op(tiny_space) -> None:
    """Through the full softmax with the other alphas detached, some steps from a skewed start
    would move probability toward the dearer op of the pair."""
    spec = tiny_space.layers[1]
    layer = MixedOp(spec)
    n, wrong = len(spec.candidates), 0
    for seed in range(200):
        gen = torch.Generator().manual_seed(seed)
        layer.alpha.data = 2.0 * torch.randn(n, generator=gen)  # skewed
        costs = torch.rand(n, generator=gen)
        layer.begin_arch_step("two", torch.softmax(layer.alpha.detach(), 0), gen)
        a, b = layer._involved
        p = layer.probs_for_cost()
        torch.testing.assert_close(p, layer.probs().detach())  # E[C] is the full expectation
        layer.alpha.grad = None
        (p * costs).sum().backward()
        g = layer.alpha.grad
        # a descent step raises alpha_a against alpha_b iff g_a < g_b: only for the cheaper op
        wrong += bool((g[a] - g[b]) * (costs[a] - costs[b]) < 0)
        assert g[[i for i in range(n) if i not in (a, b)]].abs().sum() == 0
        layer.end_arch_step()
    assert wrong == 0
