"""Gradients of parameters that every rank must hold identically, delayed: a search's
architecture parameters under DTS.

The probabilities that the architecture parameters give decide which path each rank samples,
and the ranks sample from one shared generator, so as long as these parameters are identical
everywhere every rank trains the same path. The delayed update of B1 would set them apart by
each rank's own last gradients; here each rank instead applies, at its m-th step, the average
of step m - t alone, and nothing while m < t (the stale average, REFERENCE B1's ablation,
applied to these parameters only). Every rank then applies the same gradients in the same
order, so the parameters and their optimiser state never differ.
A parameter that no rank gave a gradient (an architecture step that skipped a layer) gets none.

Nothing is folded into an average of the replicas at a sync point: what is in flight is waited
for and kept, to be applied when due, and it travels in checkpoints, so a resumed run applies it
as the unbroken run does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from hwnas.distributed.flat import flat_grads, grad_presence, set_grads
from hwnas.distributed.link import EmulatedLink, Message


class SharedGradients:
    """The exchange of parameters kept identical on every rank, run after backward and before
    their optimiser's step.

    Args:
        params: the parameters (the same order on every rank).
        link: the (emulated) link, shared with the model's own exchange.
        delay: t, in steps of these parameters' optimiser. May be changed later.
    """

    def __init__(self, params: Sequence[Tensor], link: EmulatedLink, delay: int = 0) -> None:
        if delay < 0:
            raise ValueError(f"the delay must be >= 0, got {delay}")
        self.params, self.link, self.delay = list(params), link, delay
        self.in_flight: deque[Message | Tensor] = deque()  # a Message, or its arrived average
        self.steps = 0

    def exchange(self) -> None:
        """Send this step's gradients and replace them by the average of step m - t (none
        while m < t)."""
        local = flat_grads(self.params)
        payload = torch.cat([local, grad_presence(self.params, local)])
        self.in_flight.append(
            self.link.all_reduce_mean(payload, f"shared-parameter exchange of step {self.steps}")
        )
        self.steps += 1
        if len(self.in_flight) <= self.delay:
            for p in self.params:
                p.grad = None
            return
        arrived = self.in_flight.popleft()
        average = (arrived.wait() if isinstance(arrived, Message) else arrived).to(local.dtype)
        set_grads(self.params, average[: local.numel()], average[local.numel() :])

    def settle(self) -> None:
        """Wait for everything in flight and keep the averages for their turn (a sync point)."""
        self.link.drain()
        self.in_flight = deque(
            m.wait().detach().clone() if isinstance(m, Message) else m for m in self.in_flight
        )

    def state_dict(self) -> dict[str, Any]:
        """The averages not applied yet (settled: a checkpoint follows a sync point), on the
        CPU; messages that have not arrived (a checkpoint at an interruption) are left out."""
        arrived = [m if not isinstance(m, Message) else m.result for m in self.in_flight]
        return {
            "steps": self.steps,
            "pending": [a.detach().cpu().clone() for a in arrived if a is not None],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.params[0].device if self.params else torch.device("cpu")
        self.steps = int(state.get("steps", 0))
        self.in_flight = deque(t.to(device) for t in state.get("pending", []))
