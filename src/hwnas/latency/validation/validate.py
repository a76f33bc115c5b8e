"""Validation of a latency model against end-to-end measurement: random architectures of a
space are measured as whole networks on the device and compared with the sum of the table's
op latencies (issue: "proof they predict real latency")."""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hwnas.architecture.derive import derive_architecture
from hwnas.architecture.timm_model import build_timm_model
from hwnas.hardware.cost_model import CostModel, ExpectedCost
from hwnas.hardware.flops import FlopsCostModel
from hwnas.hardware.op_shapes import space_ops
from hwnas.latency.cache import store, table_metadata
from hwnas.latency.profilers.base import Profiler
from hwnas.latency.units import ms_to
from hwnas.latency.validation.statistics import Agreement, fit_linear, kendall_tau
from hwnas.runs.summary import markdown_table
from hwnas.search_space.space import SearchSpace


@dataclass
class ValidationReport:
    """Predicted against measured latency (ms) of `n` random architectures; the correction
    measured = intercept + slope * predicted is fitted on the first `fit_n` and judged, with
    the raw prediction and multiply-adds, on the other `n - fit_n`."""

    space: str
    hardware: str
    sampling: str
    n: int
    fit_n: int
    intercept_ms: float
    slope: float
    raw: Agreement
    corrected: Agreement
    macs_kendall_tau: float
    seconds: float
    rows: list[dict[str, Any]] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SAMPLINGS = ("stratified", "uniform")


def sample_architectures(
    space: SearchSpace, n: int, seed: int = 0, sampling: str = "stratified"
) -> list[list[int]]:
    """`n` distinct architectures of `space`.

    `uniform` draws each layer's candidate uniformly: by the central limit theorem nearly all
    such nets land near the middle of the space's latency range. `stratified` (the default)
    covers the whole range, as a latency predictor must: each architecture draws a level u in
    [0, 1] and takes, in every layer, a candidate near quantile u of that layer's candidates
    ordered by multiply-adds (Zero first).
    """
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown validate.sampling {sampling!r}; choose one of {SAMPLINGS}")
    total = math.prod(space.num_candidates)
    if n > total:
        raise ValueError(f"{space.name} has only {total} architectures; ask for at most that many")
    rng = random.Random(seed)
    order = [sorted(range(len(c)), key=c.__getitem__) for c in _layer_macs(space)]
    seen: dict[tuple[int, ...], None] = {}
    while len(seen) < n:
        level = rng.random()
        arch = []
        for ranked in order:
            if sampling == "uniform":
                arch.append(rng.randrange(len(ranked)))
                continue
            pos = round(level * (len(ranked) - 1) + rng.gauss(0, 1))
            arch.append(ranked[min(max(pos, 0), len(ranked) - 1)])
        seen[tuple(arch)] = None
    return [list(a) for a in seen]


def _layer_macs(space: SearchSpace) -> list[list[float]]:
    return [c.tolist() for c in ExpectedCost(FlopsCostModel("MACs"), space).layer_costs]


def _networks(space: SearchSpace, archs: list[list[int]], batch_size: int) -> list:
    shape = (batch_size, space.in_channels, space.input_size, space.input_size)
    return [(build_timm_model(derive_architecture(space, a)), shape) for a in archs]


def measure_architectures(
    profiler: Profiler, space: SearchSpace, archs: list[list[int]], progress: bool = True
) -> list[float]:
    """End-to-end latency (ms) of each architecture, built as the timm network it exports to."""
    models = _networks(space, archs, profiler.batch_size)
    timings = profiler.time_modules(models, "end-to-end latency" if progress else None)
    return [t.ms for t in timings]


def validate_latency(
    model: CostModel | None,
    profiler: Profiler,
    space: SearchSpace,
    num_archs: int = 50,
    fit_fraction: float = 0.5,
    seed: int = 0,
    sampling: str = "stratified",
    progress: bool = True,
    cache_dir: str | Path | None = None,
) -> ValidationReport:
    """Measure `num_archs` random architectures of `space` (see `sample_architectures`) and
    compare with `model` (prepared for `space`).

    With `model=None` the table is measured anew, its ops in the same round-robin rounds as
    the networks, so that a change of the machine's load between the two cannot pass for an
    error of the table; that table then replaces the cached one.
    """
    if num_archs < 4 or not 0 < fit_fraction < 1:
        raise ValueError("validation needs num_archs >= 4 and 0 < fit_fraction < 1")
    start = time.perf_counter()
    archs = sample_architectures(space, num_archs, seed, sampling)
    if model is None:
        nets = _networks(space, archs, profiler.batch_size)
        table, timings = profiler.measure(space_ops(space), nets, table_metadata(space), progress)
        store(table, profiler, space, cache_dir)
        model, measured = table, [t.ms for t in timings]
    else:
        measured = measure_architectures(profiler, space, archs, progress)
    expected = ExpectedCost(model, space)
    predicted = [expected.of_paths(a) / ms_to(model.unit) for a in archs]
    macs = [ExpectedCost(FlopsCostModel("MACs"), space).of_paths(a) for a in archs]
    fit_n = min(max(2, round(num_archs * fit_fraction)), num_archs - 2)
    intercept, slope = fit_linear(predicted[:fit_n], measured[:fit_n])
    held_pred, held_meas = predicted[fit_n:], measured[fit_n:]
    rows = [{"choices": a, "predicted_ms": p, "measured_ms": m, "macs": int(c), "fit": i < fit_n}
            for i, (a, p, m, c) in enumerate(zip(archs, predicted, measured, macs, strict=True))]  # fmt: skip
    return ValidationReport(
        space=space.name, hardware=profiler.fingerprint().describe(), sampling=sampling,
        n=num_archs, fit_n=fit_n,
        intercept_ms=intercept, slope=slope, raw=Agreement.of(held_pred, held_meas),
        corrected=Agreement.of([intercept + slope * p for p in held_pred], held_meas),
        macs_kendall_tau=kendall_tau(macs[fit_n:], held_meas),
        seconds=time.perf_counter() - start, rows=rows,
    )  # fmt: skip


def format_report(report: ValidationReport) -> str:
    """A Markdown table of the held-out agreement before and after the correction."""

    def row(name: str, a: Agreement, tau_macs: str = "") -> list[str]:
        return [name, f"{a.mean_abs_pct_error:.1f}%", f"{100 * a.within_5pct:.0f}%",
                f"{100 * a.within_10pct:.0f}%", f"{a.kendall_tau:.3f}", tau_macs]  # fmt: skip

    header = ["prediction", "mean abs error", "within 5%", "within 10%", "Kendall tau",
              "tau of multiply-adds"]  # fmt: skip
    rows = [row("table sum", report.raw, f"{report.macs_kendall_tau:.3f}"),
            row("corrected", report.corrected)]  # fmt: skip
    return "\n".join([
        f"Latency validation of {report.space} on {report.hardware}",
        f"{report.n} random architectures ({report.sampling}): correction fitted on {report.fit_n}, judged on "
        f"{report.n - report.fit_n}; measured = {report.intercept_ms:.3f} ms + "
        f"{report.slope:.3f} x table sum ({report.seconds:.0f} s)",
        "", markdown_table(header, rows),
    ])  # fmt: skip
