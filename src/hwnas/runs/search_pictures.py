"""The pictures every search run leaves in its folder (whatever the logger): the searched net
(`arch.png`, `arch.svg`), its probabilities over the epochs (`arch_probs.png`, from
`arch_probs.json`) and the cost of each of its layers (`layer_costs.png`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hwnas.architecture.arch_file import Architecture
from hwnas.cost.model import ExpectedCost
from hwnas.pictures import draw_architecture, draw_layer_costs, draw_prob_history, save_figure
from hwnas.search_space.space import SearchSpace
from hwnas.util.files import write_json

PROB_HISTORY_FILE = "arch_probs.json"


def arch_subtitle(summary: dict[str, Any]) -> str:
    """The line under the net's name, from the run's `summary.json` values: e.g.
    `2.49 ms on mobile, test accuracy 95.3%, 248,018 parameters`."""
    unit = summary["cost_unit"]
    parts = [f"{summary['derived_cost']:.3g} {unit} on {summary['hardware']}"]
    if summary.get("test_acc") is not None and not math.isnan(summary["test_acc"]):
        parts.append(f"test accuracy {100 * summary['test_acc']:.1f}%")
    parts.append(f"{summary['params']:,} parameters")
    return ", ".join(parts)


def prob_record(space: SearchSpace, history: list[dict[str, Any]]) -> dict[str, Any]:
    """What `arch_probs.json` holds: every layer's candidate names and the history of p."""
    return {
        "candidates": [[c.name for c in layer.candidates] for layer in space.layers],
        "history": history,
    }


def write_prob_history(out: Path, record: dict[str, Any]) -> Path:
    return write_json(out / PROB_HISTORY_FILE, record, indent=None)


def write_search_pictures(
    out: Path,
    arch: Architecture,
    indices: list[int],
    expected: ExpectedCost,
    summary: dict[str, Any],
    probs: dict[str, Any],
) -> dict[str, Path]:
    """Draw the three pictures from the run's own data (`summary`: its `summary.json` values);
    returns {name: path of the PNG}."""
    written: dict[str, Path] = {}
    fig = draw_architecture(arch, arch_subtitle(summary))
    written["arch"] = save_figure(fig, out / "arch", ("png", "svg"))[0]
    fig = draw_prob_history(
        probs["history"],
        probs["candidates"],
        f"{arch.name}: probability of every candidate over the search",
    )
    written["arch_probs"] = save_figure(fig, out / "arch_probs")[0]
    costs = [float(c[i]) for c, i in zip(expected.layer_costs, indices, strict=True)]
    fig = draw_layer_costs(
        arch,
        costs,
        expected.fixed,
        expected.unit,
        f"{arch.name} on {summary['hardware']}: {summary['derived_cost']:.3g} "
        f"{expected.unit} in all (fixed: stem, first block, head and any "
        "per-network intercept)",
    )
    written["layer_costs"] = save_figure(fig, out / "layer_costs")[0]
    return written
