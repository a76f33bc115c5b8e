"""The hardware matrix as a heat map: every architecture's cost on every hardware model, each
column coloured relative to its best (cheapest) entry, which is outlined."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle


def column_best(grid: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """Per cell, the lowest value of its column among the rows of its group (nets at the same
    input compete with each other only)."""
    best = np.full(grid.shape, np.nan)
    for group in set(groups):
        rows = [r for r, g in enumerate(groups) if g == group]
        sub = np.where(np.isnan(grid[rows]), np.inf, grid[rows]).min(axis=0)
        best[rows] = np.where(np.isinf(sub), np.nan, sub)
    return best


def draw_hardware_matrix(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[float | None]],
    groups: Sequence[str] | None = None,
    title: str = "",
) -> Figure:
    """`values[r][c]`: the cost of architecture `rows[r]` on hardware `columns[c]` (None where
    that hardware cannot price it); `groups[r]`: the row's input (nets are compared within a
    group). Colour: value / the best of its column in its group."""
    grid = np.array([[np.nan if v is None else float(v) for v in row] for row in values])
    if grid.size == 0 or np.isnan(grid).all():
        raise ValueError("no hardware priced any of the nets: nothing to draw")
    best = column_best(grid, groups or [""] * len(rows))
    ratio = grid / best
    fig = Figure(figsize=(1.5 * len(columns) + 2.8, 0.5 * len(rows) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(
        ratio, cmap="RdYlGn_r", vmin=1.0, vmax=max(1.5, float(np.nanmax(ratio))), aspect="auto"
    )
    for r in range(len(rows)):
        for c in range(len(columns)):
            if np.isnan(grid[r, c]):
                ax.text(c, r, "-", ha="center", va="center", fontsize=7)
                continue
            is_best = grid[r, c] == best[r, c]
            ax.text(
                c,
                r,
                f"{grid[r, c]:.3g}\n({ratio[r, c]:.2f}x)",
                ha="center",
                va="center",
                fontsize=6.5,
                fontweight="bold" if is_best else "normal",
            )
            if is_best:
                ax.add_patch(
                    Rectangle(
                        (c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.6
                    )
                )
    ax.set_xticks(range(len(columns)), columns, fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    fig.colorbar(image, ax=ax, label="x the column's best (same input)")
    ax.set_title(
        title
        or "Cost of each net on each hardware (outlined: the column's best "
        "among nets of the same input)",
        fontsize=9,
    )
    return fig
