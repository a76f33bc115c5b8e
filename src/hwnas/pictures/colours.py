"""Colours shared by the pictures: one per kernel size, as in the talk's architecture slides."""

from __future__ import annotations

KERNEL_COLOURS = {1: "#9e9e9e", 3: "#4c72b0", 5: "#55a868", 7: "#c44e52", 9: "#8172b2"}
FIXED_COLOUR = "#bdbdbd"  # stem, first block and head: not searched
OTHER_KERNEL_COLOUR = "#dd8452"


def kernel_colour(kernel: int) -> str:
    return KERNEL_COLOURS.get(kernel, OTHER_KERNEL_COLOUR)
