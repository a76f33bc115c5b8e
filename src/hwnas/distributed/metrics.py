"""`DTSMetrics`: logs what the exchange costs, `dts/step_ms`, `dts/wait_ms` (exposed wait per
step) and `dts/delay`, beside the training metrics."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from hwnas.distributed.strategy import DTSStrategy


class DTSMetrics(pl.Callback):
    """Per-step DTS figures in the logger; does nothing under any other strategy."""

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:  # fmt: skip
        strategy = trainer.strategy
        if not isinstance(strategy, DTSStrategy) or not strategy.timer.history:
            return
        step_s, wait_s = strategy.timer.history[-1]
        pl_module.log_dict({"dts/step_ms": step_s * 1e3, "dts/wait_ms": wait_s * 1e3,
                            "dts/delay": float(strategy.delay_in_effect)}, on_step=True, on_epoch=False)  # fmt: skip
