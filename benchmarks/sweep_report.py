"""Wall time of a sweep of 4 `debug=fast` searches plus `python -m hwnas.report` over it, as a
user types them.

    python benchmarks/sweep_report.py              # 3 repeats
    python benchmarks/sweep_report.py --repeats 1  # a check that it runs
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import machine_line, markdown_table

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ["debug=fast", "cost_loss.target=0.2,0.3", "logger=csv,wandb"]
TARGET_S = 120.0


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="hwnas-sweep-") as tmp:
            env = {**os.environ, "HWNAS_CACHE": f"{tmp}/cache", "WANDB_SILENT": "true"}
            sweep = Path(tmp) / "multirun"
            search_s = timed(
                [sys.executable, "search.py", "-m", *SWEEP, f"hydra.sweep.dir={sweep}"], env
            )
            report_s = timed([sys.executable, "-m", "hwnas.report", str(sweep)], env)
            runs = len(list(sweep.glob("*/summary.json")))
        rows.append((repeat, runs, search_s, report_s, search_s + report_s))
        print(f"repeat {repeat}: sweep {search_s:.1f} s, report {report_s:.1f} s", flush=True)
    total = statistics.median(r[4] for r in rows)
    table = [[r[0], r[1], f"{r[2]:.1f}", f"{r[3]:.1f}", f"{r[4]:.1f}"] for r in rows]
    table.append(
        [
            "median",
            "",
            f"{statistics.median(r[2] for r in rows):.1f}",
            f"{statistics.median(r[3] for r in rows):.1f}",
            f"{total:.1f}",
        ]
    )
    print(f"\n#### `python search.py -m {' '.join(SWEEP)}` + `python -m hwnas.report`\n")
    print(markdown_table(["repeat", "runs", "sweep s", "report s", "total s"], table))
    verdict = "PASS" if total < TARGET_S else "FAIL"
    print(f"\nTarget: sweep + report under {TARGET_S:.0f} s: {verdict} ({total:.0f} s, median)")
    print(machine_line(torch.device("cpu"), torch.get_num_threads()))


if __name__ == "__main__":
    main()
