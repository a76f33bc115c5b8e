"""Time of each optimiser step, split into the exposed wait for exchanges and the rest."""

from __future__ import annotations

from collections import deque

from hwnas.distributed import link


class StepTimer:
    """A step lasts from the end of the previous step to the end of this one (so data loading
    counts as compute), and its wait is what the link waited over the same span (so a search's
    architecture exchange between two weight steps counts); a pause in between (validation, a
    sync point) starts afresh, and counts only in the wall time: from the start of the first
    step to the end of the last, pauses included.

    Args:
        history: how many (step, wait) pairs `history` keeps.
        clock: the time steps are read on (None: the link's `CLOCK`, which its waits are
            read on too).
    """

    def __init__(self, history: int = 10_000, clock: link.Clock | None = None) -> None:
        self.clock = link.CLOCK if clock is None else clock
        self.steps, self.total_step_s, self.total_wait_s = 0, 0.0, 0.0
        self.history: deque[tuple[float, float]] = deque(maxlen=history)  # (step s, wait s)
        self._last_end: float | None = None
        self.last_end = 0.0
        self._begin: float | None = None
        self._wait_before = 0.0
        self._wait_at_end = 0.0
        self.first_start: float | None = None
        self.optimizer_steps = 0  # every step, the first of each series too

    def reset(self) -> None:
        """The next step starts a new series: what came before it was not training."""
        self._last_end = None

    def start_step(self, wait_total_s: float) -> None:
        if self.first_start is None:
            self.first_start = self.clock.now()
        self._begin = self._last_end
        self._wait_before = self._wait_at_end if self._begin is not None else wait_total_s

    def end_step(self, wait_total_s: float) -> tuple[float | None, float]:
        """(step seconds or None for the first step of a series, exposed wait seconds)."""
        now = self.clock.now()
        wait = wait_total_s - self._wait_before
        step = None if self._begin is None else now - self._begin
        self._last_end, self._wait_at_end = now, wait_total_s
        self.last_end, self.optimizer_steps = now, self.optimizer_steps + 1
        if step is not None:
            self.steps += 1
            self.total_step_s += step
            self.total_wait_s += wait
            self.history.append((step, wait))
        return step, wait

    @property
    def wall_s(self) -> float:
        """From the start of the first step to the end of the last: sync points, validation
        and the first step after each included."""
        if self.first_start is None or not self.optimizer_steps:
            return 0.0
        return self.last_end - self.first_start

    @property
    def mean_step_s(self) -> float:
        return self.total_step_s / self.steps if self.steps else 0.0

    @property
    def mean_wait_s(self) -> float:
        return self.total_wait_s / self.steps if self.steps else 0.0
