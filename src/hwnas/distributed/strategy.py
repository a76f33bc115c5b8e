"""`DTSStrategy`: data-parallel training that tolerates wide-area latency (DTS, Zhu et al.,
"Distributed Training Across the World", 2019; REFERENCE B1-B4), as a Lightning strategy.

It is Lightning's DDP strategy (launch, process group, samplers, metric reduction) without the
`DistributedDataParallel` wrapper, which would all-reduce gradients and broadcast BatchNorm
buffers synchronously every step. The initial state is broadcast once; after that each step
exchanges through a `DTSEngine`: the delayed gradient update (period 1; delay 0 is synchronous
SGD) or the temporally sparse update (period > 1). At sync points (before validation, before
every checkpoint and at the end of training) every replica is replaced by the average, so a
checkpoint holds one model and a resumed run continues as the unbroken one.

A module with a second optimiser (`SearchModule`: the architecture parameters) implements
`dts_shared_steps() -> int`, the first optimiser's steps between two of the second's (or raises
ValueError saying why it cannot run under DTS); DTS then keeps that optimiser's parameters
identical on every rank.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.strategies import DDPStrategy
from pytorch_lightning.trainer.states import TrainerFn, TrainerStatus
from pytorch_lightning.utilities.exceptions import SIGTERMException
from torch.optim import Optimizer

from hwnas.distributed.engine import DTSEngine
from hwnas.distributed.faults import report_failure
from hwnas.distributed.lightning_hooks import (
    defer_launcher_kill,
    end_children,
    replace_sigterm_broadcasts,
)
from hwnas.distributed.settings import DTSSettings
from hwnas.distributed.unsupported import refuse_unsupported


class DTSStrategy(DDPStrategy):
    """Delayed and temporally sparse updates over an emulated or real wide-area link.

    Args:
        settings: a `DTSSettings` (what `conf/distributed/dts.yaml` instantiates), or none and
            its fields as keyword arguments (`DTSStrategy(delay=2, latency_ms=50)`).
        **kwargs: `DTSSettings` fields, and the rest for `DDPStrategy`.

    After `fit` starts, `engine` holds that fit's link, exchanges, timings and chosen delay.
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
        self.engine: DTSEngine | None = None
        self._restored: dict[str, Any] | None = None  # the checkpoint's `dts` entry

    def setup(self, trainer: pl.Trainer) -> None:
        fitting = trainer.state.fn == TrainerFn.FITTING
        if fitting:
            refuse_unsupported(trainer, self.precision_plugin, self._layer_sync)
            replace_sigterm_broadcasts(trainer)
            defer_launcher_kill(self.settings.timeout_s + 10)
        super().setup(trainer)
        if fitting:
            restored, self._restored = self._restored, None  # a later fit starts afresh
            self.engine = DTSEngine(
                self.settings, self.lightning_module, self.optimizers, self.world_size, restored
            )

    def configure_ddp(self) -> None:
        """No DDP wrapper: broadcast rank 0's parameters and buffers once."""
        from pytorch_lightning.overrides.distributed import _sync_module_states

        _sync_module_states(self.model)

    def optimizer_step(
        self,
        optimizer: Optimizer,
        closure: Callable[[], Any],
        model: pl.LightningModule | None = None,
        **kwargs: Any,
    ) -> Any:
        engine = self.engine
        if engine is None:  # not fitting
            return super().optimizer_step(optimizer, closure, model, **kwargs)
        output = super().optimizer_step(
            optimizer, engine.closure(optimizer, closure), model, **kwargs
        )
        engine.after_step(optimizer)
        return output

    # --- sync points ---------------------------------------------------------------------
    def _fitting(self) -> bool:
        trainer = self.lightning_module._trainer if self.lightning_module is not None else None
        return (
            self.engine is not None
            and trainer is not None
            and trainer.state.fn == TrainerFn.FITTING
        )

    def _interrupted(self) -> bool:
        """A peer failed or the trainer was interrupted: the peers cannot be reached safely."""
        module = self.lightning_module
        trainer = module._trainer if module is not None else None
        return (self.engine is not None and self.engine.peer_failed) or (
            trainer is not None and trainer.state.status == TrainerStatus.INTERRUPTED
        )

    def on_validation_start(self) -> None:
        if self._fitting():
            self.engine.synchronize()
            self.engine.validated = True
        super().on_validation_start()

    def on_train_end(self) -> None:
        if self._fitting() and not self._interrupted():
            self.engine.synchronize()
        super().on_train_end()

    def lightning_module_state_dict(self) -> dict[str, Any]:
        """Before every checkpoint: one model. At an interruption the checkpoint holds this
        rank's replica as it is."""
        if self._fitting() and not self._interrupted():
            self.engine.synchronize()
        return super().lightning_module_state_dict()

    def save_checkpoint(
        self, checkpoint: dict[str, Any], filepath: Any, storage_options: Any | None = None
    ) -> None:
        if self.engine is not None:
            checkpoint["dts"] = self.engine.checkpoint_state()
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
        engine = self.engine
        if (
            engine is not None
            and not engine.peer_failed
            and not isinstance(exception, SIGTERMException | KeyboardInterrupt)
        ):
            report_failure(exception)
        if engine is not None and engine.peer_failed and self.lightning_module is not None:
            end_children(self.lightning_module.trainer)  # rank 0 has written its checkpoint
        super().on_exception(exception)

    def summary(self) -> dict[str, Any]:
        """Settings and measured figures of the last fit, for `train_summary.json`."""
        if self.engine is None:
            raise RuntimeError("DTSStrategy.summary() needs a fit to have started")
        return self.engine.summary()
