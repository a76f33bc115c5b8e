"""`report.md` and `pareto.png` over the search runs of a sweep: one row per run (its
overrides, hardware, expected and derived cost, accuracy, size, search time, and the train and
eval results of its net where there are some), the accuracy-cost front of each hardware, and
the hardware matrix of the searched nets beside the published ones."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from omegaconf import OmegaConf

from hwnas.architecture.arch_file import Architecture
from hwnas.architecture.timm_model import resolve_architecture
from hwnas.cost.model import cost_metric
from hwnas.pictures import draw_hardware_matrix, save_figure
from hwnas.pictures.pareto import Point, draw_pareto_on, pareto_front
from hwnas.report.hardware_matrix import HardwareMatrix, hardware_matrix, published_archs
from hwnas.report.optuna_results import optuna_solutions
from hwnas.report.pricing import price
from hwnas.report.runs import SearchRun, SkippedRun
from hwnas.util.files import write_text
from hwnas.util.tables import markdown_table

REFERENCE_NETS = ("proxyless_mobile", "proxyless_cpu", "proxyless_gpu")


def _number(value: Any, digits: str = ".3g", scale: float = 1) -> str:
    if value is None or value != value:
        return "-"
    return format(value if scale == 1 else value / scale, digits)


def _percent(value: Any) -> str:
    return "-" if value is None or value != value else f"{100 * value:.2f}"


def _trained_accuracy(run: SearchRun) -> float | None:
    accs = [t.get("test_acc", t.get("test_top1")) for t in run.trained]
    accs += [e.get("test_top1") for e in run.evaluated]
    accs = [a for a in accs if isinstance(a, (int, float))]
    return max(accs) if accs else None


def _measured_latency(run: SearchRun) -> str:
    for evaluation in run.evaluated:
        latency = evaluation.get("latency") or {}
        if latency.get("measured"):
            return (
                f"{latency['measured']:.3g} {latency.get('unit', '')} ({latency.get('hardware')})"
            )
    return "-"


def runs_table(runs: Sequence[SearchRun], root: Path | None) -> str:
    header = [
        "run",
        "overrides",
        "hardware",
        "expected cost",
        "derived cost",
        "test acc %",
        "trained acc %",
        "measured (eval.py)",
        "params",
        "MMACs",
        "search s",
    ]
    rows = []
    for run in runs:
        s, unit = run.summary, run.summary.get("cost_unit", "")
        kind = cost_metric("derived", unit).split("_")[1]  # latency or cost
        rows.append(
            [
                run.label(root),
                " ".join(f"`{o}`" for o in run.overrides) or "(defaults)",
                s.get("hardware", "?"),
                f"{_number(s.get('expected_cost'))} {unit}",
                f"{_number(s.get('derived_cost'))} {unit} ({kind})",
                _percent(s.get("test_acc")),
                _percent(_trained_accuracy(run)),
                _measured_latency(run),
                _number(s.get("params"), ","),
                _number(s.get("macs"), ".2f", 1e6),
                _number(s.get("search_time_s"), ".0f"),
            ]
        )
    return markdown_table(header, rows)


def _adapted(name: str, like: Architecture) -> Architecture:
    """A published net at the runs' input and class count (priced as the runs are)."""
    arch = resolve_architecture(name)
    return dataclasses.replace(
        arch, in_channels=like.in_channels, input_size=like.input_size, num_classes=like.num_classes
    )


def pareto_groups(runs: Sequence[SearchRun]) -> dict[tuple[str, str], list[SearchRun]]:
    """Runs grouped by hardware (with the table given, if any) and unit: only costs of one
    model are comparable."""
    groups: dict[tuple[str, str], list[SearchRun]] = defaultdict(list)
    for run in runs:
        s = run.summary
        hardware = s.get("hardware", "?") + (
            f", table {s['latency_table']}" if s.get("latency_table") else ""
        )
        groups[(hardware, s.get("cost_unit", ""))].append(run)
    return dict(groups)


def reference_points(runs: Sequence[SearchRun]) -> list[Point]:
    """The published nets at the runs' input, priced on the runs' hardware where it can."""
    first = next((r for r in runs if r.arch is not None), None)
    hardware = None if first is None else first.config.get("hardware")
    if first is None or first.arch is None or not isinstance(hardware, dict):
        return []
    like = first.arch
    paths = first.config.get("paths")
    cache_dir = paths.get("cache_dir") if isinstance(paths, dict) else None
    points = []
    for name in REFERENCE_NETS:
        arch = _adapted(name, like)
        cost = price(OmegaConf.create(hardware), arch, cache_dir)
        if cost.value is not None:
            points.append(
                Point(
                    f"{name} at {like.in_channels}x{like.input_size}x{like.input_size}",
                    cost.value,
                    None,
                )
            )
    return points


def draw_sweep_pareto(runs: Sequence[SearchRun], root: Path | None) -> tuple[Figure, str]:
    """One panel per hardware; returns the figure and the Markdown list of each front."""
    groups = pareto_groups(runs)
    fig = Figure(figsize=(6.4 * len(groups), 4.4), layout="constrained")
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    lines = []
    for ax, ((hardware, unit), members) in zip(axes, groups.items(), strict=True):
        points = [
            Point(r.label(root), float(r.summary["derived_cost"]), r.summary.get("test_acc"))
            for r in members
        ]
        draw_pareto_on(
            ax,
            points,
            unit,
            hardware,
            reference_points(members),
            "test accuracy (argmax net, supernet weights)",
        )
        front = pareto_front(points)
        lines.append(
            f"- `{hardware}` ({unit}): "
            + ", ".join(
                f"{points[i].label} ({points[i].cost:.3g} {unit}, {_percent(points[i].accuracy)}%)"
                for i in front
            )
        )
    return fig, "\n".join(lines)


def searched_archs(runs: Sequence[SearchRun], root: Path | None) -> list[tuple[str, Architecture]]:
    """The runs' nets, one row per distinct net (runs that found the same net share it)."""
    seen: dict[str, list[str]] = {}
    archs: dict[str, Architecture] = {}
    for run in runs:
        arch = run.arch
        if arch is None:
            continue
        whole = arch.to_dict()
        key = repr({k: v for k, v in whole.items() if k not in ("name", "source")})
        seen.setdefault(key, []).append(run.label(root))
        archs.setdefault(key, arch)
    return [(f"searched ({', '.join(labels)})", archs[key]) for key, labels in seen.items()]


def runs_text(count: int) -> str:
    return f"{count} search run" + ("" if count == 1 else "s")


def folders_text(count: int) -> str:
    return f"{count} folder" + ("" if count == 1 else "s")


def left_out_markdown(skipped: Sequence[SkippedRun]) -> str:
    """The run folders the report leaves out, each with why."""
    lines = [f"- `{s.folder}`: {s.reason}" for s in skipped]
    return f"## Left out ({folders_text(len(skipped))})\n\n" + "\n".join(lines)


def unread_arch_notes(runs: Sequence[SearchRun], root: Path | None) -> list[str]:
    """The runs left out of the hardware matrix, whose arch.yaml cannot be read ([] if none)."""
    notes = [
        f"- `{r.label(root)}`: not in the matrix ({r.arch_problem})" for r in runs if r.arch is None
    ]
    return ["\n".join(notes)] if notes else []


def write_sweep_report(
    runs: Sequence[SearchRun],
    out: Path,
    root: Path | None,
    hardware: Sequence[str],
    measure: bool = False,
    cache_dir: str | Path | None = None,
    skipped: Sequence[SkippedRun] = (),
) -> dict[str, Path]:
    """Write report.md, pareto.png and hardware_matrix.png into `out` (nothing if the matrix
    cannot be priced on any of `hardware`); report.md names the run folders left out
    (`skipped`) and why."""
    matrix: HardwareMatrix = hardware_matrix(
        searched_archs(runs, root) + published_archs(), hardware, cache_dir, measure
    )
    cols = matrix.available()
    if not cols:
        raise ValueError(
            f"none of --hardware {' '.join(hardware)} can price a net here: "
            + "; ".join(f"{h}: {p.how}" for h, p in zip(hardware, matrix.prices[0], strict=True))
            + "; add mobile or flops, or --measure"
        )
    out.mkdir(parents=True, exist_ok=True)
    fig, fronts = draw_sweep_pareto(runs, root)
    written = {"pareto": save_figure(fig, out / "pareto")[0]}
    fig = draw_hardware_matrix(
        [f"{n} ({i})" for n, i in zip(matrix.names, matrix.inputs, strict=True)],
        [f"{matrix.hardware[c]} ({matrix.units()[c]})" for c in cols],
        [[row[c] for c in cols] for row in matrix.values()],
        matrix.inputs,
    )
    written["hardware_matrix"] = save_figure(fig, out / "hardware_matrix")[0]
    text = "\n\n".join(
        [
            f"# Sweep report: {runs_text(len(runs))}"
            + (f" in `{root}`" if root else "")
            + (f" ({folders_text(len(skipped))} left out, listed below)" if skipped else ""),
            "Cost: `expected` is E[cost] under the final probabilities, `derived` the argmax "
            "net's, both from the run's own cost model. `test acc`: the argmax net with the "
            "supernet's weights (BatchNorm re-estimated); `trained acc`: its best "
            "train.py/eval.py result where the net was trained.",
            runs_table(runs, root),
            *([left_out_markdown(skipped)] if skipped else []),
            "## Pareto front (accuracy up, cost down)",
            f"![Pareto front]({written['pareto'].name})",
            fronts,
            *(
                [f"## Optuna's Pareto solutions ({len(runs)} trials)", optuna]
                if (optuna := optuna_solutions(root))
                else []
            ),
            "## Hardware matrix",
            "Each net on each hardware model (searched nets at their own input, published ones at "
            "224x224); in bold the best of each column among nets of the same input.",
            matrix.markdown(),
            *unread_arch_notes(runs, root),
            f"![Hardware matrix]({written['hardware_matrix'].name})",
        ]
    )
    written["report"] = write_text(out / "report.md", text + "\n")
    return written
