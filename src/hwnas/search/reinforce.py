"""ProxylessNAS-R: the REINFORCE architecture update (REFERENCE A3).

Per update, M architectures are drawn from p, each is scored on one held-out batch (no
gradient), and the reward R = ACC x (LAT / T)^w moves the alphas along the policy gradient
mean_m (R_m - b) d log p(m) / d alpha, with b a moving-average baseline. Since
log p(m) = sum_l log softmax(alpha_l)[m_l], its gradient is onehot(m_l) - p_l in every layer:
the update needs no backward pass through the network, and under DDP no gradient exchange
either. Every rank draws the same architectures (one path generator, seeded alike), the
accuracies are averaged over the ranks, so every rank computes the same gradient.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from hwnas.cost.model import ExpectedCost, cost_metric
from hwnas.objective.base import CostObjective
from hwnas.search.arch_update import ArchUpdate, OptimizerFactory
from hwnas.search.supernet import SuperNet

if TYPE_CHECKING:
    from hwnas.search.module import SearchModule

log = logging.getLogger(__name__)


def _whole(name: str, value: Any, least: int) -> int:
    """`value` as a whole number >= `least`, or a ValueError naming the setting."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"arch_update.{name} must be a whole number >= {least}, got {value!r}")
    return value


def _finite(name: str, value: Any) -> float:
    """`value` as a finite number, or a ValueError naming the setting."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"arch_update.{name} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class ReinforceResult:
    reward: float  # mean over the sampled architectures
    accuracy: float
    latency: float  # mean cost of the sampled architectures, in the cost model's unit
    baseline: float


class ReinforceUpdate(ArchUpdate):
    """The REINFORCE update (`arch_update=reinforce`) and its baseline.

    Args:
        samples: architectures drawn per update (M = 10 in the paper).
        reward_exponent: w in R = ACC x (LAT / T)^w (-0.1 in the paper; 0 ignores latency).
        baseline_decay: b <- b + decay x (mean reward - b), as the original code (0.99).
        updates_per_epoch: architecture updates per epoch, spread evenly over the weight steps
            (about 300 in the paper); fewer weight steps than that take several per step.
        hard_exponent: with a hard constraint T (`cost_loss=constraint`), nets at or under T get
            R = ACC and nets over T get R = ACC x (LAT / T)^hard_exponent (MnasNet's hard
            setting, alpha = 0 and beta = -1): speed under T is not rewarded, excess is
            penalised in proportion.
        warmup_epochs / alpha_init_std / optimizer: as `ArchUpdate`'s.
    """

    name = "reinforce"

    def __init__(
        self,
        samples: int = 10,
        reward_exponent: float = -0.1,
        baseline_decay: float = 0.99,
        updates_per_epoch: int = 300,
        hard_exponent: float = -1.0,
        warmup_epochs: int = 0,
        alpha_init_std: float = 0.0,
        optimizer: OptimizerFactory | None = None,
    ) -> None:
        super().__init__(warmup_epochs, alpha_init_std, optimizer)
        samples = _whole("samples", samples, 2)
        updates_per_epoch = _whole("updates_per_epoch", updates_per_epoch, 1)
        reward_exponent = _finite("reward_exponent", reward_exponent)
        hard_exponent = _finite("hard_exponent", hard_exponent)
        baseline_decay = _finite("baseline_decay", baseline_decay)
        if not 0 < baseline_decay <= 1:
            raise ValueError(f"arch_update.baseline_decay must lie in (0, 1], got {baseline_decay}")
        _warn_of_positive_exponents(reward_exponent, hard_exponent)
        self.samples, self.reward_exponent = samples, reward_exponent
        self.baseline_decay, self.updates_per_epoch = baseline_decay, updates_per_epoch
        self.hard_exponent = hard_exponent
        self.baseline: float | None = None

    def reward(self, accuracy: float, latency: float, objective: CostObjective) -> float:
        """R of one net under the search's cost term: ACC x (LAT / T)^w for a soft target,
        ACC at or under a hard limit T and ACC x (LAT / T)^hard_exponent over it, ACC alone
        for `cost_loss=none`."""
        return objective.reward(accuracy, latency, self.reward_exponent, self.hard_exponent)

    def steps_due(self, batch_idx: int, num_batches: int) -> int:
        """Updates after weight step `batch_idx` so that an epoch holds `updates_per_epoch`
        of them, evenly spread."""
        u, n = self.updates_per_epoch, max(1, num_batches)
        return (batch_idx + 1) * u // n - batch_idx * u // n

    def dts_shared_steps(self) -> int:
        raise ValueError(
            "distributed=dts cannot run arch_update=reinforce: its update averages each "
            "sample's reward over the ranks at once, which would wait out the latency at every "
            "architecture update; search with arch_update=gradient under distributed=dts, or "
            "with trainer=ddp"
        )

    # --- the update ----------------------------------------------------------------------
    def step(self, module: SearchModule, a_opt: Optimizer) -> None:
        """One update on the module's next held-out batch (REFERENCE A3); logs the reward, the
        baseline, the sampled nets' accuracy and cost, E[C] and the entropy of p."""
        x, y = module.next_arch_batch()
        ranks = module.trainer.strategy if module.trainer.world_size > 1 else None
        mean = None if ranks is None else partial(ranks.reduce, reduce_op="mean")
        result = self.update(
            module.supernet,
            x,
            y,
            module.path_generator,
            module.expected_cost,
            module.cost_loss,
            a_opt,
            prepare=module.in_layout,
            mean_over_ranks=mean,
        )
        unit = module.expected_cost.unit
        with torch.no_grad():
            expected = float(module.expected_cost(module.supernet.probs()))
        module.log_dict(
            {
                "arch/reward": result.reward,
                "arch/baseline": result.baseline,
                "arch/accuracy": result.accuracy,
                f"arch/{cost_metric('sampled', unit)}": result.latency,
                f"arch/{cost_metric('expected', unit)}": expected,
                "arch/entropy": float(module.supernet.entropy().detach()),
            },
            prog_bar=False,
            batch_size=len(y),
        )

    def update(
        self,
        net: SuperNet,
        x: Tensor,
        y: Tensor,
        generator: torch.Generator,
        expected_cost: ExpectedCost,
        objective: CostObjective,
        optimizer: Optimizer,
        prepare: Callable[[Tensor], Tensor] | None = None,
        mean_over_ranks: Callable[[Tensor], Tensor] | None = None,
    ) -> ReinforceResult:
        """One update of the alphas of `net` on the held-out batch (x, y), rewarded under
        `objective`.

        Args:
            prepare: puts the batch in the network's layout (SearchModule's memory format).
            mean_over_ranks: averages a tensor over the DDP ranks (None: one process).
        """
        probs = [p.clone() for p in net.cpu_probs()]
        paths = [net.sample_paths(generator) for _ in range(self.samples)]
        with torch.no_grad(), _scoring(net):
            all_logits = net.forward_paths(prepare(x) if prepare else x, paths)
        accuracy = torch.stack([(logits.argmax(1) == y).float().mean() for logits in all_logits])
        if mean_over_ranks is not None:
            accuracy = mean_over_ranks(accuracy)
        accuracies = accuracy.double().cpu().tolist()
        latencies = [expected_cost.of_paths(p) for p in paths]
        rewards = [self.reward(a, c, objective) for a, c in zip(accuracies, latencies, strict=True)]
        mean_reward = sum(rewards) / len(rewards)
        if self.baseline is None:
            self.baseline = mean_reward
        else:
            self.baseline += self.baseline_decay * (mean_reward - self.baseline)
        grads = policy_gradient(probs, paths, [r - self.baseline for r in rewards])
        optimizer.zero_grad(set_to_none=True)
        for alpha, grad in zip(net.arch_parameters(), grads, strict=True):
            alpha.grad = -grad.to(alpha.device, alpha.dtype)  # the optimiser descends: ascend R
        optimizer.step()
        net.invalidate_probs()
        return ReinforceResult(
            mean_reward,
            sum(accuracies) / len(accuracies),
            sum(latencies) / len(latencies),
            self.baseline,
        )

    def state_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.baseline = state.get("baseline")


def _warn_of_positive_exponents(reward_exponent: float, hard_exponent: float) -> None:
    if reward_exponent > 0:
        log.warning(
            "arch_update.reward_exponent=%g is positive: R = ACC x (LAT / T)^w then "
            "rewards slower nets; the paper uses w = -0.1 (0 ignores latency)",
            reward_exponent,
        )
    if hard_exponent > 0:
        log.warning(
            "arch_update.hard_exponent=%g is positive: nets over the constraint are "
            "then rewarded for their excess; MnasNet's hard setting is -1",
            hard_exponent,
        )


def policy_gradient(
    probs: Sequence[Tensor], paths: Sequence[Sequence[int]], advantages: Sequence[float]
) -> list[Tensor]:
    """mean_m advantage_m x d log p(path_m) / d alpha, layer by layer: the gradient of
    log softmax(alpha)[i] is onehot(i) - p."""
    grads = [torch.zeros_like(p, dtype=torch.float64) for p in probs]
    for path, advantage in zip(paths, advantages, strict=True):
        for grad, p, index in zip(grads, probs, path, strict=True):
            grad -= advantage * p.double()
            grad[index] += advantage
    return [g / len(paths) for g in grads]


@contextmanager
def _scoring(net: SuperNet):
    """Score sampled nets as the original code did: BatchNorm on the batch's own statistics
    (the supernet's running statistics mix every path), without touching the running
    statistics; dropout off. Modes and momenta are restored after."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m, m.momentum) for m in norms]
    was_training = net.training
    net.eval()
    for m in norms:
        m.train()
        m.momentum = 0.0  # running = (1 - 0) x running: left as it is
    try:
        yield
    finally:
        for m, momentum in saved:
            m.momentum = momentum
        net.train(was_training)
