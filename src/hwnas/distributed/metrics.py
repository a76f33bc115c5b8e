"""`DTSMetrics`: logs what the exchange costs, `dts/step_ms`, `dts/wait_ms` (exposed wait per
step) and `dts/delay`, beside the training metrics; and after each sync point
`dts/replica_spread`, how far the replicas had drifted apart (this rank's parameters' distance
to the model the sync point left, relative to its norm)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from hwnas.distributed.strategy import DTSStrategy


class DTSMetrics(pl.Callback):
    """Per-step DTS figures in the logger; does nothing under any other strategy."""

    spreads_logged = 0  # sync points whose replica spread is logged already

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.spreads_logged = 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:  # fmt: skip
        strategy = trainer.strategy
        if not isinstance(strategy, DTSStrategy) or not strategy.timer.history:
            return
        self._log_new_spreads(trainer, strategy)
        step_s, wait_s = strategy.timer.history[-1]
        pl_module.log_dict({"dts/step_ms": step_s * 1e3, "dts/wait_ms": wait_s * 1e3,
                            "dts/delay": float(strategy.delay_in_effect)}, on_step=True, on_epoch=False)  # fmt: skip

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if isinstance(trainer.strategy, DTSStrategy):
            self._log_new_spreads(trainer, trainer.strategy)

    def _log_new_spreads(self, trainer: pl.Trainer, strategy: DTSStrategy) -> None:
        """Each sync point's drift once, at the step it was measured (`self.log` would repeat
        the last value at every logging step until the next sync point)."""
        new, self.spreads_logged = strategy.spreads[self.spreads_logged :], len(strategy.spreads)
        if trainer.is_global_zero:
            for step, spread in new:
                for logger in trainer.loggers:
                    logger.log_metrics({"dts/replica_spread": spread}, step=step)
