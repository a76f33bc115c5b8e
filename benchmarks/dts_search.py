"""Latency hiding in the architecture search: `search.py distributed=dts` on 2 processes x 1
thread over the emulated link, synchronous (delay 0) against `dts.delay=auto`.

A search exchanges twice: the weights' gradients every step and the alphas' every
`arch_update.every` steps, so synchronous SGD pays the latency L about 1 + 1/every times a step.
Under DTS the weights' gradients arrive t steps late and the alphas' ceil(t / every) architecture
steps late, the alphas staying identical on every rank. Rounds interleave the latencies and arms;
the table gives medians over rounds of the mean step time and the link's exposed wait per step
(both exchanges), and the normalised throughput T(0) / T(L) of each arm against itself at L = 0,
beside the model: c / (c + L (1 + 1/every)) synchronous, 1 delayed while t c >= L, with c the
arm's step at L = 0.

    python benchmarks/dts_search.py               # 0, 100, 500 ms; 3 rounds
    python benchmarks/dts_search.py --quick       # a check that it runs; not a measurement
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import torch
from common import machine_line, markdown_table

WORKER = Path(__file__).with_name("dts_search_worker.py")
ARMS = ("ssgd", "delay")


def measure(args: argparse.Namespace, out: Path) -> list[dict]:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(args.port),
        str(WORKER),
        str(out),
        "--latencies",
        *map(str, args.latencies),
        "--rounds",
        str(args.rounds),
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--batch",
        str(args.batch),
        "--space",
        args.space,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"the measurement failed:\n{result.stderr[-4000:]}")
    records = []
    for rank in (0, 1):
        path = out / f"steps.rank{rank}.jsonl"
        records += [{"rank": rank, **json.loads(line)} for line in path.read_text().splitlines()]
    return records


def summarise(records: list[dict], latencies: list[float]) -> list[dict]:
    """One row per (latency, arm) from rank 0's fits, medians over rounds; checks that both
    ranks derived the same architecture in every fit."""
    by = defaultdict(list)
    for r in records:
        by[(r["latency_ms"], r["arm"], r["rank"])].append(r)
        twin = [
            o
            for o in records
            if o["rank"] != r["rank"]
            and o["round"] == r["round"]
            and o["latency_ms"] == r["latency_ms"]
            and o["arm"] == r["arm"]
        ]
        if twin and twin[0]["paths"] != r["paths"]:
            raise SystemExit(
                f"the ranks derived different architectures in {r['arm']} at "
                f"{r['latency_ms']:g} ms, round {r['round']}"
            )
    rows = []
    for arm in ARMS:
        zero = {r["round"]: statistics.fmean(r["step_s"]) for r in by[(0.0, arm, 0)]}
        c = statistics.median(zero.values())
        for latency in latencies:
            fits = by[(latency, arm, 0)]
            every = fits[0]["every"]
            steps = [statistics.fmean(r["step_s"]) for r in fits]
            normalised = [zero[r["round"]] / s for r, s in zip(fits, steps, strict=True)]
            delay = statistics.median_low(r["delay"] for r in fits)
            hidden = delay * c >= latency / 1e3
            model = 1.0 if arm == "delay" and hidden else c / (c + latency / 1e3 * (1 + 1 / every))
            rows.append(
                {
                    "latency_ms": latency,
                    "arm": arm,
                    "delay": delay,
                    "shared_delay": statistics.median_low(r["shared_delay"] for r in fits),
                    "step_ms": statistics.median(steps) * 1e3,
                    "wait_ms": statistics.median(statistics.fmean(r["wait_s"]) for r in fits) * 1e3,
                    "normalised": statistics.median(normalised),
                    "model": model,
                    "per_round": normalised,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latencies", type=float, nargs="+", default=[0.0, 100.0, 500.0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60, help="training batches per fit")
    parser.add_argument(
        "--warmup",
        type=int,
        default=15,
        help="first steps of each fit left out (the delay's tuning)",
    )
    parser.add_argument("--batch", type=int, default=48, help="images per process")
    parser.add_argument("--space", default="proxyless_cifar")
    parser.add_argument("--port", type=int, default=29571)
    parser.add_argument("--out", type=Path, default=None, help="keep the raw records here")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if 0.0 not in args.latencies:
        parser.error("--latencies must include 0 (each arm is normalised by its own L = 0)")
    if args.quick:
        args.latencies, args.rounds, args.steps, args.warmup, args.batch = [0.0, 50.0], 1, 16, 8, 8
    with tempfile.TemporaryDirectory() as tmp:
        records = measure(args, Path(tmp))
    if args.out:
        args.out.write_text(json.dumps(records))
    rows = summarise(records, args.latencies)
    print(
        f"#### Search under DTS: 2 processes x 1 thread, {args.space}, batch {args.batch} per "
        f"process, {args.steps - args.warmup} steps kept of {args.steps}, {args.rounds} rounds\n"
    )
    print(
        markdown_table(
            [
                "latency (ms)",
                "arm",
                "delay t (alphas)",
                "step (ms)",
                "exposed wait (ms/step)",
                "T(0) / T(L)",
                "model",
                "per round",
            ],
            [
                [
                    f"{r['latency_ms']:g}",
                    r["arm"],
                    f"{r['delay']} ({r['shared_delay']})",
                    f"{r['step_ms']:.0f}",
                    f"{r['wait_ms']:.1f}",
                    f"{r['normalised']:.2f}",
                    f"{r['model']:.2f}",
                    " ".join(f"{v:.2f}" for v in r["per_round"]),
                ]
                for r in rows
            ],
        )
    )
    print(
        f"\nEvery fit: both ranks derived the same architecture.\n{machine_line(torch.device('cpu'), 1)}"
        "; 2 processes (gloo), 1 thread each"
    )
    if args.quick:
        print("\n(--quick: a check that it runs, not a measurement)")


if __name__ == "__main__":
    main()
