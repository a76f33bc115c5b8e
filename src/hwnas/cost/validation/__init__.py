"""Does a latency model predict real latency? Random architectures measured end to end."""

from hwnas.cost.statistics import Agreement, fit_linear, kendall_tau
from hwnas.cost.validation.validate import (
    ValidationReport,
    format_report,
    sample_architectures,
    validate_latency,
)

__all__ = [
    "Agreement",
    "ValidationReport",
    "fit_linear",
    "format_report",
    "kendall_tau",
    "sample_architectures",
    "validate_latency",
]
