"""ProxylessNAS-R (REFERENCE A3): the REINFORCE estimator, its reward, and searches with it."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from hwnas.architecture import Architecture
from hwnas.objective import AddLinearLoss, CostConstraint, MulLogLoss, NoCostLoss
from hwnas.search.reinforce import ReinforceUpdate, policy_gradient

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def _exact_gradient(probs: list[torch.Tensor], reward) -> list[torch.Tensor]:
    """d E_p[R] / d alpha, enumerating every architecture."""
    grads = [torch.zeros_like(p, dtype=torch.float64) for p in probs]
    for path in itertools.product(*(range(len(p)) for p in probs)):
        weight = math.prod(float(p[i]) for p, i in zip(probs, path, strict=True))
        for grad, p, index in zip(grads, probs, path, strict=True):
            grad -= weight * reward(path) * p.double()
            grad[index] += weight * reward(path)
    return grads


def test_the_estimator_is_unbiased_for_the_exact_gradient() -> None:
    """On a toy space with fixed rewards, the mean of many REINFORCE estimates (with a
    baseline, which changes the variance, not the mean) matches d E[R] / d alpha."""
    gen = torch.Generator().manual_seed(0)
    alphas = [torch.randn(3, generator=gen), torch.randn(4, generator=gen)]
    probs = [torch.softmax(a, 0) for a in alphas]
    table = torch.rand(3, 4, generator=gen)
    reward = lambda path: float(table[path])  # noqa: E731
    exact = _exact_gradient(probs, reward)
    # the same gradient by autograd, to check the enumeration itself
    a = [x.clone().double().requires_grad_() for x in alphas]
    p0, p1 = (torch.softmax(x, 0) for x in a)
    (p0[:, None] * p1[None, :] * table.double()).sum().backward()
    for g, x in zip(exact, a, strict=True):
        torch.testing.assert_close(g, x.grad)
    n = 200_000
    paths = list(
        zip(
            torch.multinomial(probs[0], n, True, generator=gen).tolist(),
            torch.multinomial(probs[1], n, True, generator=gen).tolist(),
            strict=True,
        )
    )
    baseline = 0.4
    estimate = policy_gradient(probs, paths, [reward(p) - baseline for p in paths])
    for e, g in zip(estimate, exact, strict=True):
        torch.testing.assert_close(e, g, atol=4e-3, rtol=0)


@pytest.mark.parametrize("soft", [MulLogLoss(80.0), AddLinearLoss(80.0)])
def test_the_reward_and_nets_over_a_hard_target(soft) -> None:
    update = ReinforceUpdate()
    assert update.reward(0.8, 80.0, soft) == pytest.approx(0.8)
    assert update.reward(0.8, 160.0, soft) == pytest.approx(0.8 * 2**-0.1)  # paper: w = -0.1
    assert update.reward(0.8, 40.0, soft) > 0.8  # faster than T earns more (soft)
    hard = CostConstraint(80.0)
    assert update.reward(0.8, 40.0, hard) == pytest.approx(0.8)  # not under a constraint
    assert update.reward(0.8, 80.0, hard) == pytest.approx(0.8)
    assert update.reward(0.8, 100.0, hard) == pytest.approx(0.8 * 0.8)  # (LAT/T)^-1
    assert update.reward(0.8, 1e9, NoCostLoss(80.0)) == 0.8  # cost_loss=none: accuracy alone


def test_updates_are_spread_evenly_over_an_epoch() -> None:
    for batches, wanted in ((1000, 300), (70, 300), (300, 300), (7, 3)):
        update = ReinforceUpdate(updates_per_epoch=wanted)
        due = [update.steps_due(i, batches) for i in range(batches)]
        assert sum(due) == wanted and max(due) - min(due) <= math.ceil(wanted / batches)


def _cfg(tmp_path: Path, *overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(
            config_name="search",
            overrides=[
                "debug=fast",
                "arch_update=reinforce",
                "arch_update.warmup_epochs=0",
                "arch_update.updates_per_epoch=3",
                "arch_update.samples=4",
                "arch_update.optimizer.lr=0.05",
                "dataset=synthetic",
                "dataset.input_size=16",
                "dataset.train_size=256",
                "dataset.test_size=64",
                "dataset.batch_size=16",
                "logger=csv",
                *overrides,
            ],
        )
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    return cfg


def test_a_short_reinforce_search_derives_a_valid_net(tmp_path: Path) -> None:
    from hwnas.runs.search_run import run_search

    summary = run_search(_cfg(tmp_path, "epochs=2"))
    arch = Architecture.load(tmp_path / "arch.yaml")
    assert summary["arch_update"] == "reinforce" and summary["arch_mode"] is None
    assert [b.op for b in arch.layers] == summary["architecture"]
    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert state["reinforce"]["baseline"] is not None
    alphas = [v for k, v in state["state_dict"].items() if k.endswith(".alpha")]
    assert any(a.abs().max() > 0 for a in alphas)  # the updates moved p
    header = (tmp_path / "csv" / "version_0" / "metrics.csv").read_text().split("\n")[0]
    assert {"arch/reward", "arch/baseline", "arch/accuracy"} <= set(header.split(","))
    assert json.loads((tmp_path / "summary.json").read_text())["arch_update"] == "reinforce"


def test_a_resumed_reinforce_search_equals_the_unbroken_one(tmp_path: Path, fit_search) -> None:
    unbroken = fit_search(_cfg(tmp_path / "unbroken", "epochs=2"))
    broken = fit_search(_cfg(tmp_path / "broken", "epochs=2"), stop_early=True)
    last = tmp_path / "broken" / "checkpoints" / "last.ckpt"
    resumed = fit_search(_cfg(tmp_path / "resumed", "epochs=2", f"ckpt_path={last}"))
    assert unbroken.arch_batches_used == resumed.arch_batches_used > broken.arch_batches_used > 0
    baselines = [m.arch_update.baseline for m in (resumed, unbroken, broken)]
    assert baselines[0] == baselines[1] != baselines[2]
    for key, value in unbroken.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=0, atol=1e-6, msg=key)
    assert resumed.derived_paths() == unbroken.derived_paths()


def test_scoring_shares_prefixes_and_gives_each_paths_own_logits(tiny_space) -> None:
    """forward_paths (what an update scores its M nets with) gives, for every path, exactly the
    logits of setting that path and running the network, with BatchNorm on batch statistics as
    in scoring; paths that share their first layers share them."""
    from hwnas.search.reinforce import _scoring
    from hwnas.search.supernet import SuperNet

    torch.manual_seed(0)
    net = SuperNet(tiny_space)
    gen = torch.Generator().manual_seed(3)
    paths = [net.sample_paths(gen) for _ in range(6)]
    paths += [paths[0], paths[1][:2] + paths[2][2:]]  # a repeat and a shared prefix
    x = torch.randn(5, 3, 16, 16)
    with torch.no_grad(), _scoring(net):
        shared = net.forward_paths(x, paths)
        one_by_one = []
        for path in paths:
            net.set_paths(path)
            one_by_one.append(net(x))
    for a, b in zip(shared, one_by_one, strict=True):
        assert torch.equal(a, b)
    assert [b.active for b in net.blocks] == paths[-1]
    with pytest.raises(ValueError, match="out of range"):
        net.forward_paths(x, [paths[0], [99] * len(paths[0])])


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("arch_update.samples=2.5", "arch_update.samples must be a whole number >= 2, got 2.5"),
        ("arch_update.reward_exponent=nan", "arch_update.reward_exponent must be a finite number"),
        ("arch_update.updates_per_epoch=0.5", "updates_per_epoch must be a whole number >= 1"),
        ("arch_update.hard_exponent=inf", "arch_update.hard_exponent must be a finite number"),
        ("arch_update.baseline_decay=nan", "arch_update.baseline_decay must be a finite number"),
    ],
)
def test_bad_reinforce_values_are_refused_before_the_search(
    tmp_path: Path, override: str, match: str
) -> None:
    """They failed mid-run with a TypeError or a RuntimeError from deep in the library."""
    from hwnas.runs.search_run import build_search

    with pytest.raises(ValueError, match=match):
        build_search(_cfg(tmp_path, override))


def test_a_reward_exponent_that_rewards_slower_nets_is_warned_of(caplog) -> None:
    with caplog.at_level("WARNING", logger="hwnas.search.reinforce"):
        ReinforceUpdate(samples=4, reward_exponent=0.1)
    assert "reward_exponent=0.1 is positive" in caplog.text and "rewards slower nets" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="hwnas.search.reinforce"):
        ReinforceUpdate(samples=4, reward_exponent=-0.1)
    assert not caplog.text
