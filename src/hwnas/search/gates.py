"""Binarised architecture gates and the gradient estimate of ProxylessNAS (REFERENCE A2):
g is one-hot, and dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i) with p = softmax(alpha)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.autograd import Function


def alpha_grad_from_gate_grad(probs: Tensor, gate_grad: Tensor) -> Tensor:
    """sum_j dL/dg_j p_j (delta_ij - p_i) = p_i (dL/dg_i - <dL/dg, p>)."""
    return probs * (gate_grad - (gate_grad * probs).sum())


class BinaryGates(Function):
    """Forward: one-hot gates with 1 at `active`. Backward: the alpha gradient above."""

    @staticmethod
    def forward(ctx, alpha: Tensor, active: int) -> Tensor:  # type: ignore[override]
        probs = torch.softmax(alpha.detach().float(), dim=0)
        ctx.save_for_backward(probs)
        gates = torch.zeros_like(alpha)
        gates[active] = 1.0
        return gates

    @staticmethod
    def backward(ctx, gate_grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (probs,) = ctx.saved_tensors
        return alpha_grad_from_gate_grad(probs, gate_grad.float()).to(gate_grad.dtype), None


class ActivePathGate(Function):
    """`full_v2`: the forward holds only the active candidate's output y = o_a(x); in backward
    the gate gradients dL/dg_j = <dL/dy, o_j(x)> are formed by re-running every inactive
    candidate under no_grad, so memory stays O(1) in the number of candidates.

    `candidates[j]` is a callable returning o_j(x), or None for Zero (o_j = 0).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        output: Tensor,
        alpha: Tensor,
        inputs: Tensor,
        candidates: Sequence[Callable[[Tensor], Tensor] | None],
        active: int,
    ) -> Tensor:
        ctx.save_for_backward(output, torch.softmax(alpha.detach().float(), dim=0), inputs)
        ctx.candidates, ctx.active = candidates, active
        device = inputs.device.type
        enabled = torch.amp.is_autocast_available(device) and torch.is_autocast_enabled(device)
        ctx.autocast = (enabled, torch.get_autocast_dtype(device) if enabled else None, device)
        return output.view_as(output)

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        output, probs, inputs = ctx.saved_tensors
        enabled, dtype, device = ctx.autocast
        gate_grad = torch.zeros_like(probs)
        mixed = torch.autocast(device, dtype=dtype) if enabled else contextlib.nullcontext()
        with torch.no_grad(), mixed:
            for j, run in enumerate(ctx.candidates):
                if run is None:
                    continue
                out_j = output if j == ctx.active else run(inputs)
                gate_grad[j] = (grad_out.float() * out_j.float()).sum()
        return grad_out, alpha_grad_from_gate_grad(probs, gate_grad), None, None, None
