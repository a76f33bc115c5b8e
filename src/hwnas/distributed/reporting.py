"""What a DTS run says of itself: its one-line description, what it keeps in its checkpoints
and what it reports in `train_summary.json`."""

from __future__ import annotations

from typing import Any

from hwnas.distributed.exchange import Exchange
from hwnas.distributed.link import EmulatedLink
from hwnas.distributed.settings import DTSSettings
from hwnas.distributed.shared_gradients import SharedGradients
from hwnas.distributed.step_timer import StepTimer


def describe(
    settings: DTSSettings,
    delay: int,
    tuning: bool,
    warming: bool,
    shared: SharedGradients | None,
    link: EmulatedLink,
    processes: int,
) -> str:
    """One line: the update, its delay and the link, as the run starts or changes."""
    s = settings
    when = f"delay {delay}" + (" (auto: tuning)" if tuning else "")
    if warming:
        when += f" after {s.sync_warmup_steps} synchronous warm-up steps"
    if shared is not None:
        when += f" (shared parameters: {shared.delay} of their steps)"
    kind = (
        "delayed gradients" if s.mode == "gradients" else f"parameter deltas every {s.period} steps"
    )
    if s.compress:
        kind += f" in {s.compress} with error feedback"
    where = f"emulated link {s.latency_ms:g} ms" + (
        f", {s.bandwidth_mbps:g} Mb/s" if s.bandwidth_mbps else ""
    )
    if not link.emulated:
        where = "the network's own latency (nothing emulated)"
    return f"{kind}, {when}, {where}, {processes} processes"


def checkpoint_state(
    settings: DTSSettings,
    delay: int,
    tuned: bool,
    synchronized: bool,
    configured: Exchange,
    shared: SharedGradients | None,
) -> dict[str, Any]:
    """The `dts` entry of a checkpoint: what a resumed run needs to continue as this one."""
    return {
        "settings": settings.to_dict(),
        "delay": delay,
        "tuned": tuned,
        "synchronized": synchronized,
        "exchange": configured.state_dict(),
        "shared": shared.state_dict() if shared is not None else None,
    }


def run_summary(
    settings: DTSSettings,
    delay: int,
    shared: SharedGradients | None,
    tuning: dict[str, float] | None,
    processes: int,
    timer: StepTimer,
    link: EmulatedLink | None,
    spreads: list[tuple[int, float]],
) -> dict[str, Any]:
    """Settings and measured figures of the run."""
    stats = link.stats if link is not None else None
    return {
        **settings.to_dict(),
        "delay_used": delay,
        "shared_delay_used": shared.delay if shared is not None else None,
        "auto_delay_measured": tuning,
        "processes": processes,
        "steps": timer.steps,
        "mean_step_ms": timer.mean_step_s * 1e3,
        "mean_exposed_wait_ms": timer.mean_wait_s * 1e3,
        # the steady state above leaves out sync points and the step after each; this is the
        # whole span of training divided by its steps
        "training_wall_s": timer.wall_s,
        "mean_wall_step_ms": timer.wall_s / max(1, timer.optimizer_steps) * 1e3,
        "messages": stats.messages if stats else 0,
        "megabytes_sent": stats.payload_bytes / 1e6 if stats else 0.0,
        # at each sync point, this rank's parameters' distance to the model the ranks agreed
        # on, relative to its norm: how far the delayed or sparse updates let them drift
        "replica_spread": [{"step": step, "spread": spread} for step, spread in spreads],
    }
