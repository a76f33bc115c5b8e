"""The settings of a DTS run, checked once at start-up and compared across the ranks."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch.distributed as dist

from hwnas.distributed.compression import COMPRESSIONS

OUTER_OPTIMIZERS = ("nesterov",)


@dataclass(frozen=True)
class DTSSettings:
    """What `distributed=dts` is told (`conf/distributed/dts.yaml` documents every field).

    `delay` is t (steps an average takes to arrive; 0 with `period` 1 is synchronous SGD) or
    "auto"; `period` is p (local steps between exchanges; 1 exchanges gradients every step).
    `sync_warmup_steps` optimiser steps run as synchronous SGD before the delayed or sparse
    exchange starts (post-local SGD's warm-up; torch's `PeriodicModelAverager(warmup_steps=)`).
    """

    delay: int | str = "auto"
    period: int = 1
    correction: bool = True
    outer_optimizer: str | None = None
    outer_lr: float = 0.7
    outer_momentum: float = 0.9
    latency_ms: float = 0.0
    bandwidth_mbps: float | None = None
    clip_grad_norm: float | None = None
    timeout_s: float = 30.0
    auto_warmup_exchanges: int = 5
    max_delay: int = 64
    sync_warmup_steps: int = 0
    compress: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if not (self.delay == "auto" or (isinstance(self.delay, int) and self.delay >= 0)):
            problems.append(f"dts.delay must be a whole number >= 0 or 'auto', got {self.delay!r}")
        if not isinstance(self.period, int) or self.period < 1:
            problems.append(f"dts.period must be a whole number >= 1, got {self.period!r}")
        if not self.correction and self.period != 1:
            problems.append(
                "dts.correction=false is the ablation of the delayed gradient update: "
                "use it with dts.period=1"
            )
        if self.outer_optimizer is not None:
            if self.outer_optimizer not in OUTER_OPTIMIZERS:
                problems.append(
                    f"dts.outer_optimizer must be null or one of {OUTER_OPTIMIZERS}, "
                    f"got {self.outer_optimizer!r}"
                )
            if self.period == 1:
                problems.append(
                    "dts.outer_optimizer steps the averaged parameter delta of the "
                    "sparse update: set dts.period > 1 (DiLoCo uses hundreds)"
                )
        for name in ("latency_ms", "outer_lr"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                problems.append(f"{name} must be a finite number >= 0, got {value}")
        if self.bandwidth_mbps is not None and not self.bandwidth_mbps > 0:
            problems.append(
                f"wan.bandwidth_mbps must be > 0 or null (unlimited), got {self.bandwidth_mbps}"
            )
        if self.clip_grad_norm is not None and not self.clip_grad_norm > 0:
            problems.append(f"dts.clip_grad_norm must be > 0 or null, got {self.clip_grad_norm}")
        if not self.timeout_s > 0:
            problems.append(f"dts.timeout_s must be > 0, got {self.timeout_s}")
        if not isinstance(self.sync_warmup_steps, int) or self.sync_warmup_steps < 0:
            problems.append(
                f"dts.sync_warmup_steps must be a whole number >= 0, got {self.sync_warmup_steps!r}"
            )
        if self.auto_warmup_exchanges < 2 or self.max_delay < 1:
            problems.append("dts.auto_warmup_exchanges must be >= 2 and dts.max_delay >= 1")
        if self.compress is not None and self.compress not in COMPRESSIONS:
            problems.append(
                f"dts.compress must be null or one of {sorted(COMPRESSIONS)}, got {self.compress!r}"
            )
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def mode(self) -> str:
        """ "gradients" (B1, period 1) or "deltas" (B2, period > 1)."""
        return "gradients" if self.period == 1 else "deltas"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_same_on_every_rank(settings: DTSSettings, exchanged_values: int) -> None:
    """Raise on every rank if any rank runs other settings or another model size: an exchange
    between them would mix unrelated numbers, or hang."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    mine = {**settings.to_dict(), "exchanged_values": exchanged_values}
    everyone: list[dict[str, Any] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    differing = sorted({k for other in everyone for k in mine if other and other.get(k) != mine[k]})
    if differing:
        per_rank = "; ".join(
            f"rank {r}: " + ", ".join(f"{k}={o.get(k)!r}" for k in differing)
            for r, o in enumerate(everyone)
            if o is not None
        )
        raise ValueError(
            f"the ranks were started with different DTS settings ({per_rank}): "
            "start every process with the same dts.*, wan.* and model"
        )
