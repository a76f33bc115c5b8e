"""Latency models of target hardware (REFERENCE A4): measured tables, profilers that build
them, a phone model, and the validation that shows they predict real latency."""

from hwnas.latency.errors import (
    LatencyTableError,
    MalformedTableError,
    MissingLatencyError,
)
from hwnas.latency.fingerprint import HardwareFingerprint
from hwnas.latency.measured import MeasuredLatencyModel
from hwnas.latency.select import build_cost_model
from hwnas.latency.table import LatencyEntry, LatencyTable

__all__ = [
    "HardwareFingerprint",
    "LatencyEntry",
    "LatencyTable",
    "LatencyTableError",
    "MalformedTableError",
    "MeasuredLatencyModel",
    "MissingLatencyError",
    "build_cost_model",
]
