"""The latency (or cost) of each layer of the derived net, as the search's cost model prices
it: a bar per searched layer, coloured by kernel, and one for the fixed parts."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from hwnas.architecture.arch_file import Architecture
from hwnas.pictures.colours import FIXED_COLOUR, kernel_colour


def draw_layer_costs(
    arch: Architecture, layer_costs: Sequence[float], fixed_cost: float, unit: str, title: str = ""
) -> Figure:
    """`layer_costs[l]`: the cost of the op layer l took (0 for a removed layer);
    `fixed_cost`: stem, first block, head and any per-network intercept, in `unit`."""
    if len(layer_costs) != len(arch.layers):
        raise ValueError(
            f"{len(layer_costs)} layer costs for the {len(arch.layers)} layers of {arch.name}"
        )
    names = ["fixed"] + [f"{i}\n{b.op}" for i, b in enumerate(arch.layers)]
    values = [fixed_cost, *layer_costs]
    colours = [FIXED_COLOUR] + [
        "white" if b.removed else kernel_colour(b.kernel) for b in arch.layers
    ]
    fig = Figure(figsize=(max(6.0, 0.38 * len(values) + 1.5), 3.2))
    ax = fig.add_subplot()
    ax.bar(range(len(values)), values, color=colours, edgecolor="black", linewidth=0.5)
    ax.set_xticks(range(len(values)), names, fontsize=6)
    ax.set_ylabel(unit)
    total = sum(values)
    ax.set_title(title or f"{arch.name}: cost of each layer, {total:.3g} {unit} in all", fontsize=9)
    ax.grid(axis="y", linewidth=0.3)
    ax.set_axisbelow(True)
    return fig
