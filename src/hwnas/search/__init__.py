"""The architecture search: mixed ops, the supernet, the architecture updates and the Lightning
module that trains it."""

from hwnas.search.arch_update import ArchUpdate
from hwnas.search.gradient_update import GradientUpdate
from hwnas.search.mixed_op import ARCH_MODES, MixedOp
from hwnas.search.reinforce import ReinforceUpdate
from hwnas.search.supernet import SuperNet

__all__ = ["ARCH_MODES", "ArchUpdate", "GradientUpdate", "MixedOp", "ReinforceUpdate", "SuperNet"]
