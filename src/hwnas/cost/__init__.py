"""What a candidate network costs on a target device (REFERENCE A4): op shapes, multiply-adds,
measured latency tables and the profilers that build them, the phone model, calibration, and
the validation that shows a model predicts real latency."""

from hwnas.cost.errors import (
    LatencyTableError,
    MalformedTableError,
    MissingLatencyError,
)
from hwnas.cost.fingerprint import HardwareFingerprint
from hwnas.cost.flops import FlopsCostModel, op_macs
from hwnas.cost.from_config import build_cost_model
from hwnas.cost.measured import MeasuredLatencyModel
from hwnas.cost.model import CostModel, ExpectedCost
from hwnas.cost.op_shapes import OpShape
from hwnas.cost.table import LatencyEntry, LatencyTable

__all__ = [
    "CostModel",
    "ExpectedCost",
    "FlopsCostModel",
    "HardwareFingerprint",
    "LatencyEntry",
    "LatencyTable",
    "LatencyTableError",
    "MalformedTableError",
    "MeasuredLatencyModel",
    "MissingLatencyError",
    "OpShape",
    "build_cost_model",
    "op_macs",
]
