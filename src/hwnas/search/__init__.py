"""The architecture search: mixed ops, the supernet and the Lightning module that trains it."""

from hwnas.search.mixed_op import ARCH_MODES, MixedOp
from hwnas.search.supernet import SuperNet

__all__ = ["ARCH_MODES", "MixedOp", "SuperNet"]
