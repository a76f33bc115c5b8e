"""Calibrated latency against eval.py: is the latency a search reports for its derived net
within 10% of what `eval.py` measures for it?

For one hardware and space, each repeat builds the table from scratch with its calibration
(`hardware.cost_model.calibration_networks` random networks timed with the ops, the fit stored
with the table), then takes N other random architectures (seed 1, stratified over the space's
latency range, none of them a calibration network) and compares, for each, the latency a search
reports for it (the calibrated table sum: `summary.json`'s `derived_cost`) with eval.py's
measurement (`hwnas.evaluation.latency_summary`, what `python eval.py hardware=cpu` calls: the
network timed end to end on its own). No refit anywhere: the calibration is the stored one.
The last column measures every judged net with eval.py a second time and compares the two
measurements: the spread of the measurement itself, which no prediction can beat.

    python benchmarks/latency_calibration.py                          # cpu, proxyless_imagenet
    python benchmarks/latency_calibration.py --hardware onnxruntime --repeats 1
    python benchmarks/latency_calibration.py --quick                  # tiny space, a check
    python benchmarks/latency_calibration.py --json nets.json hardware.cost_model.profiler.min_span=20
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from common import machine_line, markdown_table
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from hwnas.architecture.derive import derive_architecture
from hwnas.architecture.timm_model import build_timm_model
from hwnas.cost.from_config import build_cost_model
from hwnas.cost.model import ExpectedCost
from hwnas.cost.sample_networks import sample_architectures
from hwnas.cost.statistics import Agreement
from hwnas.evaluation import latency_summary

CONF = str(Path(__file__).resolve().parents[1] / "conf")
SHAPES = {
    "proxyless_imagenet": (3, 224, 1000),
    "proxyless_cifar": (3, 32, 10),
    "proxyless_mnist": (1, 28, 10),
    "tiny": (3, 16, 4),
}


def judged_architectures(space, n: int, calibration_networks: int) -> list[list[int]]:
    """`n` stratified architectures (seed 1) that are not among the calibration networks."""
    fitted = {tuple(a) for a in sample_architectures(space, calibration_networks)}
    pool = sample_architectures(space, n + len(fitted), seed=1)
    return [a for a in pool if tuple(a) not in fitted][:n]


def run_once(args: argparse.Namespace, cache: Path) -> tuple[list[str], float, list[dict]]:
    channels, size, classes = SHAPES[args.space]
    overrides = [
        f"hardware={args.hardware}",
        f"search_space={args.space}",
        f"input.channels={channels}",
        f"input.size={size}",
        f"input.classes={classes}",
        f"paths.cache_dir={cache}",
        "hardware.cost_model.rebuild=true",
        "hardware.cost_model.progress=false",
        *args.overrides,
    ]
    if args.quick:
        overrides += [
            "hardware.cost_model.profiler.min_run_time=0.05",
            "++hardware.cost_model.profiler.min_span=0",
            "hardware.cost_model.calibration_networks=4",
        ]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="latency", overrides=overrides)
    space = instantiate(
        cfg.search_space, in_channels=channels, input_size=size, num_classes=classes
    )
    start = time.perf_counter()
    model = build_cost_model(cfg.hardware, space, cache)  # the search's model, calibrated
    build_s = time.perf_counter() - start
    table = model.table
    if table.calibration is None:
        raise SystemExit(f"the table was built without a calibration: {table.calibration_text()}")
    hardware = cfg.hardware.copy()
    hardware.cost_model.rebuild = False
    reported_by_search = ExpectedCost(model, space)
    judged = judged_architectures(
        space, args.networks, cfg.hardware.cost_model.calibration_networks
    )
    raw_sums, reported, measured, again = [], [], [], []
    for choice in judged:
        arch = derive_architecture(space, choice)
        figures = latency_summary(hardware, arch, build_timm_model(arch).eval(), cache)
        search_figure = reported_by_search.of_paths(choice)
        if abs(figures["predicted"] - search_figure) > 1e-6 * search_figure:
            raise SystemExit(
                f"eval.py predicts {figures['predicted']} ms where the search reports "
                f"{search_figure} ms for {choice}: they must use one table"
            )
        raw_sums.append(figures["table_sum"])
        reported.append(search_figure)
        measured.append(figures["measured"])
    for choice in judged:
        arch = derive_architecture(space, choice)  # eval.py once more: the measurement's own spread
        again.append(
            latency_summary(hardware, arch, build_timm_model(arch).eval(), cache)["measured"]
        )
    nets = [
        {"arch": choice, "raw_sum_ms": r, "reported_ms": p, "measured_ms": m, "again_ms": a}
        for choice, r, p, m, a in zip(judged, raw_sums, reported, measured, again, strict=True)
    ]
    raw, cal = Agreement.of(raw_sums, measured), Agreement.of(reported, measured)
    floor = Agreement.of(again, measured)
    worst = max(abs(r - m) / m for r, m in zip(reported, measured, strict=True))
    c = table.calibration
    row = [
        f"{build_s:.0f}",
        f"{c.intercept_ms:.2f} + {c.slope:.3f}x ({c.networks} nets)",
        f"{min(measured):.1f}-{max(measured):.1f}",
        f"{raw.mean_abs_pct_error:.1f}%",
        f"{100 * raw.within_10pct:.0f}%",
        f"{cal.mean_abs_pct_error:.1f}%",
        f"{100 * cal.within_5pct:.0f}%",
        f"{100 * cal.within_10pct:.0f}%",
        f"{100 * worst:.1f}%",
        f"{cal.kendall_tau:.3f}",
        f"{floor.mean_abs_pct_error:.1f}% / {100 * floor.within_10pct:.0f}%",
    ]
    return row, cal.within_10pct, nets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hardware", default="cpu", choices=["cpu", "onnxruntime", "gpu"])
    parser.add_argument("--space", default="proxyless_imagenet", choices=list(SHAPES))
    parser.add_argument("--networks", type=int, default=40, help="judged architectures")
    parser.add_argument("--repeats", type=int, default=3, help="each with a fresh table")
    parser.add_argument("--quick", action="store_true", help="tiny space, 8 nets, short timings")
    parser.add_argument("--json", type=Path, help="write every judged net's figures here")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/latency.yaml")
    args = parser.parse_args()
    if args.quick:
        args.space, args.networks, args.repeats = "tiny", 8, 1
    rows, shares, per_net = [], [], []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="hwnas-bench-") as tmp:
            row, share, nets = run_once(args, Path(tmp))
        rows.append([str(repeat + 1), *row])
        shares.append(share)
        per_net.append(nets)
        if args.json:
            args.json.write_text(json.dumps(per_net, indent=1))
        print(f"  repeat {repeat + 1}: {row}", flush=True)
    header = [
        "repeat",
        "build s",
        "calibration (stored, ms)",
        "measured ms",
        "raw sum err",
        "raw within 10%",
        "calibrated err",
        "within 5%",
        "within 10%",
        "worst",
        "Kendall tau",
        "eval.py again: err / within 10%",
    ]
    print(
        f"\n#### {args.hardware} / {args.space}: reported (calibrated) latency of "
        f"{args.networks} random nets against eval.py's measurement, no refit\n"
    )
    if args.overrides:
        print(f"Overrides: {' '.join(args.overrides)}\n")
    print(markdown_table(header, rows))
    print(
        f"\nmedian share within 10% over {args.repeats} repeats: "
        f"{100 * statistics.median(shares):.0f}% (target: at least 95%)"
    )
    device = torch.device("cuda" if args.hardware == "gpu" else "cpu")
    print(machine_line(device, 1))


if __name__ == "__main__":
    main()
