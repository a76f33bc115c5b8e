"""A clock for the emulated link and the step timer whose time moves only when told to: compute
is `advance(seconds)`, and a wait for a message jumps to its arrival. Timings then follow from
the link's formula alone, whatever the machine's speed or load. Not a test module."""

from __future__ import annotations

from hwnas.distributed.link import Clock


class VirtualClock(Clock):
    """Starts at `start` seconds; every process that starts one at the same value shares it."""

    def __init__(self, start: float = 100.0) -> None:
        self.time = start

    def now(self) -> float:
        return self.time

    def sleep_until(self, deadline: float) -> None:
        self.time = max(self.time, deadline)

    def advance(self, seconds: float) -> None:
        """`seconds` of compute (or of anything but waiting for the link)."""
        self.time += seconds
