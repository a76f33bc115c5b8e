"""Temporally sparse update (DTS, REFERENCE B2): local steps, and every p steps an exchange of
parameter deltas whose average arrives t steps later.

Every p steps worker j sends delta_j = w_j - anchor_j and sets anchor_j = w_j. When the average
arrives (t steps later) it applies c_j = D - delta_j, with D the average (or the outer
optimiser's step on it), to both w_j and anchor_j. Shifting the anchor too keeps the next
window's delta free of the correction, which the next exchange would otherwise undo. With
t = 0 this is periodic model averaging (torch's `PeriodicModelAverager`); with an outer
Nesterov optimiser it is DiLoCo, here keeping the local progress of the t steps in flight
exactly where DiLoCo's streaming variants blend or discard it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from hwnas.distributed.compression import ErrorFeedback
from hwnas.distributed.flat import add_into, flatten
from hwnas.distributed.link import EmulatedLink, Message

OuterFactory = Callable[[Iterable[Tensor]], Optimizer]


class OuterOptimizer:
    """An optimiser over the averaged delta (DiLoCo's outer step): its gradient is
    anchor - mean(w) = -mean(delta); returns the step it takes.

    The optimiser sees the model as a zero vector, so it must not use weight decay; momentum,
    Nesterov and Adam-style moments work as usual and are identical on every rank (all ranks
    feed it the same average).
    """

    def __init__(self, factory: OuterFactory, numel: int, device: torch.device) -> None:
        self.param = nn.Parameter(torch.zeros(numel, device=device))
        self.optimizer = factory([self.param])
        if any(g.get("weight_decay", 0) for g in self.optimizer.param_groups):
            raise ValueError(
                "dts.outer_optimizer must not use weight decay (it steps the "
                "averaged delta, not the weights)"
            )

    def step(self, mean_delta: Tensor) -> Tensor:
        self.param.grad = -mean_delta.to(self.param.dtype)
        self.optimizer.step()
        with torch.no_grad():
            update = self.param.detach().clone()
            self.param.zero_()
        return update

    def state_dict(self) -> dict[str, Any]:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state)


def nesterov_outer(lr: float = 0.7, momentum: float = 0.9) -> OuterFactory:
    """DiLoCo's outer optimiser: SGD with Nesterov momentum."""
    return lambda params: torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True)


@dataclass
class _Sent:
    due: int  # the local step after which its average is applied
    message: Message
    delta: Tensor
    outer: bool = True  # through the outer optimiser (a whole window), or the plain average


class PeriodicDeltas:
    """The exchange of B2, run after every optimiser step.

    Args:
        params: the parameters (the same order on every rank).
        link: the (emulated) link.
        period: p, local steps between exchanges (>= 1).
        delay: t, steps between sending a delta and applying its average. May be changed later.
        outer: a factory of the outer optimiser (e.g. `nesterov_outer()`), or None to apply the
            plain average.
        compress: "bf16" or "fp16" to send the deltas in 16 bits with error feedback
            (`compression`); each worker then replaces the delta as it travelled.
    """

    def __init__(
        self,
        params: Sequence[Tensor],
        link: EmulatedLink,
        period: int,
        delay: int = 0,
        outer: OuterFactory | None = None,
        compress: str | None = None,
    ) -> None:
        if period < 1 or delay < 0:
            raise ValueError(f"need dts.period >= 1 and dts.delay >= 0, got {period} and {delay}")
        self.params, self.link = list(params), link
        self.period, self.delay = period, delay
        self.anchor = flatten(self.params)
        self.outer = (
            OuterOptimizer(outer, self.anchor.numel(), self.anchor.device) if outer else None
        )
        self.steps = 0  # local steps taken
        self.since_send = 0
        self.in_flight: deque[_Sent] = deque()
        self.feedback = ErrorFeedback(compress) if compress else None

    def before_step(self) -> None:
        """Nothing: the deltas are sent after the step."""

    def after_step(self) -> None:
        """Count a local step; send a delta every `period` steps; apply what is due."""
        self.steps += 1
        self.since_send += 1
        if self.since_send >= self.period:
            self._send()
        while self.in_flight and self.in_flight[0].due <= self.steps:
            self._apply(self.in_flight.popleft())

    def drain(self) -> None:
        """Send the local progress of the open window and apply every average in flight: the
        replicas then hold the same weights (up to float rounding). The open window's average
        is applied as it is, without an outer step: a sync point (a validation, a checkpoint)
        must not move the weights by the outer momentum, or the run would depend on how often
        it validates."""
        if self.since_send:
            self._send(outer=False)
        while self.in_flight:
            self._apply(self.in_flight.popleft())

    def reset_anchor(self) -> None:
        """Take the current weights as the anchor (after the replicas were made identical)."""
        self.anchor = flatten(self.params)
        self.since_send = 0
        if self.feedback is not None:
            self.feedback.reset()

    def after_sync(self) -> None:
        self.reset_anchor()

    def _send(self, outer: bool = True) -> None:
        weights = flatten(self.params)
        delta = weights - self.anchor
        message = self.link.all_reduce_mean(
            delta, f"parameter-delta exchange of local step {self.steps}", self.feedback
        )
        sent = delta if message.sent is None else message.sent
        self.in_flight.append(_Sent(self.steps + self.delay, message, sent, outer))
        self.anchor = weights
        self.since_send = 0

    def _apply(self, sent: _Sent) -> None:
        mean = sent.message.wait().to(sent.delta.dtype)
        step = self.outer.step(mean) if self.outer is not None and sent.outer else mean
        correction = step.to(sent.delta.dtype) - sent.delta
        add_into(self.params, correction)
        self.anchor += correction

    def state_dict(self) -> dict[str, Any]:
        return {"outer": self.outer.state_dict() if self.outer is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.outer is not None and state.get("outer"):
            self.outer.load_state_dict(state["outer"])
