"""SearchModule: a ProxylessNAS search as a LightningModule with manual, alternating weight
steps and architecture updates (the gradient or the REINFORCE one, REFERENCE A2-A5)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import Optimizer

from hwnas.cost.model import ExpectedCost
from hwnas.objective.base import CostObjective
from hwnas.search.arch_update import ArchUpdate
from hwnas.search.bn_calibration import calibration_batches, recalibrate_batchnorm
from hwnas.search.schedule import warmup_then_search_cosine
from hwnas.search.supernet import SuperNet
from hwnas.search_space.space import SearchSpace
from hwnas.util import random_states

OptimizerFactory = Callable[..., Optimizer]
NAN_CHECK_EVERY = 10  # weight steps between checks that the loss is finite
COST_STATE_KEY = "cost_constraint"  # the checkpoint's entry for the cost term's state
ARCH_UPDATE_STATE_KEY = "reinforce"  # and for the architecture update's


class NonFiniteLossError(RuntimeError):
    """Raised when a step's loss is NaN or infinite."""


class SearchModule(pl.LightningModule):
    """ProxylessNAS search of `space` for the hardware priced by `expected_cost`.

    Each training batch is one weight step on a path sampled from p (SGD, label smoothing);
    after `arch_update.warmup_epochs`, each weight step is followed by the architecture updates
    `arch_update` says are due, each on a batch of the held-out split (REFERENCE A2-A4).

    Args:
        space: the search space (bound to the data set).
        expected_cost: E[C] of `space` under the target hardware's cost model, differentiable
            in alpha.
        cost_loss: the hardware term, bound to `expected_cost`: a soft form with its target,
            or a hard constraint.
        arch_update: the architecture update (gradient or REINFORCE) with its optimiser.
        weight_optimizer: partial optimiser, completed with the network weights.
        warmup_lr_scale: warm-up LR over search LR (0.05 / 0.025 in the paper).
        label_smoothing: of the weight steps' loss.
        bn_calibration_batches: training batches to re-estimate BN statistics of the argmax path
            before each validation/test (0 keeps the supernet's running statistics).
        grad_clip: max gradient norm of weight steps (None = off).
        channels_last: keep weights and inputs in NHWC; depthwise convolutions run faster that
            way on CPUs, and it is the fast layout for bf16 on GPUs.
        path_seed: seed of the path sampler, identical on every rank so all ranks run the same
            path at every step.
        skip_zero_active: no alpha update in a layer whose active candidate is Zero that step
            (an option of the original code, REFERENCE A2; the gradient update only).
        bn_train_in_validation: in-search validation runs BatchNorm in train mode (batch
            statistics, as the original code did) instead of statistics re-estimated for the
            argmax path; the final test always re-estimates them.
    """

    def __init__(
        self,
        space: SearchSpace,
        expected_cost: ExpectedCost,
        cost_loss: CostObjective,
        arch_update: ArchUpdate,
        weight_optimizer: OptimizerFactory,
        warmup_lr_scale: float = 2.0,
        label_smoothing: float = 0.1,
        bn_calibration_batches: int = 20,
        grad_clip: float | None = None,
        channels_last: bool = True,
        path_seed: int = 0,
        skip_zero_active: bool = False,
        bn_train_in_validation: bool = False,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.space = space
        self.supernet = SuperNet(space, arch_update.alpha_init_std)
        self.channels_last = channels_last
        if channels_last:
            self.supernet.to(memory_format=torch.channels_last)
        self.expected_cost = expected_cost
        self.cost_loss = cost_loss
        self.arch_update = arch_update
        self.weight_optimizer_factory = weight_optimizer
        self.warmup_lr_scale = warmup_lr_scale
        self.label_smoothing = label_smoothing
        self.bn_calibration_batches = bn_calibration_batches
        self.grad_clip = grad_clip
        self.skip_zero_active = skip_zero_active
        self.bn_train_in_validation = bn_train_in_validation
        self.path_seed = path_seed
        self.path_generator = torch.Generator().manual_seed(path_seed)
        self._arch_batches: Iterator | None = None
        self.arch_batches_used = 0  # held-out batches drawn so far (a resume skips them)
        self.seconds_before = 0.0  # search time of the runs this one resumed
        self._started: float | None = None
        # p of every layer at the start and at the end of each training epoch
        self.prob_history: list[dict[str, Any]] = []

    def forward(self, x: Tensor) -> Tensor:
        return self.supernet(self.in_layout(x))

    def in_layout(self, x: Tensor) -> Tensor:
        """`x` in the network's memory format."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    # --- optimisers --------------------------------------------------------------------
    def configured_lrs(self) -> list[float | None]:
        """The weight and architecture learning rates the config gives (a resumed run takes
        them over the checkpoint's)."""
        return [
            getattr(f, "keywords", {}).get("lr")
            for f in (self.weight_optimizer_factory, self.arch_update.optimizer)
        ]

    def configure_optimizers(self) -> Any:
        if self.trainer.max_steps not in (None, -1):
            raise ValueError(
                f"trainer.max_steps={self.trainer.max_steps}: Lightning counts every optimiser "
                "step, and a search takes an architecture step every arch_update.every weight "
                "steps, so the run would stop early with its learning-rate schedule unfinished. "
                "Limit a search with epochs and trainer.limit_train_batches instead"
            )
        w_opt = self.weight_optimizer_factory(self.supernet.weight_parameters())
        a_opt = self.arch_update.optimizer(self.supernet.arch_parameters())
        total = int(self.trainer.estimated_stepping_batches)
        epochs = max(1, self.trainer.max_epochs or 1)
        warmup = min(total, self.arch_update.warmup_epochs * math.ceil(total / epochs))
        sched = warmup_then_search_cosine(w_opt, warmup, total, self.warmup_lr_scale)
        return [w_opt, a_opt], [{"scheduler": sched, "interval": "step"}]

    def dts_shared_steps(self) -> int:
        """For `distributed=dts`: weight steps between two architecture updates (the update
        says why it cannot run under DTS if it cannot)."""
        return self.arch_update.dts_shared_steps()

    # --- training ----------------------------------------------------------------------
    def on_train_start(self) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is None or not hasattr(datamodule, "arch_batches"):
            raise RuntimeError(
                "SearchModule needs a SplitDataModule (trainer.fit(module, datamodule=...))"
            )
        self._arch_batches = datamodule.arch_batches(
            self.trainer.world_size, self.trainer.global_rank, start=self.arch_batches_used
        )
        self._started = time.perf_counter()
        if not self.prob_history:  # a new run, or one resumed from a checkpoint without them
            self._record_probs(self.current_epoch)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        w_opt, a_opt = self.optimizers()
        x, y = batch
        self.supernet.sample_paths(self.path_generator)
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        if batch_idx % NAN_CHECK_EVERY == 0:  # reading the loss waits for the GPU: not every step
            self.check_finite(loss, "weight step")
        w_opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if self.grad_clip:
            self.clip_gradients(
                w_opt, gradient_clip_val=self.grad_clip, gradient_clip_algorithm="norm"
            )
        w_opt.step()
        self.lr_schedulers().step()
        acc = (logits.argmax(1) == y).float().mean()
        self.log_dict(
            {"train/loss": loss.detach(), "train/acc": acc}, prog_bar=True, batch_size=len(y)
        )
        self.log("train/lr", w_opt.param_groups[0]["lr"])
        if self.current_epoch < self.arch_update.warmup_epochs:
            return
        for _ in range(self.arch_update.steps_due(batch_idx, self.trainer.num_training_batches)):
            self.arch_update.step(self, a_opt)

    def next_arch_batch(self) -> tuple[Tensor, Tensor]:
        """The next batch of the held-out split, on the module's device (a resumed run
        continues the stream where the checkpoint left it)."""
        x, y = next(self._arch_batches)
        self.arch_batches_used += 1
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def derived_paths(self) -> list[int]:
        """The architecture the search hands over: the argmax of p, as the cost term derives
        it (repaired to meet a hard constraint)."""
        indices = self.supernet.argmax_paths()
        return self.cost_loss.derive(indices, self.supernet.cpu_probs(), self.expected_cost)

    def check_finite(self, loss: Tensor, where: str) -> None:
        """Raise NonFiniteLossError, with the fixes, if `loss` is NaN or infinite."""
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"{where}: loss is {float(loss)} at epoch {self.current_epoch}, step "
                f"{self.global_step}; lower the learning rate (optimizer.lr), enable "
                "module.grad_clip, or check the data (with cost_loss=mul_log the expected "
                "cost must stay above 1: use a smaller hardware.cost_model.unit). The checkpoints "
                "written so far hold finite weights: resume from checkpoints/last.ckpt with "
                "ckpt_path=... and the lower rate (a resumed run takes the configured rate)."
            )

    def _record_probs(self, epoch: int) -> None:
        """p of every layer after `epoch` epochs (0: the start); a resumed run replaces any
        record of this epoch or later that its checkpoint carried."""
        probs = [[round(v, 6) for v in p.tolist()] for p in self.supernet.cpu_probs()]
        self.prob_history = [r for r in self.prob_history if r["epoch"] < epoch]
        self.prob_history.append({"epoch": epoch, "probs": probs})

    def on_train_epoch_end(self) -> None:
        self._record_probs(self.current_epoch + 1)
        probs = {}
        for layer, p in zip(self.space.layers, self.supernet.cpu_probs(), strict=True):
            for cand, value in zip(layer.candidates, p.tolist(), strict=True):
                probs[f"arch/p/layer{layer.index:02d}/{cand.name}"] = value
        # identical on every rank; syncing them once an epoch is cheap
        self.log_dict(probs, sync_dist=True)

    # --- evaluation of the argmax architecture -----------------------------------------
    def _evaluate_argmax(self, bn_train_mode: bool = False) -> None:
        self.supernet.set_paths(self.derived_paths())
        if bn_train_mode:  # batch statistics of the held-out batches themselves
            self.supernet.eval()
            for m in self.supernet.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.train()
            return
        datamodule = self.trainer.datamodule
        batches = calibration_batches(datamodule.train_dataloader(), self.current_epoch)
        recalibrate_batchnorm(self.supernet, batches, self.bn_calibration_batches, self.device)
        self.supernet.eval()

    def on_validation_epoch_start(self) -> None:
        self._evaluate_argmax(self.bn_train_in_validation)

    def on_test_epoch_start(self) -> None:
        # the calibration batches depend on the seed alone, not on what drew random numbers
        # before: a run resumed at the end of training tests as the unbroken one did
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.path_seed)
            self._evaluate_argmax()

    def _eval_step(self, batch: tuple[Tensor, Tensor], split: str) -> None:
        x, y = batch
        logits = self(x)
        acc = (logits.argmax(1) == y).float().mean()
        loss = F.cross_entropy(logits, y)
        self.log_dict(
            {f"{split}/acc": acc, f"{split}/loss": loss}, sync_dist=True, batch_size=len(y)
        )

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    # --- checkpoints -------------------------------------------------------------------
    def on_train_end(self) -> None:
        self.seconds_before, self._started = self.search_seconds(), None  # the clock stops

    def search_seconds(self) -> float:
        """Time spent searching, the interrupted runs this one resumed included."""
        running = time.perf_counter() - self._started if self._started is not None else 0.0
        return self.seconds_before + running

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Everything a resume needs to continue as the unbroken search: the path sampler,
        the position in the held-out stream, the random generators, the time spent."""
        checkpoint["search_space"] = self.space.describe()
        checkpoint["path_generator_state"] = self.path_generator.get_state()
        checkpoint["arch_batches_used"] = self.arch_batches_used
        checkpoint["rng_states"] = random_states.capture()
        checkpoint["search_seconds"] = self.search_seconds()
        checkpoint["prob_history"] = self.prob_history
        for key, state in (
            (COST_STATE_KEY, self.cost_loss.state_dict()),
            (ARCH_UPDATE_STATE_KEY, self.arch_update.state_dict()),
        ):
            if state:
                checkpoint[key] = state

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved, mine = checkpoint.get("search_space"), self.space.describe()
        if saved is not None and saved != mine:  # before Lightning loads mismatched weights
            old, new = next(
                (a, b)
                for a, b in zip(saved.splitlines() + [""], mine.splitlines() + [""], strict=False)
                if a != b
            )
            raise ValueError(
                f"the checkpoint comes from a search of another space ({saved.splitlines()[0]!r}, "
                f"not {mine.splitlines()[0]!r}; first difference: {old.strip()!r} against "
                f"{new.strip()!r}): resume with the search_space and dataset it was searched "
                "with, or start a new run"
            )
        if "path_generator_state" in checkpoint:
            self.path_generator.set_state(checkpoint["path_generator_state"])
        self.arch_batches_used = checkpoint.get("arch_batches_used", 0)
        self.seconds_before = checkpoint.get("search_seconds", 0.0)
        self.prob_history = list(checkpoint.get("prob_history", []))
        if "rng_states" in checkpoint:
            random_states.restore(checkpoint["rng_states"])
        if COST_STATE_KEY in checkpoint:
            self.cost_loss.load_state_dict(checkpoint[COST_STATE_KEY])
        if ARCH_UPDATE_STATE_KEY in checkpoint:
            self.arch_update.load_state_dict(checkpoint[ARCH_UPDATE_STATE_KEY])
