"""Validation of a latency model against end-to-end measurement: random architectures of a
space are measured as whole networks on the device and compared with the sum of the table's
op latencies, the check that a table predicts real latency."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from hwnas.cost.cache import store, table_metadata
from hwnas.cost.calibration import fit_calibration
from hwnas.cost.flops import FlopsCostModel
from hwnas.cost.model import CostModel, ExpectedCost
from hwnas.cost.op_shapes import space_ops
from hwnas.cost.profilers.base import Profiler, untouched_random_state
from hwnas.cost.sample_networks import architecture_networks, sample_architectures
from hwnas.cost.statistics import Agreement, fit_linear, kendall_tau
from hwnas.cost.table import LatencyTable
from hwnas.search_space.space import SearchSpace
from hwnas.util.tables import markdown_table


@dataclass
class ValidationReport:
    """Predicted against measured latency (ms) of `n` random architectures. A calibration
    measured = intercept + slope x table sum is fitted on the first `fit_n` and judged, with the
    raw table sum, the calibration the table already held (`stored`, no refit; None if it held
    none) and multiply-adds, on the other `n - fit_n`. `stored_calibration` is that calibration,
    `calibration_stored` whether this validation's fit now replaces it in the cache."""

    space: str
    hardware: str
    sampling: str
    n: int
    fit_n: int
    intercept_ms: float
    slope: float
    raw: Agreement
    corrected: Agreement
    stored: Agreement | None
    stored_calibration: str | None
    calibration_stored: bool
    macs_kendall_tau: float
    seconds: float
    rows: list[dict[str, Any]] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_architectures(
    profiler: Profiler, space: SearchSpace, archs: list[list[int]], progress: bool = True
) -> list[float]:
    """End-to-end latency (ms) of each architecture, built as the timm network it exports to."""
    models = architecture_networks(space, archs, profiler.batch_size)
    timings = profiler.time_modules(models, "end-to-end latency" if progress else None)
    return [t.ms for t in timings]


def _as_table(model: CostModel) -> LatencyTable:
    table = getattr(model, "table", model)  # a MeasuredLatencyModel holds its table
    if not isinstance(table, LatencyTable):
        raise TypeError(f"validation needs a measured latency table, not {type(model).__name__}")
    return table


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
    compare with the table of `model` (prepared for `space`).

    With `model=None` the table is measured anew, its ops in the same round-robin rounds as
    the networks, so that a change of the machine's load between the two cannot pass for an
    error of the table; that table, with the calibration fitted here, then replaces the cached
    one.
    """
    if num_archs < 4 or not 0 < fit_fraction < 1:
        raise ValueError("validation needs num_archs >= 4 and 0 < fit_fraction < 1")
    start = time.perf_counter()
    archs = sample_architectures(space, num_archs, seed, sampling)
    if model is None:
        with untouched_random_state():
            nets = architecture_networks(space, archs, profiler.batch_size)
        table, timings = profiler.measure(space_ops(space), nets, table_metadata(space), progress)
        measured = [t.ms for t in timings]
    else:
        table = _as_table(model)
        measured = measure_architectures(profiler, space, archs, progress)
    stored_cal = table.calibration
    raw = ExpectedCost(table.uncalibrated().set_unit("ms"), space)
    predicted = [raw.of_paths(a) for a in archs]
    macs = [ExpectedCost(FlopsCostModel("MACs"), space).of_paths(a) for a in archs]
    fit_n = min(max(2, round(num_archs * fit_fraction)), num_archs - 2)
    held_pred, held_meas = predicted[fit_n:], measured[fit_n:]
    fitted, why = fit_calibration(
        predicted[:fit_n], measured[:fit_n], "by `python -m hwnas.cost validate`", raw.bounds()[0]
    )
    if fitted is None:  # a degenerate fit (e.g. pure noise) is still reported, never stored
        intercept, slope = fit_linear(predicted[:fit_n], measured[:fit_n])
    else:
        intercept, slope = fitted.intercept_ms, fitted.slope
    corrected = Agreement.of([intercept + slope * p for p in held_pred], held_meas)
    stored = (
        None
        if stored_cal is None
        else Agreement.of([stored_cal.apply(p) for p in held_pred], held_meas)
    )
    calibration_stored = False
    if model is None:
        if fitted is not None:
            held = {
                "networks": corrected.n,
                "mean_abs_pct_error": corrected.mean_abs_pct_error,
                "within_10pct": corrected.within_10pct,
            }
            table = table.calibrated(replace(fitted, held_out=held))
            calibration_stored = True
        else:
            table.metadata["calibration_failed"] = why
        store(table, profiler, space, cache_dir)
    rows = [
        {"choices": a, "predicted_ms": p, "measured_ms": m, "macs": int(c), "fit": i < fit_n}
        for i, (a, p, m, c) in enumerate(zip(archs, predicted, measured, macs, strict=True))
    ]
    return ValidationReport(
        space=space.name,
        hardware=profiler.fingerprint().describe(),
        sampling=sampling,
        n=num_archs,
        fit_n=fit_n,
        intercept_ms=intercept,
        slope=slope,
        raw=Agreement.of(held_pred, held_meas),
        corrected=corrected,
        stored=stored,
        stored_calibration=None if stored_cal is None else stored_cal.describe(),
        calibration_stored=calibration_stored,
        macs_kendall_tau=kendall_tau(macs[fit_n:], held_meas),
        seconds=time.perf_counter() - start,
        rows=rows,
    )


def format_report(report: ValidationReport) -> str:
    """A Markdown table of the held-out agreement before and after the correction."""

    def row(name: str, a: Agreement, tau_macs: str = "") -> list[str]:
        return [
            name,
            f"{a.mean_abs_pct_error:.1f}%",
            f"{100 * a.within_5pct:.0f}%",
            f"{100 * a.within_10pct:.0f}%",
            f"{a.kendall_tau:.3f}",
            tau_macs,
        ]

    header = [
        "prediction",
        "mean abs error",
        "within 5%",
        "within 10%",
        "Kendall tau",
        "tau of multiply-adds",
    ]
    rows = [row("table sum", report.raw, f"{report.macs_kendall_tau:.3f}")]
    if report.stored is not None:
        rows.append(row("stored calibration (no refit)", report.stored))
    rows.append(row("corrected (refit here)", report.corrected))
    stored = (
        f"The table's stored calibration: {report.stored_calibration}."
        if report.stored_calibration
        else "The table held no calibration."
    )
    if report.calibration_stored:
        stored += " This validation's fit replaces it in the cache."
    return "\n".join(
        [
            f"Latency validation of {report.space} on {report.hardware}",
            f"{report.n} random architectures ({report.sampling}): correction fitted on {report.fit_n}, judged on "
            f"{report.n - report.fit_n}; measured = {report.intercept_ms:.3f} ms + "
            f"{report.slope:.3f} x table sum ({report.seconds:.0f} s)",
            stored,
            "",
            markdown_table(header, rows),
        ]
    )
