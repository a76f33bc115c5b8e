"""`DTSMetrics`: logs what the exchange costs, `dts/step_ms`, `dts/wait_ms` (exposed wait per
step) and `dts/delay`, beside the training metrics; and after each sync point
`dts/replica_spread`, how far the replicas had drifted apart (this rank's parameters' distance
to the model the sync point left, relative to its norm)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from hwnas.distributed.engine import DTSEngine
from hwnas.distributed.strategy import DTSStrategy


def _engine(trainer: pl.Trainer) -> DTSEngine | None:
    strategy = trainer.strategy
    return strategy.engine if isinstance(strategy, DTSStrategy) else None


class DTSMetrics(pl.Callback):
    """Per-step DTS metrics in the logger; does nothing under any other strategy."""

    spreads_logged = 0  # sync points whose replica spread is logged already

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.spreads_logged = 0

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        engine = _engine(trainer)
        if engine is None or not engine.timer.history:
            return
        self._log_new_spreads(trainer, engine)
        step_s, wait_s = engine.timer.history[-1]
        pl_module.log_dict(
            {
                "dts/step_ms": step_s * 1e3,
                "dts/wait_ms": wait_s * 1e3,
                "dts/delay": float(engine.delay_in_effect),
            },
            on_step=True,
            on_epoch=False,
        )

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        engine = _engine(trainer)
        if engine is not None:
            self._log_new_spreads(trainer, engine)

    def _log_new_spreads(self, trainer: pl.Trainer, engine: DTSEngine) -> None:
        """Each sync point's drift once, at the step it was measured (`self.log` would repeat
        the last value at every logging step until the next sync point)."""
        new, self.spreads_logged = engine.spreads[self.spreads_logged :], len(engine.spreads)
        if trainer.is_global_zero:
            for step, spread in new:
                for logger in trainer.loggers:
                    logger.log_metrics({"dts/replica_spread": spread}, step=step)
