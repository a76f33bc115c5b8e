"""benchmarks/dts_accuracy.py: its table (same-seed differences to SSGD over the seeds both ran)
and its sweep (several runs at once, a failure keeping what finished)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import dts_accuracy  # noqa: E402


def _runs(arm: str, accs: dict[int, float]) -> list[dict]:
    return [{"task": "cifar10", "arm": arm, "seed": s, "test_acc": a} for s, a in accs.items()]


def test_paired_differences_use_the_seeds_both_arms_ran() -> None:
    results = _runs("ssgd", {0: 0.50, 1: 0.60, 2: 0.55}) + _runs("dts_t5", {0: 0.48, 1: 0.57})
    results += [{"task": "mnist", "arm": "dts_t5", "seed": 2, "test_acc": 0.99}]  # other task
    rows = {
        line.split(" | ")[0].strip("| "): line.split(" | ")
        for line in dts_accuracy.table(results, "cifar10", ["ssgd", "dts_t5"]).splitlines()[2:]
    }
    # seeds 0 and 1: -2 and -3 points; mean -2.5, standard error 0.71 / sqrt(2) = 0.5
    assert rows["dts_t5"][-1].strip(" |") == "-2.50 +- 0.50 (2 seeds)"
    # the difference of the means takes every seed of each arm: 52.5 - 55.0
    assert rows["dts_t5"][-2] == "-2.50" and rows["ssgd"][3] == "55.00%"
    assert rows["dts_t5"][2] == "48.00% (0) 57.00% (1)"
    assert rows["dts_t5"][5] == "-"  # these runs predate the drift figure
    one = dts_accuracy.paired_difference({3: 0.5}, {3: 0.45})
    assert one == "+5.00 (1 seed)" and dts_accuracy.paired_difference({4: 0.5}, {3: 0.4}) == "-"


def test_the_drift_column_averages_the_runs_that_recorded_it() -> None:
    results = _runs("ssgd", {0: 0.5}) + _runs("dts_t1", {0: 0.49, 1: 0.5})
    results[0]["replica_spread"] = 0.0
    results[1]["replica_spread"], results[2]["replica_spread"] = 0.01, 0.03
    rows = {
        line.split(" | ")[0].strip("| "): line.split(" | ")
        for line in dts_accuracy.table(results, "cifar10", ["ssgd", "dts_t1"]).splitlines()[2:]
    }
    assert rows["ssgd"][5] == "0" and rows["dts_t1"][5] == "0.02"


def test_a_larger_batch_scales_the_rate_and_keeps_the_warmup_share(tmp_path: Path) -> None:
    """At 16 images per process the rate doubles and the synchronous warm-up covers the same
    0.3 epochs in half the steps; the results carry their own label, apart from the default's."""
    assert dts_accuracy.scaled("cifar10", 8) == (0.035, 178)
    lr, warmup = dts_accuracy.scaled("cifar10", 16)
    assert abs(lr - 0.07) < 1e-12 and warmup == 89
    assert dts_accuracy.label("cifar10", 8) == "cifar10"
    assert dts_accuracy.label("cifar10", 16) == "cifar10/b16"
    overrides = dts_accuracy.task_overrides("cifar10", tmp_path, str(tmp_path / "c.zip"), 16)
    assert [o for o in overrides if o.startswith(("optimizer.lr", "dataset.batch_size="))] == [
        "dataset.batch_size=16",
        "optimizer.lr=0.07",
    ]


def test_a_learning_rate_scale_applies_to_every_arm_and_labels_its_results(tmp_path: Path) -> None:
    """--lr-scale 0.5 halves the recipe's rate (warm-up steps unchanged) and files the results
    apart from the recipe's own."""
    assert dts_accuracy.scaled("cifar10", 8, 0.5) == (0.0175, 178)
    assert dts_accuracy.label("cifar10", 8, 0.5) == "cifar10/lr0.5x"
    assert dts_accuracy.label("cifar10", 16, 0.5) == "cifar10/b16/lr0.5x"
    overrides = dts_accuracy.task_overrides("cifar10", tmp_path, str(tmp_path / "c.zip"), 8, 0.5)
    assert [o for o in overrides if o.startswith("optimizer.lr")] == ["optimizer.lr=0.0175"]


def test_a_longer_schedule_sets_epochs_once_and_labels_its_results(tmp_path: Path) -> None:
    """--epochs 6 replaces the recipe's 3 (one `epochs=` override, so Hydra cannot pick the
    wrong one), keeps the warm-up's steps and files the results apart; the recipe's own length
    keeps the plain label."""
    assert dts_accuracy.label("cifar10", 8, 1.0, 6) == "cifar10/e6"
    assert dts_accuracy.label("cifar10", 8, 1.0, 3) == "cifar10"
    assert dts_accuracy.label("mnist", 32, 0.5, 10) == "mnist/lr0.5x/e10"
    # the best checkpoint's results are filed apart from the final weights' (the default)
    assert dts_accuracy.label("cifar10", 8, 1.0, 6, test="best") == "cifar10/e6/best"
    assert dts_accuracy.label("cifar10", 8, test="last") == "cifar10"
    for task, epochs, expected in [("cifar10", 6, "epochs=6"), ("cifar10", None, "epochs=3")]:
        overrides = dts_accuracy.task_overrides(
            task, tmp_path, str(tmp_path / "c.zip"), 8, 1.0, epochs
        )
        assert [o for o in overrides if o.startswith("epochs=")] == [expected]
    assert dts_accuracy.scaled("cifar10", 8) == (0.035, 178)  # no epochs in it: steps kept


def test_last_epoch_train_loss_reads_the_runs_csv(tmp_path: Path) -> None:
    assert dts_accuracy.last_epoch_train_loss(tmp_path) is None  # no CSV log: no figure
    log = tmp_path / "csv" / "version_0"
    log.mkdir(parents=True)
    (log / "metrics.csv").write_text(
        "epoch,step,train/loss,val/acc\n0,9,2.0,\n0,19,1.8,\n0,19,,0.4\n1,29,1.0,\n1,39,0.5,\n"
    )
    assert dts_accuracy.last_epoch_train_loss(tmp_path) == 0.75  # epoch 1's two rows
    runs = [
        {
            "task": "cifar10",
            "arm": "ssgd",
            "seed": 0,
            "test_acc": 0.5,
            "last_epoch_train_loss": 0.75,
        }
    ]
    row = dts_accuracy.table(runs, "cifar10", ["ssgd"]).splitlines()[2].split(" | ")
    assert row[6] == "0.750"


def test_a_sweep_runs_jobs_at_once_and_records_each_run() -> None:
    going, most, recorded = [], [], []
    lock, first_pair = threading.Lock(), threading.Barrier(2, timeout=30)

    def run(seed: int, arm: str) -> dict:
        with lock:
            going.append(1)
            most.append(len(going))
        if seed == 0:  # the first two runs meet here: they run at the same time, or this times out
            first_pair.wait()
        time.sleep(0.05 if arm == "ssgd" else 0.01)
        with lock:
            going.pop()
        return {"seed": seed, "arm": arm}

    pending = [(s, a) for s in (0, 1, 2) for a in ("ssgd", "dts_t5")]
    dts_accuracy.run_sweep(pending, run, 2, recorded.append)
    assert sorted((r["seed"], r["arm"]) for r in recorded) == sorted(pending)
    assert max(most) == 2


def test_a_failed_run_stops_the_sweep_and_keeps_the_finished_runs() -> None:
    """The run going beside the failed one finishes and is recorded; none starts after it."""
    started, recorded = [], []
    failing = threading.Event()

    def run(seed: int, arm: str) -> dict:
        started.append((seed, arm))
        if seed == 0:
            failing.set()
            raise SystemExit("cifar10 ssgd seed 0 failed: out of memory")
        failing.wait(timeout=60)  # finish only once the failure is on its way
        time.sleep(0.2)
        return {"seed": seed, "arm": arm}

    pending = [(0, "ssgd"), (1, "ssgd"), (2, "ssgd"), (3, "ssgd")]
    with pytest.raises(SystemExit, match="seed 0 failed"):
        dts_accuracy.run_sweep(pending, run, 2, recorded.append)
    assert sorted(started) == [(0, "ssgd"), (1, "ssgd")]
    assert recorded == [{"seed": 1, "arm": "ssgd"}]
