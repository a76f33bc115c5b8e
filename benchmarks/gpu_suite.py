"""Every GPU figure hwnas promises, measured by one command in one short GPU window (issue 13).

Steps, in order, each a subprocess with its own time budget; each appends its Markdown output
to `<out>/suite.md` as soon as it ends (its log to `<out>/suite.log`), so a step that fails or
runs out of time still leaves the others' results:

1. memory      memory.py: one architecture step in full/two/full_v2 against the child,
               N = 6, 12, 18, proxyless_imagenet at 224, bf16, channels_last
2. throughput  throughput.py, same settings
3. latency     the `gpu` latency table (batch 8) and its validation (latency_tables.py)
4. train_loop  train_loop.py: the Lightning loop against the bare step, at 32x32 (CIFAR-10)
5. smoke       train.py and search.py, one process under the DDP strategy (NCCL on a GPU)
6. gpu_tests   the `gpu`-marked tests

    python benchmarks/gpu_suite.py --out /tmp/gpu                    # on the GPU machine
    python benchmarks/gpu_suite.py --device cpu --quick --out /tmp/x # a CPU check (the tests run it)
    python benchmarks/gpu_suite.py --only memory throughput --out ... # some steps

benchmarks/gpu_bundle.sh prepares what the bare GPU image lacks and prints the command to run.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


@dataclass(frozen=True)
class Step:
    name: str
    budget_s: int  # on the GPU; --quick runs get QUICK_BUDGET_S each
    commands: tuple[tuple[str, ...], ...]


QUICK_BUDGET_S = 240


def bench(script: str, *args: str) -> tuple[str, ...]:
    return (sys.executable, str(BENCH / script), *args)


def steps(device: str, quick: bool) -> list[Step]:
    """The suite for `device`; `quick` shrinks every step to a check that it runs."""
    cuda = device == "cuda"
    space = ["--space", "proxyless_imagenet", "--input-size", "224", "--batch", "64"]
    if quick:  # the same scripts and options, on a space small enough for a CPU
        space = ["--space", "proxyless_cifar", "--input-size", "32", "--batch", "8"]
    dev = (
        ["--device", device] + (["--amp", "bf16"] if cuda else []) + (["--quick"] if quick else [])
    )
    latency = ["--hardware", "gpu" if cuda else "cpu", "--spaces", "proxyless_imagenet"]
    latency += ["--num-archs", "40"] + (["--quick"] if quick else [])
    accelerator = "gpu" if cuda else "cpu"
    ddp = ["logger=csv", "trainer=ddp", "trainer.devices=1", f"trainer.accelerator={accelerator}"]
    run_dir = "hydra.run.dir=${oc.env:HWNAS_SUITE_TMP}"
    timing = ["--rounds", "3", "--steps", "10"]
    pytest = (sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider")
    if quick:  # collecting every test module takes a CPU longer than the check needs
        pytest += ("tests/latency/test_cuda_profiler.py",)
    return [
        Step("memory", 60, (bench("memory.py", *space, *dev, *(["--candidates", "6"] if quick else [])),)),
        Step("throughput", 100, (bench("throughput.py", *space, *dev, *([] if quick else timing)),)),
        Step("latency", 120, (bench("latency_tables.py", *latency),)),
        Step("train_loop", 80, (
            bench("train_loop.py", *dev, "--batch", "1024" if cuda else "64"),
            bench("train_loop.py", *dev, "--input-size", "224", "--batch", "256" if cuda else "8"),
        )),
        Step("smoke", 60, (
            (sys.executable, "train.py", "debug=train_fast", *ddp, f"{run_dir}/train"),
            (sys.executable, "search.py", "debug=fast", *ddp, f"{run_dir}/search"),
        )),
        Step("gpu_tests", 60, (pytest,)),
    ]  # fmt: skip


def run_step(step: Step, out: Path, budget_s: int) -> tuple[str, float]:
    """Run the step's commands within `budget_s` in all; append their output to the suite's
    files. Returns (status, seconds)."""
    start = time.perf_counter()
    status, texts = "ok", []
    with (out / "suite.log").open("a") as log:
        for command in step.commands:
            left = budget_s - (time.perf_counter() - start)
            log.write(f"\n===== {step.name}: {' '.join(command)}\n")
            log.flush()
            try:
                done = subprocess.run(
                    command, cwd=ROOT, capture_output=True, text=True, timeout=max(left, 1)
                )
            except subprocess.TimeoutExpired as err:
                texts.append(_text(err.stdout))
                log.write(_text(err.stdout) + _text(err.stderr))
                status = f"out of time ({budget_s} s)"
                break
            texts.append(done.stdout)
            log.write(done.stdout + done.stderr)
            if done.returncode != 0:
                status = f"failed (exit {done.returncode}): {_last_line(done.stderr)}"
                break
    seconds = time.perf_counter() - start
    with (out / "suite.md").open("a") as md:
        md.write(
            f"\n## {step.name}: {status}, {seconds:.0f} s\n\n" + "\n".join(texts).strip() + "\n"
        )
    return status, seconds


def _text(value: str | bytes | None) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")


def _last_line(text: str) -> str:
    """The line that says what went wrong: the last one naming an error (a traceback's last
    line, Hydra's `Could not find ...`), else the last line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    named = [line for line in lines if re.search(r"Error|error:|Could not|failed", line)
             and "HYDRA_FULL_ERROR" not in line]  # fmt: skip
    return (named or lines or ["no message"])[-1][:300]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for suite.md, suite.log")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--quick", action="store_true", help="every step shrunk: a check")
    parser.add_argument("--only", nargs="+", default=None, help="run only these steps")
    args = parser.parse_args()
    suite = steps(args.device, args.quick)
    unknown = set(args.only or []) - {s.name for s in suite}
    if unknown:
        parser.error(f"unknown steps {sorted(unknown)}; choose from {[s.name for s in suite]}")
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / "tmp"
    os.environ["HWNAS_SUITE_TMP"] = str(tmp.resolve())
    os.environ.setdefault("HWNAS_CACHE", str((tmp / "cache").resolve()))
    os.environ["PYTHONUNBUFFERED"] = "1"
    results = []
    for step in suite:
        if args.only and step.name not in args.only:
            continue
        budget = QUICK_BUDGET_S if args.quick else step.budget_s
        status, seconds = run_step(step, args.out, budget)
        results.append((step.name, status, seconds))
        print(f"{step.name}: {status} ({seconds:.0f} s)", flush=True)
    lines = ["| step | status | seconds |", "|---|---|---|"]
    lines += [f"| {name} | {status} | {seconds:.0f} |" for name, status, seconds in results]
    with (args.out / "suite.md").open("a") as md:
        md.write("\n## Summary\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(status == "ok" for _, status, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
