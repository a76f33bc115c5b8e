"""DTSStrategy in this process (one rank): what it refuses, `dts.delay=auto`, gradient
clipping before the exchange, and what train.py reports."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import torch.distributed as dist
from hydra import compose, initialize_config_dir
from omegaconf import open_dict
from pytorch_lightning.plugins.precision import MixedPrecision
from torch.utils.data import DataLoader, TensorDataset
from virtual_clock import VirtualClock

from hwnas.distributed import DTSSettings, DTSStrategy, smallest_hiding_delay
from hwnas.distributed.auto_delay import bandwidth_bound_note
from hwnas.distributed.step_timer import StepTimer
from hwnas.runs.search_run import run_search
from hwnas.runs.train_run import run_train

CONF = str(Path(__file__).resolve().parents[2] / "conf")


@pytest.fixture(autouse=True)
def _no_process_group_left() -> Iterator[None]:
    """A one-rank DTS run initialises a process group; later tests must not find it."""
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


def _cfg(name: str, out: Path, *overrides: str):
    debug = "debug=fast" if name == "search" else "debug=train_fast"
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(
            config_name=name,
            overrides=[debug, "logger=csv", "distributed=dts", "trainer.devices=1", *overrides],
        )
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
    return cfg


class SlowLinear(pl.LightningModule):
    """A linear model whose every step takes `step_s` of compute on `clock` (with no clock,
    only the real time it takes)."""

    def __init__(self, step_s: float = 0.0, clock: VirtualClock | None = None) -> None:
        super().__init__()
        self.net, self.step_s, self.clock = torch.nn.Linear(4, 2), step_s, clock

    def training_step(self, batch, batch_idx):
        if self.clock is not None:
            self.clock.advance(self.step_s)
        x, y = batch
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1.0)


def _loader(n: int = 64) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    return DataLoader(
        TensorDataset(torch.randn(n, 4, generator=g) * 100, torch.randint(0, 2, (n,), generator=g)),
        batch_size=4,
    )


def _trainer(tmp_path: Path, strategy: DTSStrategy, **kwargs) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        devices=1,
        strategy=strategy,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        default_root_dir=tmp_path,
        **kwargs,
    )


def test_reinforce_search_is_refused_with_the_alternatives(tmp_path: Path) -> None:
    """Its update averages every sample's reward over the ranks at once."""
    cfg = _cfg("search", tmp_path, "arch_update=reinforce", "dts.delay=2")
    with pytest.raises(ValueError, match="cannot run arch_update=reinforce.*arch_update=gradient"):
        run_search(cfg)


def test_a_module_with_two_optimisers_and_no_plan_for_the_second_is_refused(
    tmp_path: Path,
) -> None:
    class TwoOptimisers(SlowLinear):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False

        def configure_optimizers(self):
            return [
                torch.optim.SGD([self.net.weight], lr=1.0),
                torch.optim.SGD([self.net.bias], lr=1.0),
            ]

    trainer = _trainer(tmp_path, DTSStrategy(delay=1), max_steps=2)
    with pytest.raises(ValueError, match="has 2 and no dts_shared_steps"):
        trainer.fit(TwoOptimisers(), _loader())


def test_a_search_reports_its_exchange_and_the_architecture_delay(tmp_path: Path) -> None:
    """dts.delay=3 with an architecture step every 2 weight steps: the alphas' averages arrive
    ceil(3 / 2) = 2 architecture steps late."""
    run_search(_cfg("search", tmp_path, "dts.delay=3"))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["distributed"]["delay_used"] == 3
    assert summary["distributed"]["shared_delay_used"] == 2
    assert summary["distributed"]["messages"] > 0


def test_trainer_gradient_clipping_is_refused_for_clipping_before_the_exchange(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValueError, match="set dts.clip_grad_norm instead"):
        run_train(_cfg("train", tmp_path, "+trainer.gradient_clip_val=1.0"))


def test_fp16_with_a_gradient_scaler_is_refused(tmp_path: Path) -> None:
    scaled = MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))
    trainer = _trainer(tmp_path, DTSStrategy(delay=1), plugins=[scaled], max_steps=2)
    with pytest.raises(ValueError, match="gradient scaler.*bf16-mixed"):
        trainer.fit(SlowLinear(), _loader())


class WithSyncBatchNorm(SlowLinear):
    def __init__(self) -> None:
        super().__init__()
        self.norm = torch.nn.SyncBatchNorm(2)


@pytest.mark.parametrize("how", ["module", "trainer"])
def test_sync_batchnorm_is_refused_for_a_blocking_collective_per_layer(
    tmp_path: Path, how: str
) -> None:
    module = WithSyncBatchNorm() if how == "module" else SlowLinear()
    trainer = _trainer(tmp_path, DTSStrategy(delay=1), max_steps=2, sync_batchnorm=how == "trainer")
    with pytest.raises(ValueError, match="cannot train with SyncBatchNorm.*sync_batchnorm=false"):
        trainer.fit(module, _loader())


def test_clip_grad_norm_clips_the_own_gradient_before_it_is_sent(tmp_path: Path) -> None:
    module = SlowLinear()
    before = torch.cat([p.detach().reshape(-1).clone() for p in module.parameters()])
    trainer = _trainer(tmp_path, DTSStrategy(delay=0, clip_grad_norm=1e-3), max_steps=1)
    trainer.fit(module, _loader())
    after = torch.cat([p.detach().reshape(-1) for p in module.parameters()])
    assert 0 < float((after - before).norm()) <= 1e-3 + 1e-9  # lr 1: the step is the gradient


def test_each_dts_setting_is_read_from_its_one_place_in_the_config(tmp_path: Path) -> None:
    from hydra.utils import instantiate

    cfg = _cfg("train", tmp_path, "dts.delay=3", "dts.compress=bf16", "wan.latency_ms=7")
    strategy = instantiate(cfg.trainer.strategy)
    assert strategy.settings == DTSSettings(delay=3, compress="bf16", latency_ms=7.0)
    with pytest.raises(ValueError, match="give settings or its fields, not both"):
        DTSStrategy(DTSSettings(), delay=2)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"delay": -1}, "dts.delay must be"),
        ({"delay": "soon"}, "dts.delay must be"),
        ({"period": 0}, "dts.period must be"),
        ({"period": 4, "correction": False}, "use it with dts.period=1"),
        ({"outer_optimizer": "nesterov"}, "set dts.period > 1"),
        ({"period": 4, "outer_optimizer": "adam"}, "dts.outer_optimizer must be"),
        ({"latency_ms": -5.0}, "latency_ms must be"),
        ({"bandwidth_mbps": 0}, "bandwidth_mbps must be > 0"),
        ({"timeout_s": 0}, "dts.timeout_s must be > 0"),
        ({"sync_warmup_steps": -1}, "dts.sync_warmup_steps must be"),
        ({"sync_warmup_steps": 2.5}, "dts.sync_warmup_steps must be"),
        ({"compress": "int8"}, "dts.compress must be null or one of"),
    ],
)
def test_bad_settings_are_named(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DTSSettings(**settings)


def test_train_py_sends_half_the_bytes_in_bf16(tmp_path: Path) -> None:
    sent = {}
    for compress in ("null", "bf16"):
        out = tmp_path / compress
        run_train(_cfg("train", out, "dts.delay=1", f"dts.compress={compress}", "epochs=1"))
        dts = json.loads((out / "train_summary.json").read_text())["distributed"]
        sent[compress] = dts["megabytes_sent"] / dts["messages"]
    # the sync point's average of the replicas travels in full precision
    assert sent["bf16"] < 0.6 * sent["null"]


def test_fp16_compression_names_the_value_it_cannot_send() -> None:
    from hwnas.distributed.compression import ErrorFeedback

    with pytest.raises(ValueError, match="beyond the 16-bit range.*dts.compress=bf16"):
        ErrorFeedback("fp16").encode(torch.tensor([1.0, 1e6]))
    assert ErrorFeedback("bf16").encode(torch.tensor([1e6])).isfinite().all()


def test_the_wall_time_counts_the_pauses_the_steady_state_leaves_out() -> None:
    """A pause (a sync point, a validation) is outside every step, but inside the wall time."""
    clock = VirtualClock()
    timer = StepTimer(clock=clock)
    for pause in (False, True, False):
        if pause:
            clock.advance(0.05)
            timer.reset()
        timer.start_step(0.0)
        clock.advance(0.01)
        timer.end_step(0.0)
    assert timer.steps == 1  # the first step of each series has no start
    assert timer.optimizer_steps == 3
    assert timer.wall_s == pytest.approx(0.05 + 0.03)
    assert timer.total_step_s == pytest.approx(0.01)


def test_a_steps_wait_spans_the_step_including_exchanges_between_steps() -> None:
    """A search waits for its architecture exchange between two weight steps: that wait
    belongs to the next step, as its time does; after a pause the series starts afresh."""
    clock = VirtualClock()
    timer = StepTimer(clock=clock)
    timer.start_step(0.0)
    clock.advance(0.01)
    assert timer.end_step(0.01) == (None, pytest.approx(0.01))  # the first step: no span yet
    # 0.05 s waited between the steps (an architecture exchange), 0.02 s inside the step
    clock.advance(0.05)
    timer.start_step(0.06)
    clock.advance(0.02)
    step, wait = timer.end_step(0.08)
    assert step == pytest.approx(0.07) and wait == pytest.approx(0.07)
    timer.reset()
    timer.start_step(1.0)  # a sync point's wait before the next series is not the step's
    assert timer.end_step(1.5) == (None, pytest.approx(0.5))
    timer.start_step(1.5)
    assert timer.end_step(1.5)[1] == 0.0


def test_smallest_hiding_delay() -> None:
    assert smallest_hiding_delay(0.2, 0.0, 64) == 0
    assert smallest_hiding_delay(0.2, 0.5, 64) == 3  # 2 x 0.2 < 0.5 <= 3 x 0.2
    assert smallest_hiding_delay(0.2, 0.6, 64) == 3
    assert smallest_hiding_delay(0.2, 1.0, 64) == 5
    assert smallest_hiding_delay(0.01, 10.0, 64) == 64  # capped


def test_a_wait_under_five_percent_of_the_compute_is_not_worth_a_delay() -> None:
    assert smallest_hiding_delay(0.142, 0.0001, 64) == 0  # 0.1 ms of a 142 ms step
    assert smallest_hiding_delay(0.2, 0.0099, 64) == 0
    assert smallest_hiding_delay(0.2, 0.0101, 64) == 1


def test_an_exchange_longer_than_the_steps_between_two_suggests_a_longer_period() -> None:
    assert bandwidth_bound_note(0.09, 0.1, 1) is None
    assert bandwidth_bound_note(0.25, 0.1, 4) is None
    note = bandwidth_bound_note(0.25, 0.1, 1)
    assert note is not None and "250 ms" in note and "dts.period=3 or more" in note


def test_auto_delay_hides_the_measured_latency(tmp_path: Path, virtual_clock) -> None:
    """10 ms of compute per step over a 35 ms link: the synchronous warm-up waits the whole
    35 ms each step, so t = ceil(35 / 10) = 4 covers the wait, and the steps that follow wait
    nothing."""
    strategy = DTSStrategy(delay="auto", latency_ms=35, auto_warmup_exchanges=4)
    module = SlowLinear(step_s=0.01, clock=virtual_clock)
    _trainer(tmp_path, strategy, max_steps=16).fit(module, _loader())
    engine = strategy.engine
    tuned = engine.tuning
    assert tuned is not None
    assert tuned["compute_s"] == pytest.approx(0.01) and tuned["wait_s"] == pytest.approx(0.035)
    assert engine.delay == 4
    waits = [wait for _, wait in engine.timer.history]
    assert waits[:3] == pytest.approx([0.035] * 3)  # synchronous warm-up: each pays the latency
    assert waits[-6:] == pytest.approx([0.0] * 6, abs=1e-9)  # delayed: hidden


def test_sync_warmup_steps_run_synchronously_then_the_chosen_delay(
    tmp_path: Path, virtual_clock
) -> None:
    """`dts.delay=auto` measures during the synchronous warm-up; its delay starts only after
    `sync_warmup_steps`, so those steps all pay the link's latency, and the later ones do not."""
    strategy = DTSStrategy(
        delay="auto", latency_ms=35, auto_warmup_exchanges=3, sync_warmup_steps=7
    )
    delays = []

    class RecordDelay(pl.Callback):
        def on_train_batch_end(self, *args) -> None:
            delays.append(strategy.engine.delay_in_effect)

    trainer = _trainer(tmp_path, strategy, max_steps=16, callbacks=[RecordDelay()])
    trainer.fit(SlowLinear(step_s=0.01, clock=virtual_clock), _loader())
    engine = strategy.engine
    tuning = engine.tuning  # chosen after 3 exchanges, by the rule
    assert tuning is not None and engine.delay == 4
    assert engine.delay == smallest_hiding_delay(tuning["compute_s"], tuning["wait_s"], 64)
    assert delays[:7] == [0] * 7 and delays[7:] == [engine.delay] * 9
    history = list(engine.timer.history)  # from step 1 (step 0 has no start)
    # tuned at step 3, still synchronous until step 7: each of those steps is 10 ms of compute
    # and the link's whole 35 ms; the delay then hides the latency
    assert [step for step, _ in history[:6]] == pytest.approx([0.045] * 6)
    assert [wait for _, wait in history[-4:]] == pytest.approx([0.0] * 4, abs=1e-9)


def test_a_delayed_run_logs_its_drift_limit(tmp_path: Path, caplog) -> None:
    """At a fixed delay the run states, once, the step size its replicas' drift tolerates."""
    with caplog.at_level(logging.INFO):
        _trainer(tmp_path, DTSStrategy(delay=2), max_steps=2).fit(SlowLinear(), _loader())
    notes = [r.getMessage() for r in caplog.records if "drift from their mean" in r.getMessage()]
    assert len(notes) == 1 and "at delay 2, " in notes[0]
    assert "while lr x curvature is below 1 (synchronous SGD: 2)" in notes[0]
    assert "dts_stability.py --momentum 0 --delays 0 2`" in notes[0]


def test_a_run_without_the_correction_logs_the_weights_limit(tmp_path: Path, caplog) -> None:
    """The ablation states the stale average's own, smaller limit (plain SGD at delay 2:
    2 sin(pi / 10) = 0.618), not the corrected update's drift limit."""
    with caplog.at_level(logging.INFO):
        strategy = DTSStrategy(delay=2, correction=False)
        _trainer(tmp_path, strategy, max_steps=2).fit(SlowLinear(), _loader())
    messages = [r.getMessage() for r in caplog.records]
    notes = [m for m in messages if "without the correction, the weights" in m]
    assert len(notes) == 1 and "is below 0.618 (synchronous SGD: 2)" in notes[0]
    assert not any("drift from their mean" in m for m in messages)


def test_train_summary_reports_the_exchange(tmp_path: Path) -> None:
    figures = run_train(_cfg("train", tmp_path, "dts.delay=1", "wan.latency_ms=2", "epochs=1"))
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    dts = summary["distributed"]
    assert figures["distributed"] == dts
    assert dts["delay_used"] == 1 and dts["latency_ms"] == 2 and dts["processes"] == 1
    assert dts["messages"] >= 4 and dts["steps"] >= 3
    assert dts["mean_step_ms"] > 0
    assert dts["training_wall_s"] * 1e3 >= dts["mean_step_ms"] * dts["steps"]
    assert dts["mean_wall_step_ms"] > 0
    # one sync point, the validation after the epoch's 4 steps; one process has no other
    # replica to drift from
    assert dts["replica_spread"] == [{"step": 4, "spread": 0.0}]
