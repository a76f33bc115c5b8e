"""SearchModule: ProxylessNAS-G as a LightningModule with manual, alternating weight and
architecture steps (REFERENCE A2, A4, A5)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import Optimizer

from hwnas.cost.model import ExpectedCost, cost_metric
from hwnas.objective.constraint import CostConstraint
from hwnas.objective.soft import HardwareCostLoss
from hwnas.search.arch_step import architecture_step
from hwnas.search.bn_calibration import calibration_batches, recalibrate_batchnorm
from hwnas.search.mixed_op import ARCH_MODES
from hwnas.search.reinforce import ReinforceResult, ReinforceUpdate
from hwnas.search.schedule import warmup_then_search_cosine
from hwnas.search.supernet import SuperNet
from hwnas.search_space.space import SearchSpace
from hwnas.util import random_states

OptimizerFactory = Callable[..., Optimizer]
NAN_CHECK_EVERY = 10  # weight steps between checks that the loss is finite


class NonFiniteLossError(RuntimeError):
    """Raised when a step's loss is NaN or infinite."""


class SearchModule(pl.LightningModule):
    """Gradient-based ProxylessNAS search of `space` for the hardware priced by `expected_cost`.

    Each training batch is one weight step on a path sampled from p (SGD, label smoothing);
    after `warmup_epochs`, every `arch_every`-th weight step is followed by one architecture
    step on a batch of the held-out split (Adam on alphas; plain cross-entropy combined with the
    expected cost by `cost_loss`).

    Args:
        space: the search space (bound to the data set).
        expected_cost: E[C] of `space` under the target hardware's cost model, differentiable
            in alpha.
        cost_loss: the hardware term's form and target, or a hard constraint.
        weight_optimizer / arch_optimizer: partial optimisers, completed with the network
            weights and the alphas respectively.
        arch_mode: `full`, `two` or `full_v2` (REFERENCE A2).
        arch_every: weight steps per architecture step.
        warmup_epochs: epochs of weight steps only.
        warmup_lr_scale: warm-up LR over search LR (0.05 / 0.025 in the paper).
        label_smoothing: of the weight steps' loss.
        bn_calibration_batches: training batches to re-estimate BN statistics of the argmax path
            before each validation/test (0 keeps the supernet's running statistics).
        alpha_init_std: alphas start at N(0, std) (0 = zeros).
        grad_clip: max gradient norm of weight steps (None = off).
        channels_last: keep weights and inputs in NHWC; depthwise convolutions run about 2x
            faster that way on CPUs, and it is the fast layout for bf16 on GPUs.
        skip_zero_active: no alpha update in a layer whose active candidate is Zero that step
            (an option of the original code, REFERENCE A2).
        bn_train_in_validation: in-search validation runs BatchNorm in train mode (batch
            statistics, as the original code did) instead of statistics re-estimated for the
            argmax path; the final test always re-estimates them.
        reinforce: the REINFORCE update (ProxylessNAS-R, REFERENCE A3) instead of the gradient
            one; `arch_mode` and `arch_every` then do not apply.
        path_seed: seed of the path sampler, identical on every rank so all ranks run the same
            path at every step.
    """

    def __init__(
        self,
        space: SearchSpace,
        expected_cost: ExpectedCost,
        cost_loss: HardwareCostLoss | CostConstraint,
        weight_optimizer: OptimizerFactory,
        arch_optimizer: OptimizerFactory,
        arch_mode: str = "full_v2",
        arch_every: int = 5,
        warmup_epochs: int = 0,
        warmup_lr_scale: float = 2.0,
        label_smoothing: float = 0.1,
        bn_calibration_batches: int = 20,
        alpha_init_std: float = 0.0,
        grad_clip: float | None = None,
        channels_last: bool = True,
        path_seed: int = 0,
        skip_zero_active: bool = False,
        bn_train_in_validation: bool = False,
        reinforce: ReinforceUpdate | None = None,
    ) -> None:
        super().__init__()
        if arch_mode not in ARCH_MODES:
            raise ValueError(f"unknown arch_update.mode {arch_mode!r}; choose one of {ARCH_MODES}")
        if arch_every < 1:
            raise ValueError(f"arch_update.every must be at least 1, got {arch_every}")
        self.automatic_optimization = False
        self.space = space
        self.supernet = SuperNet(space, alpha_init_std)
        self.channels_last = channels_last
        if channels_last:
            self.supernet.to(memory_format=torch.channels_last)
        self.expected_cost = expected_cost
        self.cost_loss = cost_loss
        self.weight_optimizer_factory = weight_optimizer
        self.arch_optimizer_factory = arch_optimizer
        self.arch_mode, self.arch_every = arch_mode, arch_every
        self.warmup_epochs, self.warmup_lr_scale = warmup_epochs, warmup_lr_scale
        self.label_smoothing = label_smoothing
        self.bn_calibration_batches = bn_calibration_batches
        self.grad_clip = grad_clip
        self.skip_zero_active = skip_zero_active
        self.bn_train_in_validation = bn_train_in_validation
        self.reinforce = reinforce
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
            for f in (self.weight_optimizer_factory, self.arch_optimizer_factory)
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
        a_opt = self.arch_optimizer_factory(self.supernet.arch_parameters())
        total = int(self.trainer.estimated_stepping_batches)
        epochs = max(1, self.trainer.max_epochs or 1)
        warmup = min(total, self.warmup_epochs * math.ceil(total / epochs))
        sched = warmup_then_search_cosine(w_opt, warmup, total, self.warmup_lr_scale)
        return [w_opt, a_opt], [{"scheduler": sched, "interval": "step"}]

    def dts_shared_steps(self) -> int:
        """For `distributed=dts`: weight steps between two architecture steps. DTS keeps the
        alphas identical on every rank (so every rank samples the same paths) and delays
        their averaged gradients by ceil(t / this) architecture steps."""
        if self.reinforce is not None:
            raise ValueError(
                "distributed=dts cannot run arch_update=reinforce: its update averages each "
                "sample's reward over the ranks at once, which would wait out the latency at every "
                "architecture update; search with arch_update=gradient under distributed=dts, or "
                "with trainer=ddp"
            )
        return self.arch_every

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
            self._check_finite(loss, "weight step")
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
        if self.current_epoch < self.warmup_epochs:
            return
        if self.reinforce is not None:
            for _ in range(
                self.reinforce.updates_due(batch_idx, self.trainer.num_training_batches)
            ):
                self.reinforce_step(a_opt)
        elif (batch_idx + 1) % self.arch_every == 0:
            self.architecture_step(a_opt)

    def reinforce_step(self, a_opt: Optimizer) -> ReinforceResult:
        """One REINFORCE update on a held-out batch (REFERENCE A3)."""
        x, y = next(self._arch_batches)
        self.arch_batches_used += 1
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        hard = isinstance(self.cost_loss, CostConstraint)
        target = None if getattr(self.cost_loss, "form", None) == "none" else self.cost_loss.target
        ranks = self.trainer.strategy if self.trainer.world_size > 1 else None
        mean = None if ranks is None else partial(ranks.reduce, reduce_op="mean")
        result = self.reinforce.step(
            self.supernet,
            x,
            y,
            self.path_generator,
            self.expected_cost,
            target,
            a_opt,
            hard,
            prepare=self.in_layout,
            mean_over_ranks=mean,
        )
        unit = self.expected_cost.unit
        with torch.no_grad():
            expected = float(self.expected_cost(self.supernet.probs()))
        self.log_dict(
            {
                "arch/reward": result.reward,
                "arch/baseline": result.baseline,
                "arch/accuracy": result.accuracy,
                f"arch/{cost_metric('sampled', unit)}": result.latency,
                f"arch/{cost_metric('expected', unit)}": expected,
                "arch/entropy": float(self.supernet.entropy().detach()),
            },
            prog_bar=False,
            batch_size=len(y),
        )
        return result

    def architecture_step(self, a_opt: Optimizer) -> Tensor:
        """One architecture update on a held-out batch (REFERENCE A2, A4)."""
        x, y = next(self._arch_batches)
        self.arch_batches_used += 1
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        loss, ce, expected = architecture_step(
            self.supernet,
            x,
            y,
            self.arch_mode,
            self.path_generator,
            self.expected_cost,
            self.cost_loss,
            a_opt,
            forward=self,
            backward=self.manual_backward,
            check=lambda value: self._check_finite(value, "architecture step"),
            skip_zero_active=self.skip_zero_active,
        )
        unit = self.expected_cost.unit
        metrics = {
            "arch/loss": loss,
            "arch/ce": ce,
            f"arch/{cost_metric('expected', unit)}": expected,
            "arch/entropy": self.supernet.entropy().detach(),
        }
        if isinstance(self.cost_loss, CostConstraint):
            derived = self.expected_cost.of_paths(self.supernet.argmax_paths())
            self.cost_loss.update(float(expected), derived)
            metrics |= {
                f"arch/{cost_metric('derived', unit)}": derived,
                "arch/multiplier": self.cost_loss.multiplier,
            }
        self.log_dict(metrics, prog_bar=False, batch_size=len(y))
        return loss

    def derived_paths(self) -> list[int]:
        """The architecture the search hands over: the argmax of p, repaired to meet a hard
        constraint if there is one."""
        indices = self.supernet.argmax_paths()
        if isinstance(self.cost_loss, CostConstraint):
            probs = [p.tolist() for p in self.supernet.cpu_probs()]
            indices = self.cost_loss.repair(indices, probs, self.expected_cost)
        return indices

    def _check_finite(self, loss: Tensor, where: str) -> None:
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"{where}: loss is {float(loss)} at epoch {self.current_epoch}, step "
                f"{self.global_step}; lower the learning rate (optimizer.lr), enable "
                "module.grad_clip, or check the data (with cost_loss.form=mul_log the expected "
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
        if isinstance(self.cost_loss, CostConstraint):
            checkpoint["cost_constraint"] = self.cost_loss.state_dict()
        if self.reinforce is not None:
            checkpoint["reinforce"] = self.reinforce.state_dict()

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
        if isinstance(self.cost_loss, CostConstraint) and "cost_constraint" in checkpoint:
            self.cost_loss.load_state_dict(checkpoint["cost_constraint"])
        if self.reinforce is not None and "reinforce" in checkpoint:
            self.reinforce.load_state_dict(checkpoint["reinforce"])
