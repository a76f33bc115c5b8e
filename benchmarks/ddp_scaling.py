"""DDP scaling on this machine: images/s of train.py and search.py with 1 and N processes.

Every process runs one intra-op thread, so N processes use N cores and 1 process uses one:
scaling efficiency = thr_N / (N x thr_1). A 1-process run with N threads is shown beside them
(the alternative use of the same cores). Runs alternate over several rounds; the table gives
medians. Synthetic 32x32 data, gloo on CPU; per-process batch fixed (weak scaling).

    python benchmarks/ddp_scaling.py                  # train + search, 1 and 2 processes
    python benchmarks/ddp_scaling.py --quick          # a check that it runs
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from common import machine_line, markdown_table

WORKER = Path(__file__).with_name("ddp_worker.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(task: str, devices: int, threads: int, args: argparse.Namespace, tmp: Path) -> float:
    out = Path(tempfile.mkdtemp(dir=tmp))
    opts = [
        task,
        str(out),
        "--devices",
        str(devices),
        "--threads",
        str(threads),
        "--batch",
        str(args.batch),
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
    ]
    cmd = [sys.executable, str(WORKER), *opts]
    if devices > 1:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            str(devices),
            "--master_port",
            str(_free_port()),
            str(WORKER),
            *opts,
        ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{task} with {devices} process(es) failed:\n{result.stderr[-3000:]}")
    return json.loads((out / "throughput.json").read_text())["images_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["train", "search"])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32, help="per process")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.warmup, args.rounds, args.batch = 2, 1, 1, 8
    n = args.processes
    configs = [(1, 1), (n, 1), (1, n)]  # (processes, threads each)
    rows = []
    with tempfile.TemporaryDirectory(prefix="hwnas-ddp-") as tmp:
        for task in args.tasks:
            samples: dict[tuple[int, int], list[float]] = {c: [] for c in configs}
            for _ in range(args.rounds):
                for c in configs:
                    samples[c].append(run(task, *c, args, Path(tmp)))
            med = {c: statistics.median(v) for c, v in samples.items()}
            base = med[(1, 1)]
            for (procs, threads), value in med.items():
                eff = value / (procs * base) if threads == 1 else None
                rows.append(
                    [
                        task,
                        procs,
                        threads,
                        f"{value:.1f}",
                        f"{value / base:.2f}x",
                        "-" if eff is None else f"{eff:.0%}",
                        " ".join(f"{v:.1f}" for v in samples[(procs, threads)]),
                    ]
                )
    print(
        f"\nDDP scaling (gloo, CPU): per-process batch {args.batch}, {args.steps} timed steps "
        f"after {args.warmup}, median of {args.rounds} rounds; train = proxyless_mobile_cifar, "
        "search = proxyless_cifar supernet (arch step every 5)\n"
    )
    header = [
        "task",
        "processes",
        "threads each",
        "images/s",
        "x 1 process",
        "efficiency",
        "per round",
    ]
    print(markdown_table(header, rows))
    print("\n" + machine_line(torch.device("cpu"), n))


if __name__ == "__main__":
    main()
