"""An analytic latency model of a Pixel-1-class phone (TensorFlow Lite, batch 1), fitted to
published end-to-end figures: the `mobile` hardware when no phone can be measured."""

from hwnas.cost.mobile.model import (
    MobileCoefficients,
    MobileLatencyModel,
    OpFeatures,
    load_coefficients,
    op_features,
)

__all__ = [
    "MobileCoefficients",
    "MobileLatencyModel",
    "OpFeatures",
    "load_coefficients",
    "op_features",
]
