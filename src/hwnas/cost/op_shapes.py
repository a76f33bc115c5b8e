"""The ops a network of a search space runs, described by shape: what a cost model prices.
Kinds and fields follow the original ProxylessNAS latency-table keys (REFERENCE A4)."""

from __future__ import annotations

from dataclasses import dataclass

from hwnas.architecture.arch_file import Architecture
from hwnas.search_space.candidates import Candidate
from hwnas.search_space.layer_spec import LayerSpec, conv_output_size
from hwnas.search_space.space import SearchSpace


@dataclass(frozen=True)
class OpShape:
    """One op at one input shape.

    kind: `conv` (stem: conv + BN + ReLU6), `expanded_conv` (MBConv; expand 1 is the
    depthwise-separable block), `conv_1x1` (head conv + BN + ReLU6) or `logits` (global
    pooling + linear).
    """

    kind: str
    input_size: int
    in_channels: int
    out_channels: int
    kernel: int = 1
    stride: int = 1
    expand: float = 1.0
    shortcut: bool = False

    @property
    def output_size(self) -> int:
        return 1 if self.kind == "logits" else conv_output_size(self.input_size, self.stride)


def candidate_op(layer: LayerSpec, cand: Candidate) -> OpShape | None:
    """The op of `cand` at `layer`, or None for Zero (which costs nothing)."""
    if cand.is_zero:
        return None
    return OpShape(
        "expanded_conv",
        layer.input_size,
        layer.in_channels,
        layer.out_channels,
        cand.kernel,
        layer.stride,
        cand.expand,
        layer.shortcut,
    )


def fixed_ops(space: SearchSpace) -> list[OpShape]:
    """Stem, first block and head: the parts every architecture of the space runs."""
    fb = space.first_block
    stem_size = space.stem_output_size
    return [
        OpShape(
            "conv",
            space.input_size,
            space.in_channels,
            space.stem_out,
            space.stem_kernel,
            space.stem_stride,
        ),
        OpShape(
            "expanded_conv",
            stem_size,
            space.stem_out,
            space.first_block_out,
            fb.kernel,
            fb.stride,
            fb.expand,
            fb.stride == 1 and space.stem_out == space.first_block_out,
        ),
        OpShape("conv_1x1", space.head_input_size, space.last_channels, space.head_out),
        OpShape("logits", space.head_input_size, space.head_out, space.num_classes),
    ]


def space_ops(space: SearchSpace) -> list[OpShape]:
    """Every distinct op an architecture of `space` can run (fixed parts and all candidates),
    in network order: what a latency table of the space must price."""
    ops = dict.fromkeys(fixed_ops(space)[:2])
    for layer in space.layers:
        ops.update(dict.fromkeys(op for c in layer.candidates if (op := candidate_op(layer, c))))
    ops.update(dict.fromkeys(fixed_ops(space)[2:]))
    return list(ops)


def architecture_ops(arch: Architecture) -> list[OpShape]:
    """The ops of an architecture file: stem, first block, the kept layers, head."""
    stem_stride = int(arch.stem.get("stride", 2))
    stem = OpShape(
        "conv",
        arch.input_size,
        arch.in_channels,
        int(arch.stem["channels"]),
        int(arch.stem.get("kernel", 3)),
        stem_stride,
    )
    size, ops = stem.output_size, [stem]
    for b in [arch.first_block] + [b for b in arch.layers if not b.removed]:
        ops.append(
            OpShape(
                "expanded_conv",
                size,
                b.in_channels,
                b.channels,
                b.kernel,
                b.stride,
                b.expand,
                b.shortcut,
            )
        )
        size = conv_output_size(size, b.stride)
    head = int(arch.head["channels"])
    last = arch.layers[-1].channels
    return [
        *ops,
        OpShape("conv_1x1", size, last, head),
        OpShape("logits", size, head, arch.num_classes),
    ]
