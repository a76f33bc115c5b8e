"""Delayed gradient update (DTS, REFERENCE B1).

Each worker sends its gradient without waiting; the global average of step k arrives t steps
later. At step k worker j feeds its optimiser

    g_j(k) - g_j(k - t) + gbar(k - t)

its own gradient at once, and, when the average of step k - t arrives, that average in place of
its own stale contribution (only g_j(k) while k < t). With plain SGD the replicas then share
everything but their last t local gradients:

    w_j(k) = w0 - lr sum_{i < k-t} gbar(i) - lr sum_{k-t <= i < k} g_j(i),

so t = 0 is synchronous SGD exactly, and once the messages in flight are drained the average
of the replicas is the weight that applying every pending correction gives.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import torch
from torch import Tensor

from hwnas.distributed.flat import flat_grads, set_grads
from hwnas.distributed.link import EmulatedLink, Message


class DelayedGradients:
    """The exchange of B1, run after backward and before the optimiser step.

    Args:
        params: the parameters the optimiser steps (the same order on every rank).
        link: the (emulated) link the averages travel over.
        delay: t, in steps; 0 is synchronous SGD. May be raised later (`delay=auto`).
        correction: False applies the stale average alone, w <- w - lr gbar(k - t) (and
            nothing while k < t): the ablation that shows why the correction matters.
    """

    def __init__(self, params: Sequence[Tensor], link: EmulatedLink, delay: int = 0,
                 correction: bool = True) -> None:  # fmt: skip
        if delay < 0:
            raise ValueError(f"dts.delay must be >= 0, got {delay}")
        self.params, self.link = list(params), link
        self.delay, self.correction = delay, correction
        self.in_flight: deque[tuple[Message, Tensor]] = deque()  # (its average, g_j sent)
        self.steps = 0

    def exchange(self) -> None:
        """Send this step's gradients, and replace them by the corrected gradient."""
        local = flat_grads(self.params)
        message = self.link.all_reduce_mean(local, f"gradient exchange of local step {self.steps}")
        self.in_flight.append((message, local))
        self.steps += 1
        if len(self.in_flight) <= self.delay:  # k < t: nothing has arrived yet
            if not self.correction:
                set_grads(self.params, torch.zeros_like(local))
            return
        message, sent = self.in_flight.popleft()
        average = message.wait()
        if self.correction:
            update = (local - sent) + average.to(local.dtype)
        else:
            update = average.to(local.dtype)
        set_grads(self.params, update)

    def local_gradients_in_flight(self) -> list[Tensor]:
        """This worker's gradients whose averages have not arrived yet (oldest first)."""
        return [sent for _, sent in self.in_flight]

    def drain(self) -> None:
        """Wait for everything in flight and forget it: the replicas' average (taken next, by
        `average_replicas`) already holds what the corrections would apply."""
        self.link.drain()
        self.in_flight.clear()
