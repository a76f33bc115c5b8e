"""Accuracy against latency over the runs of a sweep, the Pareto front marked, and reference
nets (the published ones) where the hardware prices them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes


@dataclass(frozen=True)
class Point:
    label: str
    cost: float  # lower is better (latency or multiply-adds)
    accuracy: float | None  # higher is better; None: a reference without a measured accuracy


def has_accuracy(point: Point) -> bool:
    return point.accuracy is not None and not math.isnan(point.accuracy)


def pareto_front(points: Sequence[Point]) -> list[int]:
    """Indices of the points no other point dominates (cost no higher and accuracy no lower,
    one of them strictly), sorted by cost. Points without an accuracy (None or NaN) are never
    on it."""
    scored = [(i, p) for i, p in enumerate(points) if has_accuracy(p)]
    front = []
    for i, p in scored:
        dominated = any(
            q.cost <= p.cost
            and q.accuracy >= p.accuracy
            and (q.cost < p.cost or q.accuracy > p.accuracy)
            for j, q in scored
            if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i].cost, -points[i].accuracy))


def draw_pareto_on(
    ax: Axes,
    points: Sequence[Point],
    unit: str,
    hardware: str,
    references: Sequence[Point] = (),
    accuracy_label: str = "test accuracy",
) -> None:
    """Every run as a dot, the front as a line through its runs, each `reference` as a
    dashed vertical line at its cost (their accuracy on this task is not known)."""
    front = pareto_front(points)
    scored = [p for p in points if has_accuracy(p)]
    ax.scatter(
        [p.cost for p in scored],
        [100 * p.accuracy for p in scored],
        s=22,
        color="#4c72b0",
        label="run",
        zorder=3,
    )
    if front:
        ax.plot(
            [points[i].cost for i in front],
            [100 * points[i].accuracy for i in front],
            color="#c44e52",
            marker="o",
            markersize=7,
            markerfacecolor="none",
            linewidth=1.2,
            label="Pareto front",
            zorder=4,
            drawstyle="steps-post",
        )
    for p in scored:
        ax.annotate(
            p.label,
            (p.cost, 100 * p.accuracy),
            fontsize=6,
            xytext=(3, 3),
            textcoords="offset points",
        )
    for ref in references:
        ax.axvline(ref.cost, color="#8c8c8c", linestyle="--", linewidth=0.8)
        ax.text(
            ref.cost,
            1.0,
            f" {ref.label}",
            rotation=90,
            va="top",
            ha="right",
            fontsize=6,
            transform=ax.get_xaxis_transform(),
            color="#616161",
        )
    ax.set_xlabel(
        f"latency on {hardware} ({unit})"
        if unit in ("ms", "us")
        else f"cost on {hardware} ({unit})"
    )
    ax.set_ylabel(f"{accuracy_label} (%)")
    ax.grid(linewidth=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"Accuracy against {hardware} cost over {len(scored)} runs", fontsize=9)
