"""One architecture step of ProxylessNAS-G (REFERENCE A2, A4), shared by SearchModule and the
benchmarks: gated forward on a held-out batch, CE + hardware term, gradient to the alphas only."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import Optimizer

from hwnas.cost.model import ExpectedCost
from hwnas.search.mixed_op import ArchMode
from hwnas.search.supernet import SuperNet


class ArchStepResult(NamedTuple):
    loss: Tensor
    ce: Tensor
    expected_cost: Tensor


@contextmanager
def frozen(params: Sequence[nn.Parameter]) -> Iterator[None]:
    """Temporarily stop `params` from requiring gradients."""
    previous = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, previous, strict=True):
            p.requires_grad_(flag)


def architecture_step(
    net: SuperNet,
    x: Tensor,
    y: Tensor,
    mode: ArchMode,
    generator: torch.Generator,
    expected_cost: ExpectedCost,
    cost_loss: Callable[[Tensor, Tensor], Tensor],
    optimizer: Optimizer,
    forward: Callable[[Tensor], Tensor] | None = None,
    backward: Callable[[Tensor], None] | None = None,
    check: Callable[[Tensor], None] | None = None,
    skip_zero_active: bool = False,
) -> ArchStepResult:
    """Update the alphas once on the batch (x, y) with plain cross-entropy and the cost term.

    The weights are frozen meanwhile: the step needs dL/dalpha only, so no weight-gradient
    convolutions run and no activations before the first searched layer are kept.

    Args:
        forward: runs the network (default `net`; SearchModule adds its memory format).
        backward: backpropagates the loss (default `loss.backward()`; Lightning's
            `manual_backward` under DDP and mixed precision).
        check: inspects the loss before backward (SearchModule's NaN check).
        skip_zero_active: leave the alphas of layers whose active candidate is Zero as they
            are this step (the original code's behaviour, REFERENCE A2): their gradient is
            dropped, so the optimiser neither steps them nor updates their moments.
    """
    net.begin_arch_step(mode, generator)
    try:
        with frozen(net.weight_parameters()):
            ce = F.cross_entropy((forward or net)(x), y)
            expected = expected_cost(net.probs_for_cost())
            loss = cost_loss(ce, expected)
            if check is not None:
                check(loss)
            optimizer.zero_grad(set_to_none=True)
            (backward or Tensor.backward)(loss)
        if skip_zero_active:
            for block in net.blocks:
                if block.active_is_zero():
                    block.alpha.grad = None
        optimizer.step()
    finally:
        net.invalidate_probs()
        net.end_arch_step()
    return ArchStepResult(loss.detach(), ce.detach(), expected.detach())
