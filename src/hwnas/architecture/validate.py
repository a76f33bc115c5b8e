"""Consistency checks of an architecture file, each naming the offending block."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hwnas.search_space.candidates import Candidate

if TYPE_CHECKING:
    from hwnas.architecture.arch_file import Architecture, Block

ACTIVATIONS = ("relu6",)


def _check_block(block: Block, label: str, channels: int) -> None:
    try:
        cand = Candidate.parse(block.op)
    except ValueError as err:
        raise ValueError(f"{label}: {err}") from err
    if block.in_channels != channels:
        raise ValueError(
            f"{label}: in_channels {block.in_channels} does not match the previous block's "
            f"output channels {channels}"
        )
    if cand.is_zero != block.removed:
        raise ValueError(f"{label}: op {block.op!r} disagrees with removed={block.removed}")
    if cand.is_zero:
        if block.stride != 1 or block.channels != block.in_channels:
            raise ValueError(f"{label}: a removed (zero) layer must keep stride 1 and its channels")
        return
    if (cand.kernel, cand.expand) != (block.kernel, block.expand):
        raise ValueError(f"{label}: op {block.op!r} disagrees with kernel/expand fields")
    if cand.kernel % 2 == 0 or block.stride < 1 or block.channels < 1:
        raise ValueError(f"{label}: kernel must be odd, stride and channels positive")


def validate_architecture(arch: Architecture, where: str) -> None:
    """Raise ValueError if blocks do not chain (channels), use unknown ops or bad settings."""
    if arch.activation not in ACTIVATIONS:
        raise ValueError(
            f"{where}: unknown activation {arch.activation!r}; supported: {ACTIVATIONS}"
        )
    if arch.first_block.removed:
        raise ValueError(f"{where}: the first block cannot be removed")
    channels = int(arch.stem["channels"])
    _check_block(arch.first_block, f"{where}: first_block", channels)
    channels = arch.first_block.channels
    stage, started = 0, True  # the first block is stage 0
    for i, block in enumerate(arch.layers):
        label = f"{where}: layer {i} (stage {block.stage})"
        _check_block(block, label, channels)
        channels = block.channels
        if block.stage < stage:  # timm builds stages in increasing order, not the file's
            raise ValueError(f"{label}: stages must run in increasing order, but it follows "
                             f"stage {stage}; reorder the layers or renumber the stages")  # fmt: skip
        if block.stage != stage:
            stage, started = block.stage, False
        if block.removed:
            continue
        if started and block.stride != 1:  # timm gives only a stage's first block its stride
            raise ValueError(f"{label}: stride {block.stride} on a block that does not start its "
                             "stage would be built with stride 1; start a new stage there (give "
                             "it and the layers after it the next stage number) or use stride 1")  # fmt: skip
        started = True
    for key in ("in_channels", "input_size", "num_classes"):
        if int(getattr(arch, key)) < 1:
            raise ValueError(f"{where}: {key} must be positive")
