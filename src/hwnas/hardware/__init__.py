"""Hardware cost models and the hardware term of the architecture loss (REFERENCE A4)."""

from hwnas.hardware.cost_model import CostModel, ExpectedCost
from hwnas.hardware.flops import FlopsCostModel, op_macs
from hwnas.hardware.loss import HardwareCostLoss
from hwnas.hardware.op_shapes import OpShape

__all__ = ["CostModel", "ExpectedCost", "FlopsCostModel", "HardwareCostLoss", "OpShape", "op_macs"]
