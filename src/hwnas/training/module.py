"""`TrainModule`: trains a searched or published architecture from scratch (REFERENCE A5) as a
timm `EfficientNet`, with label smoothing, optional mixup/cutmix (timm's `Mixup`) and an
exponential moving average of the weights (timm's `ModelEmaV3`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from timm.data import Mixup
from timm.layers import convert_sync_batchnorm
from timm.loss import SoftTargetCrossEntropy
from timm.utils import ModelEmaV3
from torch import Tensor, nn
from torch.optim import Optimizer

from hwnas.architecture.arch_file import Architecture
from hwnas.architecture.timm_model import build_timm_model
from hwnas.search_space.depthwise import use_small_map_depthwise
from hwnas.training.optim import build_optimizer, warmup_cosine
from hwnas.util import random_states

NAN_CHECK_EVERY = 20  # reading the loss waits for the GPU: not every step


class TrainModule(pl.LightningModule):
    """One architecture, trained with the automatic (single-optimiser) loop.

    Args:
        arch: the architecture (`Architecture.to_dict()`; kept in the checkpoint, so
            `eval.py` rebuilds the network from the checkpoint alone).
        optimizer: a partial optimiser, completed with the parameter groups.
        weight_decay: of conv and linear weights; BatchNorm parameters and biases get none.
        warmup_epochs: linear warm-up (from `warmup_start_factor` x lr) before the cosine.
        dropout / drop_path: before the classifier / stochastic depth of the blocks.
        label_smoothing: of the cross-entropy (also applied to mixed targets).
        mixup: timm `Mixup` arguments (`mixup_alpha`, `cutmix_alpha`, `prob`, ...), or None.
        ema: timm `ModelEmaV3` arguments (`decay`, `use_warmup`, ...), or None.
        channels_last: NHWC inputs and weights.
        zero_init_last_bn: start every residual block as the identity (its last BatchNorm
            scale at 0; Goyal et al., 2017), which speeds up the first epochs.
        sync_batchnorm: under DDP, BatchNorm statistics over the whole batch of all processes
            (timm's conversion, which keeps the activation of its BatchNormAct2d layers).
    """

    def __init__(
        self,
        arch: dict[str, Any],
        optimizer: Callable[[Iterable], Optimizer],
        weight_decay: float = 4e-5,
        warmup_epochs: float = 0,
        warmup_start_factor: float = 0.1,
        min_lr_factor: float = 0.0,
        dropout: float | None = None,
        drop_path: float = 0.0,
        label_smoothing: float = 0.1,
        mixup: dict[str, Any] | None = None,
        ema: dict[str, Any] | None = None,
        channels_last: bool = True,
        zero_init_last_bn: bool = False,
        sync_batchnorm: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer"])
        self.arch = Architecture.from_dict(arch, where="checkpoint architecture")
        extra = {} if dropout is None else {"drop_rate": dropout}
        self.model = build_timm_model(self.arch, drop_path_rate=drop_path, **extra)
        use_small_map_depthwise(self.model)  # fast weight gradients on small CPU maps
        if zero_init_last_bn:
            zero_init_residual_branches(self.model)
        self.optimizer_factory, self.weight_decay = optimizer, weight_decay
        self.label_smoothing, self.channels_last = label_smoothing, channels_last
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.mixup = None
        if mixup:
            self.mixup = Mixup(
                **mixup, label_smoothing=label_smoothing, num_classes=self.arch.num_classes
            )
        self.ema = None
        if ema:
            self.ema = ModelEmaV3(self.model, **ema)
            self.ema.requires_grad_(False)  # DDP must not wait for gradients of the average

    def setup(self, stage: str) -> None:
        if self.hparams.sync_batchnorm and self.trainer.world_size > 1:
            if self.trainer.strategy.root_device.type != "cuda":
                raise ValueError(
                    "module.sync_batchnorm=true needs GPUs (torch's SyncBatchNorm "
                    "runs on CUDA only); set it to false on the CPU"
                )
            self.model = convert_sync_batchnorm(self.model)

    def forward(self, x: Tensor) -> Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)

    def configured_lrs(self) -> list[float | None]:
        """The learning rate the config gives (a resumed run takes it over the checkpoint's)."""
        return [getattr(self.optimizer_factory, "keywords", {}).get("lr")]

    def configure_optimizers(self) -> Any:
        opt = build_optimizer(self.model, self.optimizer_factory, self.weight_decay)
        total = int(self.trainer.estimated_stepping_batches)
        per_epoch = total / max(1, self.trainer.max_epochs or 1)
        warmup = min(total, round(self.hparams.warmup_epochs * per_epoch))
        sched = warmup_cosine(
            opt, warmup, total, self.hparams.warmup_start_factor, self.hparams.min_lr_factor
        )
        return [opt], [{"scheduler": sched, "interval": "step"}]

    # --- training ----------------------------------------------------------------------
    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        if self.mixup is not None:
            if len(y) % 2:
                raise ValueError(f"mixup/cutmix needs an even batch size, got {len(y)}")
            x, soft = self.mixup(x, y)
            logits = self(x)
            loss = SoftTargetCrossEntropy()(logits, soft)
        else:
            logits = self(x)
            loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        if batch_idx % NAN_CHECK_EVERY == 0 and not torch.isfinite(loss):
            raise FloatingPointError(
                f"training loss is {float(loss)} at epoch {self.current_epoch}, step "
                f"{self.global_step}: the run diverged. The checkpoints written so far hold "
                "finite weights: resume from checkpoints/last.ckpt with a lower learning rate "
                "(ckpt_path=<run>/checkpoints/last.ckpt optimizer.lr=<lower>; a resumed run takes "
                "the configured rate), or set trainer.gradient_clip_val"
            )
        acc = (logits.argmax(1) == y).float().mean()
        self.log_dict(
            {"train/loss": loss.detach(), "train/acc": acc}, prog_bar=True, batch_size=len(y)
        )
        self.log("train/lr", self.optimizers().param_groups[0]["lr"])
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update(self.model, step=self.global_step)

    # --- evaluation --------------------------------------------------------------------
    def _evaluate(self, batch: tuple[Tensor, Tensor], split: str) -> None:
        x, y = batch
        nets: list[tuple[str, nn.Module]] = [(split, self.model)]
        if self.ema is not None:
            nets.append((f"{split}/ema", self.ema.module))
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for prefix, net in nets:
            logits = net(x)
            top5 = logits.topk(min(5, logits.shape[1]), dim=1).indices
            self.log_dict(
                {
                    f"{prefix}/acc": (top5[:, 0] == y).float().mean(),
                    f"{prefix}/acc5": (top5 == y[:, None]).any(1).float().mean(),
                    f"{prefix}/loss": F.cross_entropy(logits, y),
                },
                sync_dist=True,
                batch_size=len(y),
            )

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    # --- checkpoints -------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Random states too (dropout, mixup, stochastic depth), so a resumed run continues
        as the unbroken run would have."""
        checkpoint["rng_states"] = random_states.capture()
        checkpoint["architecture"] = self.arch.to_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("architecture")
        if saved is not None:
            other = Architecture.from_dict(saved, where="checkpoint")
            if (
                other.arch_def() != self.arch.arch_def()
                or other.num_classes != self.arch.num_classes
            ):
                raise ValueError(
                    f"the checkpoint holds architecture {_label(other)}, not {_label(self.arch)}"
                    f"{_first_difference(other, self.arch)}: resume with the arch= (and "
                    "num_classes=) it was trained with, or start a new run"
                )
        states = checkpoint.get("rng_states")
        if states:
            random_states.restore(states)


def _label(arch: Architecture) -> str:
    return f"{arch.name!r} ({arch.num_classes} classes)"


def _first_difference(a: Architecture, b: Architecture) -> str:
    """Where two architectures of the same name differ, for the error message."""
    blocks_a = [blk for stage in a.arch_def() for blk in stage]
    blocks_b = [blk for stage in b.arch_def() for blk in stage]
    for i, (x, y) in enumerate(zip(blocks_a + [""], blocks_b + [""], strict=False)):
        if x != y:
            return f"; block {i}: {x or 'none'} in the checkpoint, {y or 'none'} here"
    return ""


def zero_init_residual_branches(model: nn.Module) -> int:
    """Zero the scale of the last BatchNorm of every block with an identity shortcut, so the
    block starts as the identity; returns the number of blocks changed."""
    changed = 0
    for block in model.modules():
        if not getattr(block, "has_skip", False):
            continue
        last = getattr(block, "bn3", None) or getattr(block, "bn2", None)
        if last is not None:
            nn.init.zeros_(last.weight)
            changed += 1
    return changed
