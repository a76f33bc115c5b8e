"""`wan_scaling.py --link real`: DTS throughput over a real delayed TCP link, beside the
emulator run at the latency the real link showed.

Each (round, one-way delay) builds a `delay_line.DelayLine` of two namespaces and starts one
torchrun node in each (one process, one thread), so gloo and the TCP store cross the link. The
worker also times a blocking all-reduce of the gradient's size over it: the collective latency
that synchronous SGD must pay. Then the emulator runs the same arms on loopback with
`wan.latency_ms` set to that measured latency, in the same number of rounds, so its step times
can be set beside the real ones.

    python benchmarks/wan_scaling.py --link real --latencies 0 25 100 250 --rounds 3
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

WORKER = Path(__file__).with_name("wan_worker.py")


def _node_command(
    line, node: int, out: Path, delay: float, round_: int, args: argparse.Namespace
) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "2",
        "--nproc_per_node",
        "1",
        "--node_rank",
        str(node),
        "--master_addr",
        line.address(0),
        "--master_port",
        str(args.port),
        str(WORKER),
        str(out),
        "--latencies",
        "0",
        "--real-delay-ms",
        str(delay),
        "--rounds",
        "1",
        "--round-offset",
        str(round_),
        "--batch",
        str(args.batch),
        "--steps",
        str(args.steps),
        "--period",
        str(args.period),
        "--warmup",
        str(args.warmup),
        "--arms",
        *args.arms,
        "--arch",
        args.arch,
    ]
    return line.command(node, cmd)


def measure_real(args: argparse.Namespace, out: Path) -> tuple[list[dict], list[dict]]:
    """The step records and all-reduce times of every round and one-way delay."""
    from delay_line import DelayLine

    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "hwtap"}
    for round_ in range(args.rounds):
        for delay in args.latencies:
            with DelayLine(delay, args.bandwidth_mbps) as line:
                procs = [
                    subprocess.Popen(
                        _node_command(line, node, out, delay, round_, args),
                        env=env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                    for node in (0, 1)
                ]
                outputs = [p.communicate() for p in procs]
            for node, (p, (_, err)) in enumerate(zip(procs, outputs, strict=True)):
                if p.returncode != 0:
                    raise SystemExit(f"node {node} failed at {delay:g} ms:\n{err[-4000:]}")
            print(f"real link: round {round_}, {delay:g} ms one way done", file=sys.stderr)
    return _read(out), [json.loads(p.read_text()) for p in sorted(out.glob("collective.*.json"))]


def measure_emulated(args: argparse.Namespace, out: Path, latencies_ms: list[float]) -> list[dict]:
    """The same arms on loopback, `wan.latency_ms` at each measured collective latency (and
    `wan.bandwidth_mbps` at the real link's limit)."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(args.port + 1),
        str(WORKER),
        str(out),
        "--latencies",
        *map(str, latencies_ms),
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
        "--arms",
        *args.arms,
        "--arch",
        args.arch,
    ]
    if args.bandwidth_mbps:
        cmd += ["--bandwidth-mbps", str(args.bandwidth_mbps)]
    result = subprocess.run(
        cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"the emulated run failed:\n{result.stderr[-4000:]}")
    return _read(out)


def _read(out: Path) -> list[dict]:
    records = []
    for path in sorted(out.glob("steps.rank*.jsonl")):
        records += [json.loads(line) for line in path.read_text().splitlines()]
    return records


def _mean(values: list[float]) -> float:
    return statistics.fmean(values)


def rows(
    real: list[dict], emulated: list[dict], collectives: list[dict], args: argparse.Namespace
) -> list[list[str]]:
    """One row per (delay, arm) from rank 0's fits, medians over rounds."""
    latency = _collective_ms(collectives)
    emulated_as = _collective_ms(collectives, "small_s" if args.bandwidth_mbps else "gradient_s")
    by = defaultdict(list)
    for r in real:
        by[("real", r["latency_ms"], r["arm"], r["rank"])].append(r)
    for r in emulated:
        by[("emulated", r["latency_ms"], r["arm"], r["rank"])].append(r)
    table = []
    for arm in args.arms:
        zero = {r["round"]: _mean(r["step_s"]) for r in by[("real", 0.0, arm, 0)]}
        for delay in args.latencies:
            fits = by[("real", float(delay), arm, 0)]
            emulated_fits = by[("emulated", round(emulated_as[delay], 3), arm, 0)]
            step = statistics.median(_mean(r["step_s"]) for r in fits)
            wait = statistics.median(_mean(r["wait_s"]) for r in fits)
            normalised = [zero[r["round"]] / _mean(r["step_s"]) for r in fits if r["round"] in zero]
            emulated_step = (
                statistics.median(_mean(r["step_s"]) for r in emulated_fits)
                if emulated_fits
                else float("nan")
            )
            table.append(
                [
                    f"{delay:g}",
                    arm,
                    str(statistics.median_low(r["delay"] for r in fits)),
                    f"{latency[delay]:.1f}",
                    _kilobytes([r.get("bytes_per_message") for r in fits]),
                    f"{step * 1e3:.0f}",
                    f"{wait * 1e3:.1f}",
                    f"{statistics.median(r['fit_s'] for r in fits):.1f}",
                    f"{statistics.median(normalised):.2f}",
                    " ".join(f"{x:.2f}" for x in normalised),
                    f"{emulated_step * 1e3:.0f}",
                    f"{emulated_step / step:.2f}",
                ]
            )
    return table


def _kilobytes(per_message: list[float | None]) -> str:
    known = [b for b in per_message if b is not None]
    return f"{statistics.median(known) / 1e3:.1f}" if known else "not recorded"


def _collective_ms(collectives: list[dict], key: str = "gradient_s") -> dict[float, float]:
    """Median blocking all-reduce (`gradient_s`: of the gradient's size, `small_s`: 4 bytes)
    per one-way delay, in ms (rounded to a microsecond: the emulated runs are labelled with
    it)."""
    per = defaultdict(list)
    for c in collectives:
        per[c["delay_ms"]].append(c[key] * 1e3)
    return {d: round(statistics.median(v), 3) for d, v in per.items()}


def plot(
    real: list[dict],
    emulated: list[dict],
    collectives: list[dict],
    args: argparse.Namespace,
    path: Path,
) -> None:
    """The talk's curve over the real link: each arm's T(0)/T(d) against the one-way delay,
    real (solid) and emulated at the latency the real link showed (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    emulated_as = _collective_ms(collectives, "small_s" if args.bandwidth_mbps else "gradient_s")
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, arm in enumerate(args.arms):
        for kind, records, style in (("real", real, "o-"), ("emulated", emulated, "s--")):
            step = {
                (r["latency_ms"], r["round"]): _mean(r["step_s"])
                for r in records
                if r["arm"] == arm and r["rank"] == 0
            }
            label = {d: d if kind == "real" else round(emulated_as[d], 3) for d in args.latencies}
            zero = float(label[args.latencies[0]])
            x = [max(d, 1.0) for d in args.latencies]  # 0 ms drawn at 1 ms
            y = [
                statistics.median(
                    step[(zero, k)] / step[(float(label[d]), k)]
                    for (at, k) in step
                    if at == float(label[d])
                )
                for d in args.latencies
            ]  # the median over rounds, as in the table
            ax.plot(
                x,
                y,
                style,
                color=f"C{i}",
                alpha=1.0 if kind == "real" else 0.5,
                label=f"{arm} ({kind})",
            )
    ax.set_xscale("log")
    ax.set_xlabel("one-way delay (ms; leftmost point: 0)")
    ax.set_ylabel("normalised throughput T(0) / T(d)")
    ax.set_ylim(0, 1.15)
    limit = f"{args.bandwidth_mbps:g} Mb/s" if args.bandwidth_mbps else "no bandwidth limit"
    ax.set_title(
        f"2 namespaces x 1 process, gloo over a real delayed TCP link, {limit}", fontsize=9
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(args: argparse.Namespace) -> None:
    if args.records:  # the tables (and the figure) again from a run's records
        saved = json.loads(args.records.read_text())
        real, emulated, collectives = saved["real"], saved["emulated"], saved["collectives"]
    else:
        with tempfile.TemporaryDirectory() as tmp:
            real, collectives = measure_real(args, Path(tmp) / "real")
        # The emulator's L: the gradient's all-reduce over the link; with a bandwidth limit,
        # the 4-byte one, the emulator adding the transfer at that limit itself.
        latency = _collective_ms(collectives, "small_s" if args.bandwidth_mbps else "gradient_s")
        with tempfile.TemporaryDirectory() as tmp:
            emulated = measure_emulated(args, Path(tmp), [latency[d] for d in args.latencies])
    bandwidth = f"{args.bandwidth_mbps:g} Mb/s" if args.bandwidth_mbps else "no bandwidth limit"
    print(
        f"#### DTS over a real delayed link: 2 namespaces x 1 process x 1 thread, gloo over TCP, "
        f"{bandwidth}, {args.arch} at batch {args.batch}, period {args.period} for sparse/both, "
        f"{args.rounds} rounds\n"
    )
    print(
        markdown_table(
            [
                "one-way delay ms",
                "arm",
                "delay t",
                "all-reduce ms (gradient, real)",
                "kB per message (mean, the sync point too)",
                "step ms",
                "exposed wait ms/step",
                "whole fit s",
                "T(0)/T(d)",
                "per round",
                "emulated step ms (L = 4-byte all-reduce, B = the limit)"
                if args.bandwidth_mbps
                else "emulated step ms (L = that all-reduce)",
                "emulated / real step",
            ],
            rows(real, emulated, collectives, args),
        )
    )
    small = defaultdict(list)
    for c in collectives:
        small[c["delay_ms"]].append(c["small_s"] * 1e3)
    print(
        "\n4-byte all-reduce over the link (ms): "
        + ", ".join(
            f"{d:g} ms one way: {statistics.median(v):.1f}" for d, v in sorted(small.items())
        )
    )
    print(f"gradient: {collectives[0]['gradient_bytes'] / 1e3:,.1f} kB per exchange")
    print()
    print(machine_line(torch.device("cpu"), 1) + "; 2 processes (gloo), 1 thread each")
    if not args.quick:
        limit = f"_{args.bandwidth_mbps:g}mbps" if args.bandwidth_mbps else ""
        limit += "_" + "_".join(args.arms)  # one file per set of arms
        figures = Path(__file__).with_name("figures")
        if not args.records:
            saved = figures / f"wan_real_link{limit}.json"
            saved.write_text(
                json.dumps(
                    {"real": real, "emulated": emulated, "collectives": collectives},
                    separators=(",", ":"),
                )
            )
            print(f"records: {saved}")
        plot(real, emulated, collectives, args, figures / f"wan_real_link{limit}.png")
        print(f"figure: {figures / f'wan_real_link{limit}.png'}")
