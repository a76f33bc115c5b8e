"""The PyTorch module of each op a latency table prices, built from the same timm blocks as
the derived network, so that the sum of op latencies models the network's latency."""

from __future__ import annotations

from timm.layers import SelectAdaptivePool2d
from torch import nn

from hwnas.cost.op_shapes import OpShape
from hwnas.search_space.blocks import build_head_conv, build_mbconv, build_stem
from hwnas.search_space.candidates import Candidate

BN_EPS = 1e-3  # BN folds into the conv at inference in most runtimes; eps does not change speed


def op_module(op: OpShape) -> nn.Module:
    """An eval-mode module computing `op` on an input of shape (N, C, H, W)."""
    if op.kind == "conv":
        module = nn.Sequential(
            *build_stem(op.in_channels, op.out_channels, op.kernel, op.stride, BN_EPS)
        )
    elif op.kind == "conv_1x1":
        module = nn.Sequential(*build_head_conv(op.in_channels, op.out_channels, BN_EPS))
    elif op.kind == "expanded_conv":
        cand = Candidate(kernel=op.kernel, expand=op.expand)
        module = build_mbconv(cand, op.in_channels, op.out_channels, op.stride, BN_EPS, op.shortcut)
    elif op.kind == "logits":
        pool = SelectAdaptivePool2d(pool_type="avg", flatten=True)
        module = nn.Sequential(pool, nn.Linear(op.in_channels, op.out_channels))
    else:
        raise ValueError(f"unknown op kind {op.kind!r}")
    return module.eval()


def op_input_shape(op: OpShape, batch_size: int) -> tuple[int, int, int, int]:
    return (batch_size, op.in_channels, op.input_size, op.input_size)
