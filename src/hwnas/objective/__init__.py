"""The architecture loss: how a search turns the expected cost of its candidates into the
term it minimises beside cross-entropy (REFERENCE A4), soft or as a hard constraint; one
`cost_loss=` choice each (conf/cost_loss/)."""

from hwnas.objective.base import CostObjective
from hwnas.objective.constraint import CostConstraint
from hwnas.objective.soft import (
    AddLinearLoss,
    HardwareCostLoss,
    MulLogLoss,
    NoCostLoss,
    SoftCostLoss,
)
from hwnas.objective.target import SMALLER_UNIT, resolve_target

__all__ = [
    "SMALLER_UNIT",
    "AddLinearLoss",
    "CostConstraint",
    "CostObjective",
    "HardwareCostLoss",
    "MulLogLoss",
    "NoCostLoss",
    "SoftCostLoss",
    "resolve_target",
]
