"""Search spaces: candidate ops, searched layers and the space itself (REFERENCE A1)."""

from hwnas.search_space.candidates import ZERO, Candidate
from hwnas.search_space.layer_spec import LayerSpec
from hwnas.search_space.space import FixedBlock, SearchSpace, StageSpec

__all__ = ["ZERO", "Candidate", "FixedBlock", "LayerSpec", "SearchSpace", "StageSpec"]
