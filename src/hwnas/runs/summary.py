"""The end-of-search summary: a compact table of the derived architecture and the values of
the run, printed and written as `summary.json`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwnas.architecture.arch_file import Architecture
from hwnas.cost.model import ExpectedCost
from hwnas.runs.recipe import recipe_text
from hwnas.search_space.space import SearchSpace
from hwnas.util.files import write_json
from hwnas.util.tables import format_table


def format_summary(arch: Architecture, summary: dict[str, Any], probs: list[list[float]]) -> str:
    """The derived architecture (with each layer's winning probability) and the run's summary."""
    rows = arch.describe()
    rows = [rows[0] + ("",)] + [
        r + (f"{max(p):.2f}",) for r, p in zip(rows[1:], probs, strict=True)
    ]
    table = format_table(rows, ("stage", "layer", "op", "channels", "stride", "p(op)"))
    unit = summary["cost_unit"]
    lines = [
        f"Derived architecture of {summary['search_space']} ({_hardware_text(summary)}):",
        table,
        "",
        f"expected cost E[C] {summary['expected_cost']:.3f} {unit}; derived net "
        f"{summary['derived_cost']:.3f} {unit}; {_target_text(summary)}",
        *(
            [f"latency model: {summary['cost_calibration']}"]
            if summary.get("cost_calibration")
            else []
        ),
        f"accuracy: val {summary['val_acc']:.4f}, test {summary['test_acc']:.4f} "
        "(argmax path, supernet weights)",
        f"parameters {summary['params']:,}; multiply-adds {summary['macs'] / 1e6:.2f} M; "
        f"search time {summary['search_time_s']:.1f} s",
        *([recipe_text(summary["recipe"])] if summary.get("recipe") else []),
    ]
    return "\n".join(lines)


def _hardware_text(summary: dict[str, Any]) -> str:
    table = summary.get("latency_table")
    return summary["hardware"] + (f", table {table}" if table else "")


def _target_text(summary: dict[str, Any]) -> str:
    target, unit = summary["target"], summary["cost_unit"]
    if summary.get("cost_form") != "constraint":
        return f"target {target:.3f} {unit}"
    met = "met" if summary["derived_cost"] <= target else "NOT met"
    return f"hard constraint {target:.3f} {unit} ({met})"


def write_summary(path: Path, summary: dict[str, Any]) -> Path:
    """Strict JSON (NaN as null), written atomically."""
    return write_json(path, summary)


def write_op_costs(path: Path, space: SearchSpace, expected: ExpectedCost, hardware: str) -> Path:
    """The price of every candidate of every searched layer as the search's cost model gave
    them (the latency table the search used, whatever the hardware model), with the fixed part
    (stem, first block, head and any per-network intercept)."""
    layers = [
        {
            "layer": layer.index,
            "costs": {c.name: float(v) for c, v in zip(layer.candidates, costs, strict=True)},
        }
        for layer, costs in zip(space.layers, expected.layer_costs, strict=True)
    ]
    return write_json(
        path,
        {
            "hardware": hardware,
            "unit": expected.unit,
            "calibration": expected.calibration_text,
            "table_file": None if expected.table_file is None else str(expected.table_file),
            "fixed": expected.fixed,
            "layers": layers,
        },
    )
