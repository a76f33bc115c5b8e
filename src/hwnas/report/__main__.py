"""`python -m hwnas.report <multirun folder or run folders ...>`: report.md, pareto.png and
hardware_matrix.png over every finished search run found there. Every other run folder there (a
run that did not finish, a file that cannot be read, a train or eval run of no search given) is
named on stderr and in report.md, with why. It takes options, not Hydra overrides: a report
reads the folders of finished runs and composes no config of its own (only the hardware models
of its matrix, from conf/hardware/).

    python search.py -m cost_loss.target=1.5,2,2.5,3
    python -m hwnas.report multirun/search/2026-11-29_10-00-00
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hwnas.report.pricing import HARDWARE_NAMES
from hwnas.report.runs import collect_sweep, common_root
from hwnas.report.sweep_report import folders_text, runs_text, write_sweep_report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m hwnas.report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "folders",
        nargs="+",
        type=Path,
        help="a multirun folder, run folders, or folders above them",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write (default: the folder given, or ./report for several)",
    )
    parser.add_argument(
        "--hardware",
        nargs="+",
        default=list(HARDWARE_NAMES),
        choices=HARDWARE_NAMES,
        help="hardware models of the matrix (default: all; those that cannot "
        "price here are named in the report)",
    )
    parser.add_argument(
        "--measure",
        action="store_true",
        help="time the ops of nets no cached table covers (cpu, onnxruntime, gpu)",
    )
    parser.add_argument("--cache-dir", default=None, help="latency table cache (default: hwnas's)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        sweep = collect_sweep(args.folders)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    runs = sweep.runs
    for skipped in sweep.skipped:
        print(f"left out {skipped.line()}", file=sys.stderr)
    single = args.folders[0].resolve() if len(args.folders) == 1 else None
    out = args.out or (single if single is not None else Path("report"))
    root = single if single is not None else common_root(runs)
    try:
        written = write_sweep_report(
            runs, out, root, args.hardware, args.measure, args.cache_dir, sweep.skipped
        )
    except (FileNotFoundError, ValueError) as err:  # e.g. no conf/ to compose the hardware from
        print(f"error: {err}", file=sys.stderr)
        return 2
    left_out = f" ({folders_text(len(sweep.skipped))} left out)" if sweep.skipped else ""
    print(f"{runs_text(len(runs))}{left_out}: wrote " + ", ".join(map(str, written.values())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
