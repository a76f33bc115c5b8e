"""Accuracy of DTS against synchronous SGD: the same data and number of steps on 2 processes,
for synchronous SGD, the delayed update at the delay that hides a 1 s link at the talk's 0.2 s
per step (t = 5), the sparse update, both, and the no-correction ablation (also at a large t),
over several seeds; on CIFAR-10 also t = 5 and p = 8 after a synchronous warm-up as long as the
learning-rate warm-up (`dts.sync_warmup_steps`). The update rule does not depend on wall
time, so the link is not emulated here: accuracy depends on t and p only.

    python benchmarks/dts_accuracy.py --task mnist           # MNIST sample, minutes
    python benchmarks/dts_accuracy.py --task cifar10         # cifar_train.py's recipe, hours
    python benchmarks/dts_accuracy.py --task mnist --quick   # a check that it runs

    python benchmarks/dts_accuracy.py --task cifar10 --batch 16 --arms ssgd dts_t5_warm
    python benchmarks/dts_accuracy.py --task cifar10 --lr-scale 0.5 --arms ssgd dts_t1
    python benchmarks/dts_accuracy.py --task cifar10 --epochs 6 --arms ssgd dts_t5_warm

Each run is `python train.py trainer=ddp trainer.devices=2 distributed=dts ...` (one thread per
process), and reports the test top-1 of its final weights (`--test best`: of the checkpoint
with the best held-out accuracy, labelled `cifar10/best`; choosing among checkpoints on 500
held-out images adds that choice's noise to every run). Results accumulate in a JSON file
(`--results`), so an interrupted sweep continues where it stopped. `--batch` sets the images per
process (8 on CIFAR-10, 32 on MNIST by default); the learning rate then scales linearly with the
global batch and the warm-ups keep their share of the run, and the results are labelled
`cifar10/b16` and so on; `--lr-scale` multiplies every arm's rate (labelled `cifar10/lr0.5x`);
`--epochs` sets the schedule's length (labelled `cifar10/e6`; the warm-ups keep their steps).
The table gives, per arm, the replicas' drift at the sync points and the last epoch's mean
training loss beside the accuracies. `--jobs N` runs N runs at once on a machine with 2 N cores
or more (each run is 2 processes x 1 thread; the results do not depend on it).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

import torch
from cifar_train import CPU_RUN
from common import load_space, machine_line, markdown_table

from hwnas.architecture.derive import derive_architecture
from hwnas.util.files import write_json

ROOT = Path(__file__).resolve().parents[1]
WARMUP = "dts.sync_warmup_steps={lr_warmup_steps}"
ARMS = {  # name: (what it is, overrides)
    "ssgd": ("synchronous SGD (t = 0, p = 1)", ["dts.delay=0"]),
    "dts_t5": ("delayed update, t = 5", ["dts.delay=5"]),
    "dts_t2": ("delayed update, t = 2", ["dts.delay=2"]),
    "dts_t1": ("delayed update, t = 1", ["dts.delay=1"]),
    "sparse_p8": ("sparse update, p = 8", ["dts.period=8", "dts.delay=0"]),
    "both_p8_t5": ("sparse p = 8 with delay t = 5", ["dts.period=8", "dts.delay=5"]),
    "ablation_t5": ("t = 5 without the correction", ["dts.delay=5", "dts.correction=false"]),
    "dts_t16": ("delayed update, t = 16", ["dts.delay=16"]),
    "ablation_t16": ("t = 16 without the correction", ["dts.delay=16", "dts.correction=false"]),
    "dts_t5_warm": ("t = 5 after a synchronous warm-up", ["dts.delay=5", WARMUP]),
    "sparse_p8_warm": (
        "p = 8 after a synchronous warm-up",
        ["dts.period=8", "dts.delay=0", WARMUP],
    ),
    "dts_t5_bf16": ("t = 5, gradients sent in bf16", ["dts.delay=5", "dts.compress=bf16"]),
    "sparse_p8_bf16": (
        "p = 8, deltas sent in bf16",
        ["dts.period=8", "dts.delay=0", "dts.compress=bf16"],
    ),
}
CIFAR_ARMS = ["ssgd", "dts_t5", "sparse_p8", "ablation_t5", "dts_t5_warm", "sparse_p8_warm"]
MNIST_ARMS = ["ssgd", "dts_t5", "sparse_p8", "both_p8_t5", "ablation_t5", "dts_t16", "ablation_t16"]
# The synchronous warm-up lasts as long as the learning-rate warm-up: 1 of MNIST's 5 epochs
# (57 of 285 steps), 0.3 of CIFAR-10's 3 epochs (178 of 1,776 steps), at the default batch.
LR_WARMUP_STEPS = {"mnist": 57, "cifar10": 178}
BATCH = {"mnist": 32, "cifar10": 8}  # images per process
EPOCHS = {"mnist": 5, "cifar10": 3}
LR = {"mnist": 0.05, "cifar10": 0.035}  # at 2 x BATCH images a step


def label(
    task: str, batch: int, lr_scale: float = 1.0, epochs: int | None = None, test: str = "last"
) -> str:
    """The results' name of a task at `batch` images per process, `lr_scale` times the
    recipe's learning rate and `epochs` epochs (None: the recipe's), testing the `last` weights
    or the `best` checkpoint."""
    name = task if batch == BATCH[task] else f"{task}/b{batch}"
    name = name if lr_scale == 1.0 else f"{name}/lr{lr_scale:g}x"
    name = name if epochs in (None, EPOCHS[task]) else f"{name}/e{epochs}"
    return name if test == "last" else f"{name}/best"


def scaled(task: str, batch: int, lr_scale: float = 1.0) -> tuple[float, int]:
    """Learning rate (linear in the global batch, times `lr_scale`) and synchronous warm-up steps
    (the same share of the run) at `batch` images per process."""
    lr = LR[task] * batch / BATCH[task] * lr_scale
    return lr, round(LR_WARMUP_STEPS[task] * BATCH[task] / batch)


def mnist_architecture(directory: Path) -> Path:
    """The proxyless_mnist space with k3e3 in every layer (no Zero): a small MNIST net."""
    space = load_space("proxyless_mnist", in_channels=1, input_size=28, num_classes=10)
    choice = [
        next(i for i, c in enumerate(layer.candidates) if c.name == "k3e3")
        for layer in space.layers
    ]
    path = directory / "mnist_k3e3.yaml"
    derive_architecture(space, choice, name="mnist_k3e3").save(path)
    return path


def task_overrides(
    task: str,
    workdir: Path,
    data: str,
    batch: int,
    lr_scale: float = 1.0,
    epochs: int | None = None,
) -> list[str]:
    """`train.py`'s overrides for the task's recipe; `epochs` lengthens or shortens its
    schedule (the cosine stretched over them; the warm-ups, set in epochs, keep their steps)."""
    lr = scaled(task, batch, lr_scale)[0]
    epochs = epochs or EPOCHS[task]
    if task == "mnist":  # REFERENCE B6's check: SGD lr 0.05, momentum 0.9, 5 epochs
        return [
            "dataset=mnist",
            f"arch={mnist_architecture(workdir)}",
            f"epochs={epochs}",
            f"optimizer.lr={lr:g}",
            f"dataset.batch_size={batch}",
            "module.ema=null",
            "module.label_smoothing=0",
        ]
    recipe = [
        o for o in CPU_RUN if not o.startswith(("dataset.batch_size", "optimizer.lr", "epochs"))
    ]
    return [
        "train_experiment=cifar10_fast",
        "arch=proxyless_mobile_cifar",
        f"dataset.data_dir={Path(data).resolve()}",
        *recipe,
        f"dataset.batch_size={batch}",
        f"optimizer.lr={lr:g}",
        f"epochs={epochs}",
    ]


def run_one(
    name: str,
    task: str,
    batch: int,
    arm: str,
    seed: int,
    base: list[str],
    out: Path,
    test: str = "last",
) -> dict:
    warmup_steps = scaled(task, batch)[1]
    overrides = [
        *base,
        f"test_checkpoint={test}",
        "trainer=ddp",
        "trainer.devices=2",
        "trainer.accelerator=cpu",
        "distributed=dts",
        *(o.format(lr_warmup_steps=warmup_steps) for o in ARMS[arm][1]),
        f"seed={seed}",
        "logger=csv",
        f"hydra.run.dir={out}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *overrides],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"{task} {arm} seed {seed} failed:\n{result.stderr[-3000:]}")
    summary = json.loads((out / "train_summary.json").read_text())
    spreads = [point["spread"] for point in summary["distributed"]["replica_spread"]]
    best = summary.get("best_checkpoint")
    return {
        "task": name,
        "arm": arm,
        "seed": seed,
        "test_acc": summary["test_acc"],
        "tested": summary["tested"],
        "best_checkpoint": Path(best).name if best else None,
        "train_time_s": summary["train_time_s"],
        "steps": summary["distributed"]["steps"],
        "replica_spread": statistics.fmean(spreads) if spreads else None,
        "last_epoch_train_loss": last_epoch_train_loss(out),
    }


def run_sweep(
    pending: list[tuple[int, str]],
    run: Callable[[int, str], dict],
    jobs: int,
    record: Callable[[dict], None],
) -> None:
    """`run(seed, arm)` for every pending pair, `jobs` at a time, in the order given; `record`
    gets each result as it finishes. A failed run starts no further ones: the runs already
    going finish and are recorded, then its error is raised."""
    failure: BaseException | None = None
    waiting = list(pending)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        going: set[Future] = set()
        while going or (waiting and failure is None):
            while waiting and failure is None and len(going) < jobs:
                going.add(pool.submit(run, *waiting.pop(0)))
            done, going = wait(going, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    record(future.result())
                except BaseException as err:  # run_one's SystemExit names the run
                    failure = failure or err
    if failure is not None:
        raise failure


def last_epoch_train_loss(out: Path) -> float | None:
    """Mean of the logged `train/loss` (rank 0's batches) over the run's last epoch: less noisy
    than one test accuracy, and it shows whether an arm optimised more slowly."""
    losses: dict[int, list[float]] = {}
    for path in sorted(out.glob("csv/version_*/metrics.csv")):
        with path.open(newline="") as file:
            for row in csv.DictReader(file):
                if row.get("train/loss"):
                    losses.setdefault(int(row["epoch"]), []).append(float(row["train/loss"]))
    return statistics.fmean(losses[max(losses)]) if losses else None


def table(results: list[dict], task: str, arms: list[str]) -> str:
    """One row per arm: accuracies by seed, mean, spread, how far the replicas had drifted
    apart at the sync points (`dts/replica_spread`, mean over the runs that recorded it), the
    mean training loss of the last epoch (over the runs that recorded it), the difference of
    the means to SSGD, and the same-seed differences to SSGD (mean with its
    standard error over the seeds both ran: a run's own noise is shared by neither, but the
    seed's data order and initial weights are)."""
    by_arm: dict[str, dict[int, float]] = {}
    spreads: dict[str, list[float]] = {}
    losses: dict[str, list[float]] = {}
    for r in results:
        if r["task"] == task:
            by_arm.setdefault(r["arm"], {})[r["seed"]] = r["test_acc"]
            if r.get("replica_spread") is not None:
                spreads.setdefault(r["arm"], []).append(r["replica_spread"])
            if r.get("last_epoch_train_loss") is not None:
                losses.setdefault(r["arm"], []).append(r["last_epoch_train_loss"])
    ssgd = by_arm.get("ssgd", {})
    rows = []
    for arm in arms:
        accs = by_arm.get(arm)
        if not accs:
            continue
        values = [accs[seed] for seed in sorted(accs)]
        mean = statistics.fmean(values)
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        delta = f"{(mean - statistics.fmean(ssgd.values())) * 100:+.2f}" if ssgd else "-"
        rows.append(
            [
                arm,
                ARMS[arm][0],
                " ".join(f"{accs[s]:.2%} ({s})" for s in sorted(accs)),
                f"{mean:.2%}",
                f"{spread * 100:.2f}",
                f"{statistics.fmean(spreads[arm]):.2g}" if arm in spreads else "-",
                f"{statistics.fmean(losses[arm]):.3f}" if arm in losses else "-",
                delta,
                paired_difference(accs, ssgd) if arm != "ssgd" else "-",
            ]
        )
    return markdown_table(
        [
            "arm",
            "update",
            "test top-1 (seed)",
            "mean",
            "std (points)",
            "replica drift",
            "train loss, last epoch",
            "mean - SSGD (points)",
            "same seed - SSGD (points)",
        ],
        rows,
    )


def paired_difference(accs: dict[int, float], ssgd: dict[int, float]) -> str:
    """Mean same-seed difference to SSGD in points, +- its standard error, and the seed count."""
    diffs = [(accs[s] - ssgd[s]) * 100 for s in sorted(accs.keys() & ssgd.keys())]
    if len(diffs) < 2:
        return f"{diffs[0]:+.2f} (1 seed)" if diffs else "-"
    error = statistics.stdev(diffs) / len(diffs) ** 0.5
    return f"{statistics.fmean(diffs):+.2f} +- {error:.2f} ({len(diffs)} seeds)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["mnist", "cifar10"], default="mnist")
    parser.add_argument("--arms", nargs="+", default=None, choices=list(ARMS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch", type=int, default=None, help="images per process")
    parser.add_argument(
        "--lr-scale", type=float, default=1.0, help="times the recipe's learning rate, in every arm"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="the schedule's length (default: the recipe's, 5 on MNIST, 3 on CIFAR-10)",
    )
    parser.add_argument(
        "--test",
        choices=["last", "best"],
        default="last",
        help="test the final weights, or the checkpoint with the best val/acc",
    )
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/cifar10-jpeg.zip"))
    parser.add_argument("--results", type=Path, default=None, help="JSON file to accumulate in")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (each takes 2 cores)")
    args = parser.parse_args()
    arms = args.arms or (CIFAR_ARMS if args.task == "cifar10" else MNIST_ARMS)
    if args.quick:
        arms, args.seeds = ["ssgd", "dts_t5"], [0]
    batch = args.batch or BATCH[args.task]
    if not args.lr_scale > 0:
        parser.error(f"--lr-scale must be positive, got {args.lr_scale}")
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if args.jobs > 1:
        os.environ.pop("MASTER_PORT", None)  # each train.py picks a free port of its own
        if 2 * args.jobs > (os.cpu_count() or 1):
            print(
                f"note: --jobs {args.jobs} runs {2 * args.jobs} processes on {os.cpu_count()} "
                "cores; they will share them (slower, the same results)",
                flush=True,
            )
    name = label(args.task, batch, args.lr_scale, args.epochs, args.test)
    results_path = args.results or Path(tempfile.mkdtemp()) / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else []
    with tempfile.TemporaryDirectory(prefix="hwnas-dts-acc-") as tmp:
        work = Path(tmp)
        base = task_overrides(args.task, work, args.data, batch, args.lr_scale, args.epochs)
        if args.quick:
            base += ["epochs=1", "trainer.limit_train_batches=8", "trainer.limit_val_batches=2"]
        pending = [
            (seed, arm)
            for seed in args.seeds
            for arm in arms
            if not any(r["task"] == name and r["arm"] == arm and r["seed"] == seed for r in results)
        ]

        def run(seed: int, arm: str) -> dict:
            out = work / f"{arm}_{seed}"
            return run_one(name, args.task, batch, arm, seed, base, out, args.test)

        def record(result: dict) -> None:
            results.append(result)
            if not args.quick:
                write_json(results_path, results, indent=1)  # whole or not at all
            print(
                f"{name} {result['arm']} seed {result['seed']}: {result['test_acc']:.2%}",
                flush=True,
            )

        run_sweep(pending, run, args.jobs, record)
    tested = "the final weights" if args.test == "last" else "the best checkpoint"
    print(
        f"\n#### {name}: test top-1 of {tested}, 2 processes x {batch} images, "
        f"lr {scaled(args.task, batch, args.lr_scale)[0]:g}, "
        f"{1 if args.quick else args.epochs or EPOCHS[args.task]} epochs, seeds {args.seeds}\n"
    )
    print(table(results, name, arms))
    print("\n" + machine_line(torch.device("cpu"), 1) + "; 2 processes (gloo), 1 thread each")
    print(f"results: {results_path}")


if __name__ == "__main__":
    main()
