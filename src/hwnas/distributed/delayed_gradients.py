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

In a search only the sampled path has gradients. With `sparse` the exchange also says which
parameters had one, and a parameter gets a gradient at step k only if it had one at step k or
on some rank at step k - t: the optimiser then leaves the other candidates (their momentum and
weight decay) alone, as a one-process search does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from hwnas.distributed.compression import ErrorFeedback
from hwnas.distributed.flat import flat_grads, grad_presence, set_grads
from hwnas.distributed.link import EmulatedLink, Message


class DelayedGradients:
    """The exchange of B1, run after backward and before the optimiser step.

    Args:
        params: the parameters the optimiser steps (the same order on every rank).
        link: the (emulated) link the averages travel over.
        delay: t, in steps; 0 is synchronous SGD. May be raised later (`delay=auto`).
        correction: False applies the stale average alone, w <- w - lr gbar(k - t) (and
            nothing while k < t): the ablation that shows why the correction matters.
        sparse: parameters without a gradient keep none unless the correction touches them
            (one more value per parameter travels with each exchange).
        compress: "bf16" or "fp16" to send in 16 bits with error feedback (`compression`);
            the correction then takes off what this rank's gradient became on the way.
    """

    def __init__(
        self,
        params: Sequence[Tensor],
        link: EmulatedLink,
        delay: int = 0,
        correction: bool = True,
        sparse: bool = False,
        compress: str | None = None,
    ) -> None:
        if delay < 0:
            raise ValueError(f"dts.delay must be >= 0, got {delay}")
        self.params, self.link = list(params), link
        self.delay, self.correction, self.sparse = delay, correction, sparse
        # (its average, g_j sent, which parameters had a gradient here or None if not sparse)
        self.in_flight: deque[tuple[Message, Tensor, Tensor | None]] = deque()
        self.steps = 0
        self.feedback = ErrorFeedback(compress) if compress else None

    def exchange(self) -> None:
        """Send this step's gradients, and replace them by the corrected gradient."""
        local = flat_grads(self.params)
        present = grad_presence(self.params, local) if self.sparse else None
        payload = local if present is None else torch.cat([local, present])
        message = self.link.all_reduce_mean(
            payload, f"gradient exchange of local step {self.steps}", self.feedback
        )
        sent = local if message.sent is None else message.sent[: local.numel()]
        self.in_flight.append((message, sent, present))
        self.steps += 1
        if len(self.in_flight) <= self.delay:  # k < t: nothing has arrived yet
            if not self.correction:
                zeros = torch.zeros_like(local)
                set_grads(
                    self.params, zeros, None if present is None else torch.zeros_like(present)
                )
            return
        message, sent, _ = self.in_flight.popleft()
        average = message.wait().to(local.dtype)
        mean, touched = average[: local.numel()], average[local.numel() :]
        update = (local - sent) + mean if self.correction else mean
        if present is not None and self.correction:
            touched = torch.maximum(touched, present)
        set_grads(self.params, update, touched if present is not None else None)

    def before_step(self) -> None:
        self.exchange()

    def after_step(self) -> None:
        """Nothing: the exchange happened before the step."""

    def after_sync(self) -> None:
        """Nothing: the delay's state was drained with the messages."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore: a checkpoint is written at a sync point, with nothing in flight."""

    def local_gradients_in_flight(self) -> list[Tensor]:
        """This worker's gradients whose averages have not arrived yet (oldest first)."""
        return [sent for _, sent, _ in self.in_flight]

    def drain(self) -> None:
        """Wait for everything in flight and forget it: the replicas' average (taken next, by
        `average_replicas`) already holds what the corrections would apply."""
        self.link.drain()
        self.in_flight.clear()
        if self.feedback is not None:
            self.feedback.reset()
