"""`DTSEngine`: everything of one DTS fit but Lightning's hooks.

It builds the link and the exchanges the settings ask for, runs each optimiser step's
exchange, tunes `dts.delay=auto`, times the steps and makes the replicas identical at sync
points. `DTSStrategy` creates one per fit and calls it from Lightning's hooks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.rank_zero import rank_zero_info, rank_zero_warn
from torch import Tensor
from torch.optim import Optimizer

from hwnas.distributed.auto_delay import DelayTuner, bandwidth_bound_note
from hwnas.distributed.delayed_gradients import DelayedGradients
from hwnas.distributed.exchange import Exchange, SynchronousWarmup
from hwnas.distributed.flat import flatten
from hwnas.distributed.link import EmulatedLink, PeerError
from hwnas.distributed.periodic_deltas import PeriodicDeltas, nesterov_outer
from hwnas.distributed.replicas import average_replicas, relative_distance
from hwnas.distributed.reporting import checkpoint_state, describe, run_summary
from hwnas.distributed.settings import DTSSettings, check_same_on_every_rank
from hwnas.distributed.shared_gradients import SharedGradients
from hwnas.distributed.step_timer import StepTimer
from hwnas.distributed.unsupported import shared_steps


class DTSEngine:
    """The exchanges of one fit of `module`, whose optimisers are `optimizers`.

    The first optimiser's parameters (the model's weights) travel through the configured
    exchange. A second optimiser's (a search's architecture parameters) are kept identical on
    every rank by `SharedGradients`, delayed by ceil(t / steps between two of its steps).

    Args:
        settings: the run's `dts.*` settings.
        module: the LightningModule being fitted.
        optimizers: its optimisers, as the strategy holds them.
        processes: the number of ranks.
        restored: the `dts` entry of the checkpoint the fit resumes from, if any.
    """

    def __init__(
        self,
        settings: DTSSettings,
        module: pl.LightningModule,
        optimizers: list[Optimizer],
        processes: int,
        restored: dict[str, Any] | None = None,
    ) -> None:
        s, restored = settings, restored or {}
        self.settings, self.module, self.optimizers, self.processes = (
            s,
            module,
            optimizers,
            processes,
        )
        groups = [
            [p for g in opt.param_groups for p in g["params"] if p.requires_grad]
            for opt in optimizers
        ]
        self.params: list[Tensor] = groups[0] if groups else []
        every = shared_steps(module, len(groups))
        sparse = every is not None  # a search: only the sampled path has gradients
        check_same_on_every_rank(s, sum(p.numel() for group in groups for p in group))
        self.delay = 0 if s.delay == "auto" else int(s.delay)
        if s.delay == "auto" and restored.get("tuned"):
            self.delay = int(restored["delay"])  # resume with the delay the run chose
        self.tuner = (
            DelayTuner(s.auto_warmup_exchanges, s.max_delay)
            if s.delay == "auto" and not restored.get("tuned")
            else None
        )
        self.tuning: dict[str, float] | None = None  # what dts.delay=auto measured
        self.link = EmulatedLink(
            s.latency_ms,
            s.bandwidth_mbps,
            timeout_s=s.timeout_s,
            channels=self._channels_needed(sparse),
        )
        self.configured = self._configured_exchange(sparse, restored.get("exchange"))
        self.exchange: Exchange = self.configured  # the one in use
        self.warmup: SynchronousWarmup | None = None
        if s.sync_warmup_steps:  # synchronous SGD first
            self.exchange = self.warmup = SynchronousWarmup(
                DelayedGradients(self.params, self.link, sparse=sparse),
                self.configured,
                over=lambda: module.trainer.global_step >= s.sync_warmup_steps,
                on_switch=self._warmup_over,
            )
        if restored and not restored.get("synchronized", True):
            rank_zero_warn(
                "resuming from a DTS checkpoint saved at an interruption: it holds rank "
                "0's replica, without the other ranks' last local updates, so the run "
                "does not continue exactly as an unbroken one would"
            )
        self.shared: SharedGradients | None = None
        self.shared_optimizer: Optimizer | None = None
        self.shared_every = every or 1  # first-optimiser steps between two shared steps
        if every is not None:
            self.shared, self.shared_optimizer = (
                SharedGradients(groups[1], self.link),
                optimizers[1],
            )
            self.shared.load_state_dict(restored.get("shared") or {})
            self._set_shared_delay()
        self.timer = StepTimer()
        self.synchronized = True  # nothing moved since the last sync point
        self.validated = False  # a validation ran since the last sync point, and no step
        self.peer_failed = False
        self.spreads: list[tuple[int, float]] = []  # (step, replica drift) at each sync point
        self._sent = 0
        rank_zero_info(f"DTS: {self.describe()}")
        if self.tuner is None:
            self._note_drift_limit()

    def _configured_exchange(self, sparse: bool, state: dict[str, Any] | None) -> Exchange:
        s = self.settings
        if s.mode == "gradients":
            return DelayedGradients(
                self.params, self.link, self.delay, s.correction, sparse, s.compress
            )
        outer = nesterov_outer(s.outer_lr, s.outer_momentum) if s.outer_optimizer else None
        deltas = PeriodicDeltas(self.params, self.link, s.period, self.delay, outer, s.compress)
        if state:
            deltas.load_state_dict(state)
        return deltas

    def _channels_needed(self, shared: bool) -> int:
        """Exchanges that can be in flight at once: t + 1 of the model's (at the moment of an
        issue), as many of a second optimiser's, and one for a sync point."""
        return (self.delay + 1) * (2 if shared else 1) + 1

    # --- the step ------------------------------------------------------------------------
    def closure(self, optimizer: Optimizer, closure: Callable[[], Any]) -> Callable[[], Any]:
        """`closure` followed by the exchange of `optimizer`'s step, between backward and the
        step; call `after_step(optimizer)` once the step is done."""
        if optimizer is self.shared_optimizer and self.shared is not None:
            exchange = self.shared.exchange
        else:
            self.timer.start_step(self.link.stats.wait_s)
            self._sent = self.link.stats.messages

            def exchange() -> None:
                if self.settings.clip_grad_norm:
                    torch.nn.utils.clip_grad_norm_(self.params, self.settings.clip_grad_norm)
                self.exchange.before_step()

        def closure_then_exchange() -> Any:
            loss = closure()
            self._guard(exchange)
            return loss

        return closure_then_exchange

    def after_step(self, optimizer: Optimizer) -> None:
        self.synchronized = False
        if optimizer is self.shared_optimizer and self.shared is not None:
            return
        self._guard(self.exchange.after_step)
        step_s, wait_s = self.timer.end_step(self.link.stats.wait_s)
        if self.tuner is not None and step_s is not None:
            self.tuner.record(step_s, wait_s, exchanged=self.link.stats.messages > self._sent)
            if self.tuner.ready:
                self._tune_delay(self.tuner)

    @property
    def delay_in_effect(self) -> int:
        """The delay of the exchange in use: 0 during the synchronous warm-up."""
        return self.exchange.delay

    def _warming(self) -> bool:
        return self.warmup is not None and self.warmup.warming

    def _set_shared_delay(self) -> None:
        """The shared parameters' delay, in their own steps: 0 during the synchronous warm-up
        and the delay's tuning, else ceil(t / steps between two of theirs)."""
        if self.shared is not None:
            waiting = self._warming() or self.tuner is not None
            self.shared.delay = 0 if waiting else math.ceil(self.delay / self.shared_every)

    def _warmup_over(self) -> None:
        """After `dts.sync_warmup_steps` optimiser steps (counted across a resume) the
        configured exchange takes over, with the delay chosen so far."""
        self._set_shared_delay()
        rank_zero_info(
            f"DTS: synchronous warm-up over after "
            f"{self.module.trainer.global_step} steps; now {self.describe()}"
        )

    def _tune_delay(self, tuner: DelayTuner) -> None:
        delay, compute, wait = tuner.choose()
        self.tuner = None
        self.tuning = {"compute_s": compute, "wait_s": wait, "timed_steps": self.timer.steps}
        self.delay = self.configured.delay = delay
        self._set_shared_delay()
        self.link.ensure_channels(self._channels_needed(self.shared is not None))
        rank_zero_info(
            f"DTS: dts.delay=auto chose {delay}: {compute * 1e3:.1f} ms of compute per step "
            f"and {wait * 1e3:.1f} ms of exposed wait at delay 0"
        )
        if delay == self.settings.max_delay:
            rank_zero_warn(f"DTS: the delay hit dts.max_delay={delay}; exchanges will still stall")
        stats = self.link.stats
        message_bytes = stats.payload_bytes // max(1, stats.messages)
        note = bandwidth_bound_note(
            self.link.transfer_s(message_bytes), compute, self.settings.period
        )
        if note:
            rank_zero_warn(note)
        self._note_drift_limit()

    def _note_drift_limit(self) -> None:
        """At a delay t >= 1 under SGD, log the largest lr x curvature plain SGD tolerates
        against synchronous SGD's 2: 1 for the replicas' drift from their mean (REFERENCE B1's
        correction), 2 sin(pi / (2 (2t + 1))) for the weights without the correction."""
        optimizer = self.optimizers[0] if self.optimizers else None
        if self.settings.mode != "gradients" or self.delay <= 0:
            return
        if not isinstance(optimizer, torch.optim.SGD):  # the limits are SGD's
            return
        t, momentum = self.delay, float(optimizer.param_groups[0].get("momentum", 0.0))
        if self.settings.correction:
            what, limit = "the replicas' drift from their mean stays", 1.0
        else:
            what = "without the correction, the weights stay"
            limit = 2 * math.sin(math.pi / (2 * (2 * t + 1)))
        rank_zero_info(
            f"DTS: at delay {t}, {what} bounded under plain SGD while lr x curvature is below "
            f"{limit:.3g} (synchronous SGD: 2); `python benchmarks/dts_stability.py --momentum "
            f"{momentum:g} --delays 0 {t}` gives the limit at this run's momentum"
        )

    def _guard(self, exchange: Callable[[], None]) -> None:
        try:
            exchange()
        except PeerError:
            self.peer_failed = True
            raise

    # --- sync points ---------------------------------------------------------------------
    def synchronize(self) -> None:
        """Drain what is in flight and make every replica identical (parameters, buffers,
        optimiser state). After a validation without a step since, only the buffers: a search's
        validation re-estimates BatchNorm statistics from each rank's own batches. A no-op when
        nothing moved since the last one (every rank decides alike: no collective is skipped on
        one rank and issued on another)."""
        if self.synchronized:
            if self.validated:
                self._guard(lambda: average_replicas(self.link, self.module, buffers_only=True))
                self.validated = False
            return
        before = flatten(self.params)
        self._guard(self.exchange.drain)
        if self.shared is not None:
            self._guard(self.shared.settle)
        self._guard(lambda: average_replicas(self.link, self.module, self.optimizers))
        spread = relative_distance(before, flatten(self.params))
        self.spreads.append((self.module.trainer.global_step, spread))
        self.exchange.after_sync()
        self.synchronized, self.validated = True, False
        self.timer.reset()

    # --- what it keeps and tells ---------------------------------------------------------
    def checkpoint_state(self) -> dict[str, Any]:
        tuned = self.settings.delay == "auto" and self.tuner is None
        return checkpoint_state(
            self.settings, self.delay, tuned, self.synchronized, self.configured, self.shared
        )

    def describe(self) -> str:
        return describe(
            self.settings,
            self.delay,
            self.tuner is not None,
            self._warming(),
            self.shared,
            self.link,
            self.processes,
        )

    def summary(self) -> dict[str, Any]:
        return run_summary(
            self.settings,
            self.delay,
            self.shared,
            self.tuning,
            self.processes,
            self.timer,
            self.link,
            self.spreads,
        )
