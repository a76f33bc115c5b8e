"""Multiply-adds of each op, computed analytically (the `flops` hardware)."""

from __future__ import annotations

from hwnas.cost.model import CostModel
from hwnas.cost.op_shapes import OpShape
from hwnas.search_space.blocks import mid_channels


def op_macs(op: OpShape) -> int:
    """Multiply-adds of convolutions and the classifier (BN, activations, adds and pooling are
    not counted, as usual for multiply-add counts)."""
    hw_in, hw_out = op.input_size**2, op.output_size**2
    if op.kind == "conv":
        return hw_out * op.in_channels * op.out_channels * op.kernel**2
    if op.kind == "conv_1x1":
        return hw_out * op.in_channels * op.out_channels
    if op.kind == "logits":
        return op.in_channels * op.out_channels
    if op.kind == "expanded_conv":
        mid = mid_channels(op.in_channels, op.expand)
        expand = 0 if op.expand == 1 else hw_in * op.in_channels * mid
        return expand + hw_out * mid * op.kernel**2 + hw_out * mid * op.out_channels
    raise ValueError(f"unknown op kind {op.kind!r}")


UNITS = {"MACs": 1.0, "kMACs": 1e3, "MMACs": 1e6, "GMACs": 1e9}


class FlopsCostModel(CostModel):
    """Cost = multiply-adds in `unit` (default millions, MMACs): hardware-agnostic, a proxy
    for latency."""

    def __init__(self, unit: str = "MMACs") -> None:
        if unit not in UNITS:
            raise ValueError(f"unknown FLOPs unit {unit!r}; choose one of {list(UNITS)}")
        self.unit = unit

    def op_cost(self, op: OpShape) -> float:
        return op_macs(op) / UNITS[self.unit]
