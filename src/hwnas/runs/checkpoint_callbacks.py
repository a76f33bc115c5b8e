"""Checkpoints that only ever hold a good state of the run that wrote them.

- `SafeExceptionCheckpoint` writes `interrupted.ckpt` on Ctrl-C or an error only if this run
  took a step and its weights are finite: a resume that fails at start (another search space, a
  bad override) leaves the checkpoint it was resuming from as it was, and a NaN never replaces
  the last good state by a poisoned one.
- `KeptValidation`: the last validation's scalars travel in every checkpoint, so a run
  resumed from the end of training (it was stopped while testing) reports them as the unbroken
  run would, not as missing.
"""

from __future__ import annotations

import logging
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import OnExceptionCheckpoint

log = logging.getLogger(__name__)


def non_finite_tensors(state: dict[str, Any]) -> list[str]:
    """Names of the floating-point tensors in `state` that hold a NaN or an infinity."""
    return [
        name
        for name, t in state.items()
        if torch.is_tensor(t) and t.is_floating_point() and not torch.isfinite(t).all()
    ]


class SafeExceptionCheckpoint(OnExceptionCheckpoint):
    """`OnExceptionCheckpoint` that writes only a state this run produced and that is finite."""

    def __init__(self, dirpath: str, filename: str = "interrupted") -> None:
        super().__init__(dirpath, filename)
        self.start_step: int | None = None
        self.written = False  # whether this run wrote the file

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start_step = trainer.global_step  # after a resume: the checkpoint's step

    def on_exception(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if self.start_step is None or trainer.global_step <= self.start_step:
            log.warning(
                "not writing %s: the run stopped before its first step, so there is "
                "nothing new to keep (the checkpoint it started from is untouched)",
                self.ckpt_path,
            )
            return
        bad = non_finite_tensors(trainer.lightning_module.state_dict())
        if bad:
            log.warning(
                "not writing %s: %d of the model's tensors are not finite (first: %s); "
                "the checkpoints written before (last.ckpt) are the last good state",
                self.ckpt_path,
                len(bad),
                bad[0],
            )
            return
        try:
            super().on_exception(trainer, *args, **kwargs)
        except OSError as error:  # a full disk: the error that stopped the run is the one to show
            log.warning("could not write %s either: %s", self.ckpt_path, error)
            return
        self.written = True


class KeptValidation(pl.Callback):
    """Keeps the last validation's scalars (`val/...`) in the checkpoints (under the key
    `figures`); `restored` holds the ones of the checkpoint a fit resumed from."""

    def __init__(self) -> None:
        self.restored: dict[str, float] = {}

    def state_dict(self) -> dict[str, Any]:
        trainer = getattr(self, "_trainer", None)
        metrics = trainer.callback_metrics if trainer is not None else {}
        kept = {k: float(v) for k, v in metrics.items() if k.startswith("val/") and v.numel() == 1}
        return {"figures": kept or self.restored}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.restored = dict(state_dict.get("figures") or {})

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer
