"""Latency tables: build time on this machine and validation against end-to-end latency.

For each hardware (profiler) and search space: build the table from scratch (timed), then
measure N random architectures end to end and compare with the table's sum (see
`hwnas.cost.validation`; by default the table's ops are measured again in the same rounds
as the networks, as `python -m hwnas.cost validate` does). Prints one Markdown table.

    python benchmarks/latency_tables.py                       # cpu + onnxruntime, 2 spaces
    python benchmarks/latency_tables.py --hardware gpu        # on a CUDA machine (batch 8)
    python benchmarks/latency_tables.py --sampling uniform --quick
    python benchmarks/latency_tables.py --rows-json rows.json # and every network's figures
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from common import machine_line, markdown_table
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from hwnas.cost.from_config import build_cost_model
from hwnas.cost.op_shapes import space_ops
from hwnas.cost.validation import validate_latency

CONF = str(Path(__file__).resolve().parents[1] / "conf")
SHAPES = {
    "proxyless_imagenet": (3, 224, 1000),
    "proxyless_cifar": (3, 32, 10),
    "proxyless_mnist": (1, 28, 10),
    "tiny": (3, 16, 4),
}


def run_one(
    hardware: str, space_name: str, args: argparse.Namespace, cache: Path, reports: dict
) -> list[str]:
    channels, size, classes = SHAPES[space_name]
    overrides = [
        f"hardware={hardware}",
        f"search_space={space_name}",
        f"input.channels={channels}",
        f"input.size={size}",
        f"input.classes={classes}",
        f"paths.cache_dir={cache}",
        f"paths.output_dir={cache}",
        "hardware.cost_model.rebuild=true",
        "hardware.cost_model.progress=false",
    ]
    if args.quick:
        overrides += [
            "hardware.cost_model.profiler.min_run_time=0.1",  # a check: no 20-s span
            "++hardware.cost_model.profiler.min_span=0",
        ]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="latency", overrides=overrides)
    space = instantiate(
        cfg.search_space, in_channels=channels, input_size=size, num_classes=classes
    )
    start = time.perf_counter()
    model = build_cost_model(cfg.hardware, space, cache)
    build_s = time.perf_counter() - start
    profiler = instantiate(cfg.hardware.cost_model.profiler)
    r = validate_latency(
        None if args.remeasure else model,
        profiler,
        space,
        args.num_archs,
        0.5,
        args.seed,
        args.sampling,
        progress=False,
        cache_dir=cache,
    )
    print(f"  {hardware} / {space_name}: {r.hardware}", flush=True)
    reports[f"{hardware}/{space_name}"] = r.to_dict() | {"build_s": build_s}
    return [
        hardware,
        space_name,
        str(len(space_ops(space))),
        f"{build_s:.0f}",
        f"{r.fit_n}/{r.n - r.fit_n}",
        f"{r.raw.mean_abs_pct_error:.1f}%",
        f"{r.corrected.mean_abs_pct_error:.1f}%",
        f"{100 * r.corrected.within_5pct:.0f}%",
        f"{100 * r.corrected.within_10pct:.0f}%",
        f"{r.raw.kendall_tau:.3f}",
        f"{r.macs_kendall_tau:.3f}",
        f"{r.intercept_ms:.2f} + {r.slope:.3f}x",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hardware", nargs="+", default=["cpu", "onnxruntime"])
    parser.add_argument("--spaces", nargs="+", default=["proxyless_imagenet", "proxyless_cifar"])
    parser.add_argument("--num-archs", type=int, default=50)
    parser.add_argument("--sampling", default="stratified", choices=["stratified", "uniform"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cached-table",
        dest="remeasure",
        action="store_false",
        help="validate the table built first instead of measuring its ops again "
        "in the same rounds as the networks",
    )
    parser.add_argument("--quick", action="store_true", help="tiny space, 8 nets, short timings")
    parser.add_argument(
        "--rows-json",
        type=Path,
        default=None,
        help="write each validation (its fit, and every network's predicted and "
        "measured latency) to this JSON file, after each table",
    )
    args = parser.parse_args()
    if args.quick:
        args.spaces, args.num_archs = ["tiny"], 8
    rows, reports = [], {}
    with tempfile.TemporaryDirectory(prefix="hwnas-bench-") as tmp:
        for hardware in args.hardware:
            for space_name in args.spaces:
                rows.append(run_one(hardware, space_name, args, Path(tmp), reports))
                if args.rows_json:  # at once: a later table that runs out of time keeps these
                    args.rows_json.write_text(json.dumps(reports, indent=1))
    header = [
        "hardware",
        "space",
        "ops",
        "build s",
        "fit/judged",
        "table err",
        "corrected err",
        "within 5%",
        "within 10%",
        "Kendall tau",
        "MACs tau",
        "correction (ms)",
    ]
    print(
        f"\nLatency tables: built from scratch, then {args.num_archs} {args.sampling} "
        "architectures measured end to end (errors and taus on the judged half)\n"
    )
    print(markdown_table(header, rows))
    device = torch.device("cuda" if "gpu" in args.hardware else "cpu")
    print("\n" + machine_line(device, 1))


if __name__ == "__main__":
    main()
