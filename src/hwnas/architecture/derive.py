"""Derive: the architecture a search space yields for one candidate choice per layer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hwnas.architecture.arch_file import Architecture, Block
from hwnas.search_space.candidates import Candidate
from hwnas.search_space.space import SearchSpace


def derive_architecture(
    space: SearchSpace,
    indices: Sequence[int],
    name: str | None = None,
    source: dict[str, Any] | None = None,
) -> Architecture:
    """The child of `space` that takes candidate `indices[l]` at layer l (Zero removes it)."""
    if len(indices) != len(space.layers):
        raise ValueError(f"{space.name}: expected {len(space.layers)} choices, got {len(indices)}")
    fb = space.first_block
    first = Block.make(
        0, Candidate(fb.kernel, fb.expand), space.stem_out, space.first_block_out, fb.stride
    )
    layers = [
        Block.make(
            layer.stage, layer.candidates[i], layer.in_channels, layer.out_channels, layer.stride
        )
        for layer, i in zip(space.layers, indices, strict=True)
    ]
    return Architecture(
        name=name or f"{space.name}_derived",
        in_channels=space.in_channels,
        input_size=space.input_size,
        num_classes=space.num_classes,
        stem={"channels": space.stem_out, "kernel": space.stem_kernel, "stride": space.stem_stride},
        first_block=first,
        layers=layers,
        head={"channels": space.head_out, "dropout": space.dropout},
        bn_eps=space.bn_eps,
        source=dict(source or {}),
    )
