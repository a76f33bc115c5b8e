"""The architecture loss: how a search turns the expected cost of its candidates into the
term it minimises beside cross-entropy (REFERENCE A4), soft or as a hard constraint."""

from hwnas.objective.constraint import CostConstraint
from hwnas.objective.soft import HardwareCostLoss

__all__ = ["CostConstraint", "HardwareCostLoss"]
