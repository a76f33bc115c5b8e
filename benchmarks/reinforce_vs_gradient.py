"""ProxylessNAS-G against ProxylessNAS-R on the default MNIST search (`python search.py`,
hardware=mobile): test accuracy of the argmax net (supernet weights, BatchNorm re-estimated),
its latency on the phone model, and the search time, over several seeds, the two variants
interleaved so that a change of the machine's load hits both alike.

    python benchmarks/reinforce_vs_gradient.py                 # 3 seeds each, ~15 minutes here
    python benchmarks/reinforce_vs_gradient.py --quick         # a check that it runs

Results accumulate in a JSON file (`--results`), so an interrupted comparison continues.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from common import machine_line, markdown_table

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {"gradient": "ProxylessNAS-G (full_v2)", "reinforce": "ProxylessNAS-R"}


def run_one(variant: str, seed: int, out: Path, quick: bool) -> dict:
    overrides = [f"arch_update={variant}", f"seed={seed}", "logger=csv", f"hydra.run.dir={out}"]
    if quick:
        overrides += [
            "epochs=2",
            "arch_update.warmup_epochs=1",
            "trainer.limit_train_batches=10",
            "trainer.limit_val_batches=2",
        ]
    result = subprocess.run(
        [sys.executable, str(ROOT / "search.py"), *overrides],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"{variant} seed {seed} failed:\n{result.stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    return {
        "variant": variant,
        "seed": seed,
        "test_acc": summary["test_acc"],
        "latency_ms": summary["derived_cost"],
        "unit": summary["cost_unit"],
        "search_time_s": summary["search_time_s"],
        "architecture": summary["architecture"],
    }


def table(results: list[dict]) -> str:
    rows = []
    gradient = [r["test_acc"] for r in results if r["variant"] == "gradient"]
    for variant, what in VARIANTS.items():
        mine = [r for r in results if r["variant"] == variant]
        if not mine:
            continue
        acc = [r["test_acc"] for r in mine]
        delta = (statistics.fmean(acc) - statistics.fmean(gradient)) * 100 if gradient else 0.0
        rows.append(
            [
                what,
                " ".join(f"{a:.2%}" for a in acc),
                f"{statistics.fmean(acc):.2%}",
                f"{delta:+.2f}",
                " ".join(f"{r['latency_ms']:.2f}" for r in mine),
                " ".join(f"{r['search_time_s']:.0f}" for r in mine),
                f"{statistics.median(r['search_time_s'] for r in mine):.0f}",
            ]
        )
    return markdown_table(
        [
            "variant",
            "test top-1 per seed",
            "mean",
            "mean - G (points)",
            "latency per seed (ms, phone)",
            "search s per seed",
            "median search s",
        ],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--results", type=Path, default=None, help="JSON file to accumulate in")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.seeds = [0]
    path = args.results or Path(tempfile.mkdtemp()) / "results.json"
    results = json.loads(path.read_text()) if path.exists() else []
    with tempfile.TemporaryDirectory(prefix="hwnas-g-vs-r-") as tmp:
        for seed in args.seeds:
            for variant in VARIANTS:
                if any(r["variant"] == variant and r["seed"] == seed for r in results):
                    continue
                results.append(run_one(variant, seed, Path(tmp) / f"{variant}_{seed}", args.quick))
                if not args.quick:
                    path.write_text(json.dumps(results, indent=1))
                r = results[-1]
                print(
                    f"{variant} seed {seed}: {r['test_acc']:.2%}, {r['latency_ms']:.2f} ms, "
                    f"{r['search_time_s']:.0f} s",
                    flush=True,
                )
    print(f"\n#### Default MNIST search, seeds {args.seeds}\n")
    print(table([r for r in results if r["seed"] in args.seeds]))
    print("\n" + machine_line(torch.device("cpu"), torch.get_num_threads()))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
