"""An analytic latency model of a Pixel-1-class phone (TensorFlow Lite, float32, batch 1), the
paper's mobile target (REFERENCE A4), for when no phone can be measured.

Every op is split into the primitive layers TensorFlow Lite runs (BN folded into the convs,
ReLU6 fused), and priced as

    LAT(op) = a * dense MMACs + b * depthwise MMACs + c * MB moved + d * layers

with `a`, `b`, `c` fitted to four published end-to-end latencies (`fit.py`) and `d`, a fixed
per-layer overhead, a prior rather than a fit. MB moved counts float32 activations read and
written by each primitive layer plus its weights, as if nothing stayed in cache.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from hwnas.cost.errors import folder_message
from hwnas.cost.model import CostModel
from hwnas.cost.op_shapes import OpShape
from hwnas.cost.units import ms_to
from hwnas.search_space.blocks import mid_channels

BYTES_PER_VALUE = 4  # float32
DEFAULT_COEFFICIENTS = "pixel1_tflite.yaml"


@dataclass(frozen=True)
class OpFeatures:
    """What an op costs on the phone, before pricing: work and traffic of its layers."""

    dense_mmacs: float  # full and 1x1 convolutions, the classifier
    depthwise_mmacs: float
    mbytes: float  # activations read + written and weights, 1e6 bytes
    layers: int  # primitive TensorFlow Lite layers (conv, depthwise, add, pool, FC)

    def __add__(self, other: OpFeatures) -> OpFeatures:
        return OpFeatures(
            self.dense_mmacs + other.dense_mmacs,
            self.depthwise_mmacs + other.depthwise_mmacs,
            self.mbytes + other.mbytes,
            self.layers + other.layers,
        )


def _layer(dense: int = 0, depthwise: int = 0, values: int = 0) -> OpFeatures:
    """One primitive layer: its multiply-adds and the values (activations, weights) it moves."""
    return OpFeatures(dense / 1e6, depthwise / 1e6, values * BYTES_PER_VALUE / 1e6, 1)


def _mbconv_features(op: OpShape) -> OpFeatures:
    """1x1 expand (absent for expand 1), depthwise kxk, 1x1 project, residual add."""
    hw_in, hw_out = op.input_size**2, op.output_size**2
    cin, cout, k2 = op.in_channels, op.out_channels, op.kernel**2
    mid = mid_channels(cin, op.expand)
    total = OpFeatures(0.0, 0.0, 0.0, 0)
    if op.expand != 1:
        total += _layer(dense=hw_in * cin * mid, values=hw_in * (cin + mid) + cin * mid)
    total += _layer(depthwise=hw_out * mid * k2, values=hw_in * mid + hw_out * mid + mid * k2)
    total += _layer(dense=hw_out * mid * cout, values=hw_out * (mid + cout) + mid * cout)
    if op.shortcut:  # reads both operands, writes the sum
        total += _layer(values=3 * hw_out * cout)
    return total


def op_features(op: OpShape) -> OpFeatures:
    """Multiply-adds, bytes moved and layer count of `op` (the same op kinds as `op_macs`)."""
    hw_in, hw_out = op.input_size**2, op.output_size**2
    cin, cout = op.in_channels, op.out_channels
    if op.kind in ("conv", "conv_1x1"):
        weights = cin * cout * op.kernel**2
        return _layer(dense=hw_out * weights, values=hw_in * cin + hw_out * cout + weights)
    if op.kind == "logits":  # global average pool, then the linear classifier
        return _layer(values=hw_in * cin + cin) + _layer(
            dense=cin * cout, values=cin + cin * cout + cout
        )
    if op.kind == "expanded_conv":
        return _mbconv_features(op)
    raise ValueError(f"unknown op kind {op.kind!r}")


@dataclass(frozen=True)
class MobileCoefficients:
    """The model's prices: ms per million dense / depthwise multiply-adds, per MB moved and
    per primitive layer."""

    ms_per_dense_mmac: float
    ms_per_depthwise_mmac: float
    ms_per_mb: float
    ms_per_layer: float

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"coefficient {name} must be finite and >= 0, got {value}")

    def price(self, f: OpFeatures) -> float:
        """Latency in ms of an op (or a sum of ops) with features `f`."""
        return (
            self.ms_per_dense_mmac * f.dense_mmacs
            + self.ms_per_depthwise_mmac * f.depthwise_mmacs
            + self.ms_per_mb * f.mbytes
            + self.ms_per_layer * f.layers
        )


def default_coefficients_path() -> Path:
    """The packaged Pixel 1 fit."""
    return Path(str(files("hwnas.cost.mobile") / DEFAULT_COEFFICIENTS))


def load_coefficients_file(path: str | Path | None = None) -> dict[str, Any]:
    """The coefficients file as a mapping (the packaged fit when `path` is None)."""
    path = default_coefficients_path() if path is None else Path(path)
    if path.is_dir():
        raise FileNotFoundError(
            folder_message(path, f"mobile latency coefficients {path}", ("*.yaml", "*.yml"))
        )
    if not path.is_file():
        raise FileNotFoundError(f"mobile latency coefficients not found: {path.resolve()}")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("coefficients"), dict):
        raise ValueError(f"{path}: expected a mapping with a `coefficients` mapping")
    return data


def load_coefficients(path: str | Path | None = None) -> MobileCoefficients:
    """The coefficients stored in `path` (the packaged Pixel 1 fit when None)."""
    data = load_coefficients_file(path)
    try:
        return MobileCoefficients(**{k: float(v) for k, v in data["coefficients"].items()})
    except TypeError as err:
        raise ValueError(
            f"{path or default_coefficients_path()}: bad coefficients ({err})"
        ) from err


class MobileLatencyModel(CostModel):
    """Estimated latency of each op on a Pixel 1 (TensorFlow Lite, batch 1); a `CostModel`.

    An estimate fitted to four published end-to-end figures, not a measurement: a latency
    table measured on the phone (`hardware.table=PATH`) replaces it.

    Args:
        coefficients: a coefficients file (see `pixel1_tflite.yaml`) or `MobileCoefficients`;
            None loads the packaged Pixel 1 fit.
        unit: `ms` or `us` (`us` keeps costs of small spaces above 1, as `mul_log` needs).
    """

    def __init__(
        self, coefficients: str | Path | MobileCoefficients | None = None, unit: str = "ms"
    ) -> None:
        self._scale = ms_to(unit)
        self.unit = unit
        if not isinstance(coefficients, MobileCoefficients):
            coefficients = load_coefficients(coefficients)
        self.coefficients = coefficients

    def op_cost(self, op: OpShape) -> float:
        return self.coefficients.price(op_features(op)) * self._scale

    def net_cost(self, ops: list[OpShape]) -> float:
        """Latency of a whole network given as its ops."""
        return sum(self.op_cost(op) for op in ops)
