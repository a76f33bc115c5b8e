"""What a DTS run keeps in its checkpoints and reports in `train_summary.json`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hwnas.distributed.strategy import DTSStrategy


def checkpoint_state(strategy: DTSStrategy) -> dict[str, Any]:
    """The `dts` entry of a checkpoint: what a resumed run needs to continue as this one."""
    assert strategy.configured is not None
    return {
        "settings": strategy.settings.to_dict(),
        "delay": strategy.delay,
        "tuned": strategy.settings.delay == "auto" and strategy.tuner is None,
        "synchronized": strategy.synchronized,
        "exchange": strategy.configured.state_dict(),
        "shared": strategy.shared.state_dict() if strategy.shared is not None else None,
    }


def run_summary(strategy: DTSStrategy) -> dict[str, Any]:
    """Settings and measured figures of the run."""
    stats = strategy.link.stats if strategy.link is not None else None
    timer = strategy.timer
    return {
        **strategy.settings.to_dict(),
        "delay_used": strategy.delay,
        "shared_delay_used": strategy.shared.delay if strategy.shared is not None else None,
        "auto_delay_measured": strategy.tuning,
        "processes": strategy.world_size,
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
        "replica_spread": [{"step": step, "spread": spread} for step, spread in strategy.spreads],
    }
