"""Throughput of DTS against latency (the talk's slide "Scalability degrades quickly with
latency"), measured on 2 processes x 1 thread over the emulated link, beside REFERENCE B3's model
and a virtual-clock simulator fed by the measured compute times, which then goes to N = 8, 64
and 256 workers.

Arms (all `train.py distributed=dts`, one code path): ssgd (delay 0, period 1), delay
(`dts.delay=auto`), sparse (period p, delay 0) and both (period p, `dts.delay=auto`). Each fit
trains `proxyless_mobile_cifar` on synthetic 32x32 images at a batch that gives about 0.2 s of
compute per step, the talk's c. Rounds interleave every latency and arm; the tables give
medians over rounds. Normalised throughput = T(0) / T(L), T the mean step time of the kept
steps, each arm against itself at L = 0.

    python benchmarks/wan_scaling.py                 # 0, 1, 10, 100, 500, 1000 ms; 5 rounds
    python benchmarks/wan_scaling.py --quick         # a check that it runs; not a measurement
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

import numpy as np
import torch
from common import machine_line, markdown_table
from link_simulation import LinkModel, bootstrap_compute, simulate, tuned_delay

WORKER = Path(__file__).with_name("wan_worker.py")
ARMS = ["ssgd", "delay", "sparse", "both"]
REAL_LINK_ARMS = [*ARMS, "delay_bf16"]  # and the compressed exchange, for --link real


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
        "--batch",
        str(args.batch),
        "--steps",
        str(args.steps),
        "--period",
        str(args.period),
        "--warmup",
        str(args.warmup),
        "--arch",
        args.arch,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"the measurement failed:\n{result.stderr[-4000:]}")
    records = []
    for path in sorted(out.glob("steps.rank*.jsonl")):
        records += [json.loads(line) for line in path.read_text().splitlines()]
    return records


def mean_step(record: dict) -> float:
    return statistics.fmean(record["step_s"])


def mean_wait(record: dict) -> float:
    return statistics.fmean(record["wait_s"])


def summarise(records: list[dict], args: argparse.Namespace) -> list[dict]:
    """One row per (latency, arm), from rank 0's fits, medians over rounds.

    - measured: T(0) / T(L) per round, T the mean step time.
    - at equal compute: (c + w(0)) / (c + w(L)), with c the arm's median compute per step over
      all its fits and w a fit's exposed wait per step: what the exchange costs with the
      compute speed held fixed (this shared machine's compute speed drifts between fits).
    - model (B3): c' / (c' + L) for synchronous SGD, c' / (c' + L / p) sparse, flat while
      L <= t c' delayed, from the virtual clock with a constant c' = c + w(0), the step at zero
      latency (the slide's c).
    - simulator: the virtual clock at N = 2 fed by the compute times measured in these very
      fits (both ranks), so that its step time checks the link model and the update rule.
    """
    by = defaultdict(list)
    for r in records:
        by[(r["latency_ms"], r["arm"], r["rank"])].append(r)
    compute = defaultdict(list)  # per arm, and per (arm, latency): compute of every kept step
    for r in records:
        steps = [s - w for s, w in zip(r["step_s"], r["wait_s"], strict=True)]
        compute[r["arm"]] += steps
        compute[(r["arm"], r["latency_ms"])] += steps
    rows = []
    for arm in ARMS:
        period = args.period if arm in ("sparse", "both") else 1
        zero = {r["round"]: r for r in by[(0.0, arm, 0)]}
        c = statistics.median(compute[arm])
        wait0 = statistics.median(mean_wait(r) for r in zero.values())
        for latency in args.latencies:
            fits = by[(latency, arm, 0)]
            normalised = [mean_step(zero[r["round"]]) / mean_step(r) for r in fits]
            delay = statistics.median_low([r["delay"] for r in fits])
            link = LinkModel(latency / 1e3)
            wait = statistics.median(mean_wait(r) for r in fits)
            model = (c + wait0) / simulate(np.full((2, 400), c + wait0), link, delay, period).step_s
            samples = np.asarray(compute[(arm, latency)])
            sim = simulate(bootstrap_compute(samples, 2, 2000), link, delay, period).step_s
            rows.append(
                {
                    "latency_ms": latency,
                    "arm": arm,
                    "delay": delay,
                    "period": period,
                    "step_ms": statistics.median(mean_step(r) for r in fits) * 1e3,
                    "compute_ms": statistics.median(mean_step(r) - mean_wait(r) for r in fits)
                    * 1e3,
                    "wait_ms": wait * 1e3,
                    "normalised": statistics.median(normalised),
                    "equal_compute": (c + wait0) / (c + wait),
                    "model": model,
                    "simulated_step_ms": sim * 1e3,
                    "per_round": normalised,
                }
            )
    return rows


def scaling_rows(records: list[dict], args: argparse.Namespace) -> list[list]:
    """Normalised throughput of each arm for N workers, simulated with compute times drawn
    from the measured synchronous steps; delay as `dts.delay=auto` would pick it."""
    samples = np.asarray(
        [
            s - w
            for r in records
            if r["arm"] == "ssgd"
            for s, w in zip(r["step_s"], r["wait_s"], strict=True)
        ]
    )
    table = []
    for latency in args.latencies:
        for arm in ARMS:
            period = args.period if arm in ("sparse", "both") else 1
            cells = [f"{latency:g}", arm]
            for workers in args.workers:
                compute = bootstrap_compute(samples, workers, args.sim_steps, seed=workers)
                link = LinkModel(latency / 1e3)
                delay = tuned_delay(compute, link, period) if arm in ("delay", "both") else 0
                base = simulate(
                    compute,
                    LinkModel(0.0),
                    0
                    if arm in ("ssgd", "sparse")
                    else tuned_delay(compute, LinkModel(0.0), period),
                    period,
                ).step_s
                cells.append(
                    f"{base / simulate(compute, link, delay, period).step_s:.2f} (t={delay})"
                )
            table.append(cells)
    return table


def targets(rows: list[dict]) -> str:
    """The scaling targets of benchmarks/README.md, judged at equal compute (the raw figure
    beside it in the table)."""
    far = [r for r in rows if r["arm"] in ("ssgd", "sparse") and r["latency_ms"] >= 10]
    worst = max(far, key=lambda r: abs(r["equal_compute"] / r["model"] - 1))
    dts = [r for r in rows if r["arm"] in ("delay", "both")]
    low = min(dts, key=lambda r: r["equal_compute"])
    low_raw = min(dts, key=lambda r: r["normalised"])
    sim = max(rows, key=lambda r: abs(r["simulated_step_ms"] / r["step_ms"] - 1))
    return (
        f"- SSGD and sparse within 10% of the model for L >= 10 ms: worst {worst['arm']} at "
        f"{worst['latency_ms']:g} ms, {worst['equal_compute']:.2f} against {worst['model']:.2f} "
        f"({worst['equal_compute'] / worst['model'] - 1:+.0%})\n"
        f"- DTS (delay, both) >= 0.9 at every L: lowest {low['equal_compute']:.2f} at equal compute "
        f"({low['arm']}, {low['latency_ms']:g} ms); lowest raw {low_raw['normalised']:.2f} "
        f"({low_raw['arm']}, {low_raw['latency_ms']:g} ms)\n"
        f"- simulator at N = 2 within 10% of the measured step: worst {sim['arm']} at "
        f"{sim['latency_ms']:g} ms, {sim['simulated_step_ms'] / sim['step_ms'] - 1:+.0%}"
    )


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for arm, colour in zip(ARMS, ["C3", "C0", "C2", "C1"], strict=True):
        mine = [r for r in rows if r["arm"] == arm]
        x = [max(r["latency_ms"], 1e-3) for r in mine]  # L = 0 drawn at 1 us, as the slide
        ax.plot(x, [r["equal_compute"] for r in mine], "o-", color=colour, label=arm)
        ax.plot(x, [r["normalised"] for r in mine], ":", color=colour, alpha=0.5)
        ax.plot(x, [r["model"] for r in mine], "--", color=colour, alpha=0.6)
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms; leftmost point: 0)")
    ax.set_ylabel("normalised throughput T(0) / T(L)")
    ax.set_ylim(0, max(1.1, max(r["normalised"] for r in rows) + 0.05))
    ax.set_title(
        "2 processes x 1 thread, emulated link\n(solid: measured at equal compute, dotted: raw, dashed: model)",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latencies", type=float, nargs="+", default=[0, 1, 10, 100, 500, 1000])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=3, help="per process (c about 0.2 s here)")
    parser.add_argument("--steps", type=int, default=32, help="kept steps per fit")
    parser.add_argument("--period", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3, help="exchanges before auto picks")
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 8, 64, 256])
    parser.add_argument("--sim-steps", type=int, default=800)
    parser.add_argument(
        "--plot", type=Path, default=Path(__file__).with_name("figures") / "wan_scaling.png"
    )
    parser.add_argument("--records", type=Path, help="reuse a previous run's records (JSON)")
    parser.add_argument("--port", type=int, default=29631)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--link",
        choices=["emulated", "real"],
        default="emulated",
        help="real: a delayed network of namespaces (delay_line.py, needs root); "
        "--latencies are then one-way delays",
    )
    parser.add_argument(
        "--arms",
        nargs="+",
        default=ARMS,
        choices=REAL_LINK_ARMS,
        help="delay_bf16 (gradients in bf16) with --link real only",
    )
    parser.add_argument("--bandwidth-mbps", type=float, help="the real link's limit per node")
    parser.add_argument("--arch", default="proxyless_mobile_cifar", help="the net trained")
    args = parser.parse_args()
    if args.quick:
        args.latencies, args.rounds, args.steps, args.period, args.warmup = [0, 50], 1, 8, 4, 2
        args.workers, args.sim_steps, args.batch = [2, 8], 200, 2
    if args.link == "emulated" and not set(args.arms) <= set(ARMS):
        parser.error("--arms delay_bf16 needs --link real")
    if args.link == "real":
        from wan_real_link import main as real_main

        real_main(args)
        return
    if args.records:
        records = json.loads(args.records.read_text())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            records = measure(args, Path(tmp))
    rows = summarise(records, args)
    print(
        f"#### Normalised throughput against latency: 2 processes x 1 thread, batch {args.batch}, "
        f"period {args.period} for sparse/both, {args.rounds} rounds\n"
    )
    print(
        markdown_table(
            [
                "L ms",
                "arm",
                "delay t",
                "step ms",
                "compute ms",
                "exposed wait ms/step",
                "T(0)/T(L) measured",
                "at equal compute",
                "model (B3)",
                "simulated step ms (N=2)",
                "simulated / measured step",
                "measured per round",
            ],
            [
                [
                    f"{r['latency_ms']:g}",
                    r["arm"],
                    r["delay"],
                    f"{r['step_ms']:.0f}",
                    f"{r['compute_ms']:.0f}",
                    f"{r['wait_ms']:.1f}",
                    f"{r['normalised']:.2f}",
                    f"{r['equal_compute']:.2f}",
                    f"{r['model']:.2f}",
                    f"{r['simulated_step_ms']:.0f}",
                    f"{r['simulated_step_ms'] / r['step_ms']:.2f}",
                    " ".join(f"{x:.2f}" for x in r["per_round"]),
                ]
                for r in rows
            ],
        )
    )
    print()
    print(targets(rows))
    print(
        "\n#### Simulated normalised throughput for N workers (compute drawn from the measured "
        "synchronous steps; t as dts.delay=auto picks it)\n"
    )
    print(
        markdown_table(
            ["L ms", "arm", *[f"N={n}" for n in args.workers]], scaling_rows(records, args)
        )
    )
    print()
    print(machine_line(torch.device("cpu"), 1) + "; 2 processes (gloo), 1 thread each")
    if args.plot and not args.quick:
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        plot(rows, args.plot)
        compact = [
            {
                **r,
                "step_s": [round(x, 5) for x in r["step_s"]],
                "wait_s": [round(x, 5) for x in r["wait_s"]],
            }
            for r in records
        ]
        args.plot.with_suffix(".json").write_text(json.dumps(compact, separators=(",", ":")))
        print(f"plot: {args.plot}; records: {args.plot.with_suffix('.json')}")


if __name__ == "__main__":
    main()
