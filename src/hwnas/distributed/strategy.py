"""`DTSStrategy`: data-parallel training that tolerates wide-area latency (DTS, Zhu et al.,
"Distributed Training Across the World", 2019; REFERENCE B1-B4), as a Lightning strategy.

It is Lightning's DDP strategy (launch, process group, samplers, metric reduction) without the
`DistributedDataParallel` wrapper: DDP all-reduces gradients and broadcasts BatchNorm buffers
synchronously every step, which is exactly what a latency-tolerant path must not do (and
Lightning drops DDP communication hooks on the CPU). The initial state is broadcast once;
after that each step exchanges over an `EmulatedLink` by itself:

- period 1: the delayed gradient update (`DelayedGradients`) inside the optimiser closure,
  after backward and before the step; delay 0 is synchronous SGD, the same code path.
- period > 1: the temporally sparse update (`PeriodicDeltas`) after the step.

At sync points (before validation, before every checkpoint and at the end of training) the
messages in flight are drained and every replica's parameters, buffers and optimiser state are
replaced by their average, so a checkpoint holds one model and a resumed run continues as the
unbroken one.

A module with a second optimiser (`SearchModule`: the architecture parameters) implements
`dts_shared_steps() -> int`, the first optimiser's steps between two of the second's (or raises
ValueError saying why it cannot run under DTS). The second optimiser's parameters are then kept
identical on every rank (`SharedGradients`, delayed by ceil(t / that) of its steps), so every
rank samples the same paths, and the first's gradients travel with which parameters had one,
so unsampled candidates stay untouched.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.strategies import DDPStrategy
from pytorch_lightning.trainer.states import TrainerFn, TrainerStatus
from pytorch_lightning.utilities.exceptions import SIGTERMException
from pytorch_lightning.utilities.rank_zero import rank_zero_info, rank_zero_warn
from torch import Tensor
from torch.optim import Optimizer

from hwnas.distributed.auto_delay import DelayTuner, bandwidth_bound_note
from hwnas.distributed.delayed_gradients import DelayedGradients
from hwnas.distributed.exchange import Exchange, SynchronousWarmup
from hwnas.distributed.faults import report_failure
from hwnas.distributed.flat import flatten
from hwnas.distributed.lightning_hooks import (
    defer_launcher_kill,
    end_children,
    replace_sigterm_broadcasts,
)
from hwnas.distributed.link import EmulatedLink, PeerError
from hwnas.distributed.periodic_deltas import PeriodicDeltas, nesterov_outer
from hwnas.distributed.refusals import refuse_unsupported, shared_steps
from hwnas.distributed.replicas import average_replicas, relative_distance
from hwnas.distributed.reporting import checkpoint_state, run_summary
from hwnas.distributed.settings import DTSSettings, check_same_on_every_rank
from hwnas.distributed.shared_gradients import SharedGradients
from hwnas.distributed.stability import drift_limit_note
from hwnas.distributed.step_timer import StepTimer

log = logging.getLogger(__name__)


class DTSStrategy(DDPStrategy):
    """Delayed and temporally sparse updates over an emulated or real wide-area link.

    Args:
        settings: a `DTSSettings` (what `conf/distributed/dts.yaml` instantiates), or none and
            its fields as keyword arguments (`DTSStrategy(delay=2, latency_ms=50)`).
        **kwargs: `DTSSettings` fields, and the rest for `DDPStrategy`.
    """

    def __init__(self, settings: DTSSettings | None = None, **kwargs: Any) -> None:
        fields = {f.name for f in dataclasses.fields(DTSSettings)}
        given = {k: kwargs.pop(k) for k in list(kwargs) if k in fields}
        if settings is not None and given:
            raise ValueError(
                f"DTSStrategy: give settings or its fields, not both ({sorted(given)})"
            )
        self.settings = settings if settings is not None else DTSSettings(**given)
        super().__init__(timeout=timedelta(seconds=self.settings.timeout_s), **kwargs)
        self.link: EmulatedLink | None = None
        self.exchange: Exchange | None = None  # the one in use
        self.configured: Exchange | None = None  # the one the settings ask for
        self.warmup: SynchronousWarmup | None = None  # synchronous SGD first
        self.params: list[Tensor] = []  # the first optimiser's (the model's weights)
        self.shared: SharedGradients | None = None  # a second optimiser's (a search's alphas)
        self.shared_optimizer: Optimizer | None = None
        self.shared_every = 1  # first-optimiser steps between two shared steps
        self.validated = False  # a validation ran since the last sync point, and no step
        self.delay = 0 if self.settings.delay == "auto" else int(self.settings.delay)
        self.tuner: DelayTuner | None = None
        self.tuning: dict[str, float] | None = None  # what dts.delay=auto measured
        self.timer = StepTimer()
        self.synchronized = True
        self.peer_failed = False
        self.spreads: list[tuple[int, float]] = []  # (step, replica drift) at each sync point
        self._restored: dict[str, Any] | None = None

    # --- set-up ---------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            refuse_unsupported(trainer, self.precision_plugin, self._layer_sync)
            replace_sigterm_broadcasts(trainer)
            defer_launcher_kill(self.settings.timeout_s + 10)
        super().setup(trainer)
        if trainer.state.fn == TrainerFn.FITTING:
            self._build_exchange()

    def configure_ddp(self) -> None:
        """No DDP wrapper: broadcast rank 0's parameters and buffers once."""
        from pytorch_lightning.overrides.distributed import _sync_module_states

        _sync_module_states(self.model)

    def _build_exchange(self) -> None:
        s = self.settings
        groups = [[p for g in opt.param_groups for p in g["params"] if p.requires_grad]
                  for opt in self.optimizers]  # fmt: skip
        self.params = groups[0] if groups else []
        every = shared_steps(self.lightning_module, len(groups))
        sparse = every is not None  # a search: only the sampled path has gradients
        check_same_on_every_rank(s, sum(p.numel() for group in groups for p in group))
        restored, self._restored = self._restored or {}, None  # a later fit starts afresh
        if s.delay == "auto" and restored.get("tuned"):
            self.delay = int(restored["delay"])  # resume with the delay the run chose
        self.link = EmulatedLink(s.latency_ms, s.bandwidth_mbps, timeout_s=s.timeout_s,
                                 channels=self._channels_needed(sparse))  # fmt: skip
        self.tuner = (
            DelayTuner(s.auto_warmup_exchanges, s.max_delay)
            if s.delay == "auto" and not restored.get("tuned")
            else None
        )
        configured: Exchange
        if s.mode == "gradients":
            configured = DelayedGradients(self.params, self.link, self.delay, s.correction, sparse,
                                          s.compress)  # fmt: skip
        else:
            outer = nesterov_outer(s.outer_lr, s.outer_momentum) if s.outer_optimizer else None
            configured = PeriodicDeltas(self.params, self.link, s.period, self.delay, outer,
                                        s.compress)  # fmt: skip
            if restored.get("exchange"):
                configured.load_state_dict(restored["exchange"])
        self.configured, self.exchange, self.warmup = configured, configured, None
        if s.sync_warmup_steps:  # synchronous SGD first
            trainer = self.lightning_module.trainer
            self.exchange = self.warmup = SynchronousWarmup(
                DelayedGradients(self.params, self.link, sparse=sparse), configured,
                over=lambda: trainer.global_step >= s.sync_warmup_steps,
                on_switch=self._warmup_over,
            )  # fmt: skip
        if restored and not restored.get("synchronized", True):
            rank_zero_warn("resuming from a DTS checkpoint saved at an interruption: it holds rank "
                           "0's replica, without the other ranks' last local updates, so the run "
                           "does not continue exactly as an unbroken one would")  # fmt: skip
        self.shared, self.shared_optimizer = None, None
        if every is not None:
            self.shared, self.shared_optimizer = (
                SharedGradients(groups[1], self.link),
                self.optimizers[1],
            )
            self.shared_every = every
            self.shared.load_state_dict(restored.get("shared") or {})
            self._set_shared_delay()
        self.synchronized, self.peer_failed, self.validated = True, False, False
        self.spreads = []
        self.timer.reset()
        rank_zero_info(f"DTS: {self.describe()}")
        if self.tuner is None:
            self._note_drift_limit()

    def _channels_needed(self, shared: bool) -> int:
        """Exchanges that can be in flight at once: t + 1 of the model's (at the moment of an
        issue), as many of a second optimiser's, and one for a sync point."""
        return (self.delay + 1) * (2 if shared else 1) + 1

    def _set_shared_delay(self) -> None:
        """The shared parameters' delay, in their own steps: 0 during the synchronous warm-up
        and the delay's tuning, else ceil(t / steps between two of theirs)."""
        if self.shared is not None:
            waiting = self._warming() or self.tuner is not None
            self.shared.delay = 0 if waiting else math.ceil(self.delay / self.shared_every)

    def _note_drift_limit(self) -> None:
        """Log how much of synchronous SGD's step size the delayed update's drift tolerates (without
        the correction: the weights themselves)."""
        if self.settings.mode == "gradients" and self.optimizers:
            note = drift_limit_note(self.delay, self.optimizers[0], self.settings.correction)
            if note:
                rank_zero_info(note)

    def describe(self) -> str:
        s = self.settings
        delay = f"delay {self.delay}" + (" (auto: tuning)" if self.tuner else "")
        if self._warming():
            delay += f" after {s.sync_warmup_steps} synchronous warm-up steps"
        if self.shared is not None:
            delay += f" (shared parameters: {self.shared.delay} of their steps)"
        kind = (
            "delayed gradients"
            if s.mode == "gradients"
            else f"parameter deltas every {s.period} steps"
        )
        if s.compress:
            kind += f" in {s.compress} with error feedback"
        link = f"emulated link {s.latency_ms:g} ms" + (
            f", {s.bandwidth_mbps:g} Mb/s" if s.bandwidth_mbps else ""
        )
        if self.link is not None and not self.link.emulated:
            link = "the network's own latency (nothing emulated)"
        return f"{kind}, {delay}, {link}, {self.world_size} processes"

    # --- the step ------------------------------------------------------------------------
    def optimizer_step(self, optimizer: Optimizer, closure: Callable[[], Any],
                       model: pl.LightningModule | None = None, **kwargs: Any) -> Any:  # fmt: skip
        if self.exchange is None:  # not fitting
            return super().optimizer_step(optimizer, closure, model, **kwargs)
        if self.shared is not None and optimizer is self.shared_optimizer:
            return self._shared_step(optimizer, closure, model, **kwargs)
        self.timer.start_step(self.link.stats.wait_s)
        exchange, sent = self.exchange, self.link.stats.messages

        def closure_then_exchange() -> Any:
            loss = closure()
            if self.settings.clip_grad_norm:
                torch.nn.utils.clip_grad_norm_(self.params, self.settings.clip_grad_norm)
            self._guard(exchange.before_step)
            return loss

        output = super().optimizer_step(optimizer, closure_then_exchange, model, **kwargs)
        self._guard(exchange.after_step)
        self.synchronized = False
        step_s, wait_s = self.timer.end_step(self.link.stats.wait_s)
        if self.tuner is not None and step_s is not None:
            self.tuner.record(step_s, wait_s, exchanged=self.link.stats.messages > sent)
            if self.tuner.ready:
                self._tune_delay()
        return output

    def _shared_step(self, optimizer: Optimizer, closure: Callable[[], Any],
                     model: pl.LightningModule | None, **kwargs: Any) -> Any:  # fmt: skip
        shared = self.shared
        assert shared is not None

        def closure_then_exchange() -> Any:
            loss = closure()
            self._guard(shared.exchange)
            return loss

        output = super().optimizer_step(optimizer, closure_then_exchange, model, **kwargs)
        self.synchronized = False
        return output

    @property
    def delay_in_effect(self) -> int:
        """The delay of the exchange in use: 0 during the synchronous warm-up."""
        return self.exchange.delay if self.exchange is not None else self.delay

    def _warming(self) -> bool:
        return self.warmup is not None and self.warmup.warming

    def _warmup_over(self) -> None:
        """After `dts.sync_warmup_steps` optimiser steps (counted across a resume) the
        configured exchange takes over, with the delay chosen so far."""
        self._set_shared_delay()
        rank_zero_info(f"DTS: synchronous warm-up over after "
                       f"{self.lightning_module.trainer.global_step} steps; now {self.describe()}")  # fmt: skip

    def _tune_delay(self) -> None:
        assert self.tuner is not None and self.exchange is not None
        delay, compute, wait = self.tuner.choose()
        self.tuner = None
        self.tuning = {"compute_s": compute, "wait_s": wait, "timed_steps": self.timer.steps}
        self.delay = self.configured.delay = delay
        self._set_shared_delay()
        assert self.link is not None
        self.link.ensure_channels(self._channels_needed(self.shared is not None))
        rank_zero_info(f"DTS: dts.delay=auto chose {delay}: {compute * 1e3:.1f} ms of compute per step "
                       f"and {wait * 1e3:.1f} ms of exposed wait at delay 0")  # fmt: skip
        if delay == self.settings.max_delay:
            rank_zero_warn(f"DTS: the delay hit dts.max_delay={delay}; exchanges will still stall")
        stats = self.link.stats
        note = bandwidth_bound_note(
            self.link.transfer_s(stats.payload_bytes // max(1, stats.messages)),
            compute,
            self.settings.period,
        )
        if note:
            rank_zero_warn(note)
        self._note_drift_limit()

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
        if self.exchange is None:
            return
        if self.synchronized:
            if self.validated:
                self._guard(lambda: average_replicas(self.link, self.lightning_module,
                                                     buffers_only=True))  # fmt: skip
                self.validated = False
            return
        before = flatten(self.params)
        self._guard(self.exchange.drain)
        if self.shared is not None:
            self._guard(self.shared.settle)
        self._guard(lambda: average_replicas(self.link, self.lightning_module, self.optimizers))
        spread = relative_distance(before, flatten(self.params))
        self.spreads.append((self.lightning_module.trainer.global_step, spread))
        self.exchange.after_sync()
        self.synchronized, self.validated = True, False
        self.timer.reset()

    def _fitting(self) -> bool:
        trainer = self.lightning_module._trainer if self.lightning_module is not None else None
        return (
            self.exchange is not None
            and trainer is not None
            and trainer.state.fn == TrainerFn.FITTING
        )

    def _interrupted(self) -> bool:
        module = self.lightning_module
        trainer = module._trainer if module is not None else None
        return self.peer_failed or (
            trainer is not None and trainer.state.status == TrainerStatus.INTERRUPTED
        )

    def on_validation_start(self) -> None:
        if self._fitting():
            self.synchronize()
            self.validated = True
        super().on_validation_start()

    def on_train_end(self) -> None:
        if self._fitting() and not self._interrupted():
            self.synchronize()
        super().on_train_end()

    def lightning_module_state_dict(self) -> dict[str, Any]:
        """Before every checkpoint: one model. At an interruption (Ctrl-C, a dead peer) the
        peers cannot be reached safely, so the checkpoint holds this rank's replica as it is."""
        if self._fitting() and not self._interrupted():
            self.synchronize()
        return super().lightning_module_state_dict()

    def save_checkpoint(self, checkpoint: dict[str, Any], filepath: Any,
                        storage_options: Any | None = None) -> None:  # fmt: skip
        if self.exchange is not None:
            assert self.configured is not None
            tuned = self.settings.delay == "auto" and self.tuner is None
            checkpoint["dts"] = checkpoint_state(self.settings, self.delay, tuned,
                                                 self.synchronized, self.configured, self.shared)  # fmt: skip
        super().save_checkpoint(checkpoint, filepath, storage_options)

    def load_checkpoint(
        self, checkpoint_path: Any, weights_only: bool | None = None
    ) -> dict[str, Any]:
        checkpoint = super().load_checkpoint(checkpoint_path, weights_only=weights_only)
        self._restored = checkpoint.get("dts")
        return checkpoint

    # --- faults --------------------------------------------------------------------------
    def barrier(self, *args: Any, **kwargs: Any) -> None:
        if self._interrupted():  # a peer may be gone, or waiting in an exchange: a barrier
            return  # would only hang until the timeout
        super().barrier(*args, **kwargs)

    def on_exception(self, exception: BaseException) -> None:
        """A rank that failed by itself says why, for the others' errors; they find its
        exchanges broken once it has left."""
        if (
            self.exchange is not None
            and not self.peer_failed
            and not isinstance(exception, SIGTERMException | KeyboardInterrupt)
        ):
            report_failure(exception)
        if self.peer_failed and self.lightning_module is not None:
            end_children(self.lightning_module.trainer)  # rank 0 has written its checkpoint
        super().on_exception(exception)

    def summary(self) -> dict[str, Any]:
        """Settings and measured figures, for `train_summary.json`."""
        return run_summary(self.settings, self.delay, self.shared, self.tuning, self.world_size,
                           self.timer, self.link, self.spreads)  # fmt: skip
