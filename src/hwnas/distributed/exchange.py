"""What `DTSStrategy` asks of an exchange, and the synchronous warm-up as one.

`DelayedGradients` (period 1) does its work in `before_step`, between backward and the
optimiser step; `PeriodicDeltas` (period > 1) in `after_step`. `SynchronousWarmup` runs
synchronous SGD for the first optimiser steps and then hands over to the configured exchange.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Exchange(Protocol):
    delay: int  # steps until an average arrives

    def before_step(self) -> None:
        """After backward, before the optimiser step."""

    def after_step(self) -> None:
        """After the optimiser step."""

    def drain(self) -> None:
        """Wait for everything in flight (a sync point follows)."""

    def after_sync(self) -> None:
        """The replicas were just made identical."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class SynchronousWarmup:
    """`synchronous` (the delayed update at t = 0) until `over()` says so, then `configured`,
    which starts from the identical replicas the synchronous steps left; `on_switch` runs then.
    Setting `delay` sets the configured exchange's."""

    def __init__(
        self,
        synchronous: Exchange,
        configured: Exchange,
        over: Callable[[], bool],
        on_switch: Callable[[], None],
    ) -> None:
        self.synchronous, self.configured, self.current = synchronous, configured, synchronous
        self.over, self.on_switch = over, on_switch

    @property
    def warming(self) -> bool:
        return self.current is self.synchronous

    @property
    def delay(self) -> int:
        return self.current.delay

    @delay.setter
    def delay(self, value: int) -> None:
        self.configured.delay = value

    def before_step(self) -> None:
        if self.warming and self.over():
            self.current = self.configured
            self.configured.after_sync()
            self.on_switch()
        self.current.before_step()

    def after_step(self) -> None:
        self.current.after_step()

    def drain(self) -> None:
        self.current.drain()

    def after_sync(self) -> None:
        self.current.after_sync()

    def state_dict(self) -> dict[str, Any]:
        return self.configured.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.configured.load_state_dict(state)
