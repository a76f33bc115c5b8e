"""Random architectures of a search space, built as the networks they export to: what a latency
table is calibrated and validated on, end to end."""

from __future__ import annotations

import math
import random

from torch import nn

from hwnas.architecture.derive import derive_architecture
from hwnas.architecture.timm_model import build_timm_model
from hwnas.cost.flops import FlopsCostModel
from hwnas.cost.model import ExpectedCost
from hwnas.search_space.space import SearchSpace

SAMPLINGS = ("stratified", "uniform")


def sample_architectures(
    space: SearchSpace, n: int, seed: int = 0, sampling: str = "stratified"
) -> list[list[int]]:
    """`n` distinct architectures of `space`.

    `uniform` draws each layer's candidate uniformly: by the central limit theorem nearly all
    such nets land near the middle of the space's latency range. `stratified` (the default)
    covers the whole range, as a latency predictor must: each architecture draws a level u in
    [0, 1] and takes, in every layer, a candidate near quantile u of that layer's candidates
    ordered by multiply-adds (Zero first).
    """
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown validate.sampling {sampling!r}; choose one of {SAMPLINGS}")
    total = math.prod(space.num_candidates)
    if n > total:
        raise ValueError(f"{space.name} has only {total} architectures; ask for at most that many")
    rng = random.Random(seed)
    order = [sorted(range(len(c)), key=c.__getitem__) for c in layer_macs(space)]
    seen: dict[tuple[int, ...], None] = {}
    while len(seen) < n:
        level = rng.random()
        arch = []
        for ranked in order:
            if sampling == "uniform":
                arch.append(rng.randrange(len(ranked)))
                continue
            pos = round(level * (len(ranked) - 1) + rng.gauss(0, 1))
            arch.append(ranked[min(max(pos, 0), len(ranked) - 1)])
        seen[tuple(arch)] = None
    return [list(a) for a in seen]


def layer_macs(space: SearchSpace) -> list[list[float]]:
    """Multiply-adds of every candidate of every layer."""
    return [c.tolist() for c in ExpectedCost(FlopsCostModel("MACs"), space).layer_costs]


def architecture_networks(
    space: SearchSpace, archs: list[list[int]], batch_size: int
) -> list[tuple[nn.Module, tuple[int, ...]]]:
    """Each architecture as the timm network it exports to, with its input shape."""
    shape = (batch_size, space.in_channels, space.input_size, space.input_size)
    return [(build_timm_model(derive_architecture(space, a)), shape) for a in archs]
