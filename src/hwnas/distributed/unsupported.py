"""What DTS cannot run, said before a run starts, and how a module with a second optimiser
(a search) tells DTS how to keep that optimiser's parameters identical on every rank."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch


def refuse_unsupported(trainer: pl.Trainer, precision_plugin: Any, layer_sync: Any) -> None:
    """Raise for settings under which the delayed update would be wrong (REFERENCE B1), or
    that would wait for the link in every step."""
    synced = [
        name
        for name, m in trainer.lightning_module.named_modules()
        if isinstance(m, torch.nn.SyncBatchNorm)
    ]
    if layer_sync is not None or synced:
        where = f" ({len(synced)} layers, the first {synced[0]!r})" if synced else ""
        raise ValueError(
            f"distributed=dts cannot train with SyncBatchNorm{where}: every BatchNorm layer would "
            "run a blocking all-reduce across the sites in every forward pass, which is the wait "
            "DTS exists to hide. Set module.sync_batchnorm=false and trainer.sync_batchnorm=false "
            "(each process then normalises over its own batch)"
        )
    if getattr(precision_plugin, "scaler", None) is not None:
        raise ValueError(
            "distributed=dts cannot run fp16 with a gradient scaler: the scale changes between "
            "step k - t and step k, so the delayed correction would mix gradients of different "
            "scales. Use trainer.precision=bf16-mixed (no scaler) or 32-true"
        )
    if trainer.gradient_clip_val:
        raise ValueError(
            "trainer.gradient_clip_val would clip the corrected gradient after the exchange, "
            "which breaks the delayed update; set dts.clip_grad_norm instead, which clips each "
            "worker's own gradient before it is sent"
        )


def shared_steps(module: pl.LightningModule, optimizers: int) -> int | None:
    """None for one optimiser; for two, the module's `dts_shared_steps()`: the first
    optimiser's steps between two of the second's, whose parameters DTS then keeps identical
    on every rank (the module raises ValueError there if it cannot run under DTS)."""
    if optimizers <= 1:
        return None
    plan = getattr(module, "dts_shared_steps", None)
    if optimizers > 2 or plan is None:
        raise ValueError(
            f"distributed=dts exchanges one optimiser's gradients; {type(module).__name__} has "
            f"{optimizers} and no dts_shared_steps() saying how to keep the others' parameters "
            "identical on every rank: train it with trainer=ddp instead"
        )
    every = plan()
    if not isinstance(every, int) or every < 1:
        raise ValueError(
            f"{type(module).__name__}.dts_shared_steps() must return a whole number "
            f">= 1, got {every!r}"
        )
    return every
