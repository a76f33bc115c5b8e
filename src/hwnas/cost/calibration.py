"""The calibration of a measured latency table. Ops timed one at a time miss part of what a
whole network pays (the framework's work between ops, caches that another op has just filled),
so a table's sum predicts a network's latency only up to an affine map:
measured = intercept + slope x table sum. The map is fitted on whole networks timed in the
same rounds as the ops, kept in the table's metadata, and applied to every latency the table
prices: the expected latency the search optimises, the hard constraint, and every reported
figure. Since E[LAT] is linear in the op costs, the calibrated E[LAT] is the same affine map
of the raw one, and stays differentiable."""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hwnas.cost.errors import MalformedTableError
from hwnas.cost.statistics import Agreement, fit_linear

MIN_NETWORKS = 3  # a line through fewer points says nothing about its error
BUILT = "when the table was built"  # `fitted_by` of the fit on the networks timed with the ops


def check_calibration_networks(networks: int) -> None:
    """Refuse a number of calibration networks that cannot support a fit (0: none, raw sums)."""
    if networks == 0 or networks >= MIN_NETWORKS:
        return
    raise ValueError(
        f"hardware.cost_model.calibration_networks={networks}: a calibration fits the line "
        f"measured = a + b x table sum through whole networks and needs at least {MIN_NETWORKS} "
        f"of them (12 by default); set it to {MIN_NETWORKS} or more, or to 0 to price raw "
        "table sums"
    )


@dataclass(frozen=True)
class Calibration:
    """measured = `intercept_ms` + `slope` x table sum (ms), fitted on `networks` whole
    networks `fitted_by` some step; `fit_error_pct` is their mean absolute % error after the
    calibration, `held_out` how it did on networks it was not fitted on (if judged there)."""

    intercept_ms: float
    slope: float
    networks: int
    fitted_by: str
    created: str
    fit_error_pct: float
    held_out: dict[str, float] | None = None

    def apply(self, table_sum_ms: float) -> float:
        return self.intercept_ms + self.slope * table_sum_ms

    def describe(self) -> str:
        return (
            f"calibrated: measured = {self.intercept_ms:.3f} ms + {self.slope:.3f} x table "
            f"sum, fitted on {self.networks} networks {self.fitted_by}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Calibration:
        """From a table's metadata, refusing what would turn latencies into nonsense."""
        try:
            cal = cls(
                intercept_ms=float(data["intercept_ms"]),
                slope=float(data["slope"]),
                networks=int(data["networks"]),
                fitted_by=str(data.get("fitted_by", "")),
                created=str(data.get("created", "")),
                fit_error_pct=float(data.get("fit_error_pct", "nan")),
                held_out=data.get("held_out"),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise MalformedTableError(
                f"{where}: the calibration {data!r} needs numbers intercept_ms, slope and networks "
                f"({type(err).__name__} {err}); delete the metadata's calibration entry, or "
                "measure the table again (hardware.cost_model.rebuild=true)"
            ) from None
        if not (math.isfinite(cal.intercept_ms) and math.isfinite(cal.slope) and cal.slope > 0):
            raise MalformedTableError(
                f"{where}: the calibration needs a finite intercept and a slope > 0, got "
                f"{cal.intercept_ms} ms + {cal.slope} x sum; delete the metadata's calibration "
                "entry, or measure the table again (hardware.cost_model.rebuild=true)"
            )
        return cal


def fit_calibration(
    table_sums_ms: Sequence[float],
    measured_ms: Sequence[float],
    fitted_by: str,
    cheapest_sum_ms: float,
) -> tuple[Calibration | None, str]:
    """The calibration that maps `table_sums_ms` onto `measured_ms`, and what it is; None (with
    the reason) where the networks cannot support one: too few, a slope that is not positive
    (noise larger than the spread of the networks), or a calibrated latency of the space's
    cheapest network (`cheapest_sum_ms`) that is not positive."""
    n = len(table_sums_ms)
    if n < MIN_NETWORKS:
        return None, f"{n} networks measured, at least {MIN_NETWORKS} are needed"
    intercept, slope = fit_linear(table_sums_ms, measured_ms)
    if not (math.isfinite(slope) and slope > 0):
        return None, (
            f"the fit over {n} networks has slope {slope:.3g} (the timings are noisier "
            "than the networks differ)"
        )
    if intercept + slope * cheapest_sum_ms <= 0:
        return None, (
            f"the fit {intercept:.3f} ms + {slope:.3f} x sum would price the cheapest "
            f"network at {intercept + slope * cheapest_sum_ms:.3f} ms"
        )
    fitted = [intercept + slope * s for s in table_sums_ms]
    error = Agreement.of(fitted, measured_ms).mean_abs_pct_error
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    cal = Calibration(intercept, slope, n, fitted_by, created, round(error, 3))
    return cal, cal.describe()
