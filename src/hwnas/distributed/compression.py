"""Exchanges in half precision that lose nothing over time (`dts.compress=bf16` or `fp16`).

Bandwidth between sites is scarce: a gradient or delta sent in 16 bits moves half the bytes.
Rounding it to 16 bits loses up to 2^-9 (bf16) or 2^-12 (fp16) of every value; error feedback
adds what one message's rounding left out to the next message of the same stream, so over
many steps the sum of what a worker sent equals the sum of what it meant to send, to within
one message's rounding (the residual carried forward), not a growing error.

The average itself is summed in the same 16 bits by the backend; that rounding (relative
2^-9 of the mean in bf16) is not fed back. Sync points (the replicas' average) always travel
in full precision.
"""

from __future__ import annotations

import torch
from torch import Tensor

COMPRESSIONS = {"bf16": torch.bfloat16, "fp16": torch.float16}


class ErrorFeedback:
    """One stream's encoder: `encode(x)` returns x plus the carried residual, rounded to the
    16-bit type, and keeps what the rounding left out for the next call."""

    def __init__(self, compress: str) -> None:
        if compress not in COMPRESSIONS:
            raise ValueError(
                f"dts.compress must be null or one of {sorted(COMPRESSIONS)}, got {compress!r}"
            )
        self.name, self.dtype = compress, COMPRESSIONS[compress]
        self.residual: Tensor | None = None

    def encode(self, x: Tensor) -> Tensor:
        target = x.float() if self.residual is None else x.float() + self.residual
        sent = target.to(self.dtype)
        if not torch.isfinite(sent).all() and torch.isfinite(target).all():
            raise ValueError(
                f"dts.compress={self.name}: a value beyond the 16-bit range (fp16 ends at "
                "65504) cannot be sent; use dts.compress=bf16, which has float32's range"
            )
        self.residual = target - sent.float()
        return sent

    def reset(self) -> None:
        """Forget the residual (at a sync point, where every replica becomes the average)."""
        self.residual = None
