"""Every GPU figure hwnas promises, measured by short commands in one short GPU window.

Steps, in order, each a subprocess with its own time budget; each appends its Markdown output
to `<out>/suite.md` as soon as it ends (its log, with each command's seconds, to
`<out>/suite.log`), so a step that fails or runs out of time still leaves the others' results:

1. memory      memory.py: one architecture step in full/two/full_v2 against the child,
               N = 6, 12, 18, proxyless_imagenet at 224, bf16, channels_last
2. throughput  throughput.py, same settings
3. latency     the `gpu` latency table (batch 8) and its validation (latency_tables.py); every
               network's predicted and measured latency to `<out>/latency_rows.json`
4. train_loop  train_loop.py: the Lightning loop against the bare step, at 32x32 (CIFAR-10)
               and at 224x224
5. smoke       train.py and search.py, one process under the DDP strategy (NCCL on a GPU)
6. gpu_tests   the `gpu`-marked tests

The budgets come from a cold H200 (2026-11-30: memory 81 s, throughput 65 s, latency about
150 s, a smoke run about 70 s) with room to spare; together they outlast one device command
(10 minutes), so the suite runs in two parts, `--part 1` (steps 1-3) and `--part 2` (4-6), each
a command of its own. Nothing but suite.md, suite.log and latency_rows.json is written under
`--out` (the device tool brings back 8 files at most); the runs' own folders go to a
temporary directory.

    python benchmarks/gpu_suite.py --part 1 --out /tmp/gpu           # on the GPU machine
    python benchmarks/gpu_suite.py --part 2 --out /tmp/gpu
    python benchmarks/gpu_suite.py --device cpu --quick --out /tmp/x # a CPU check (the tests run it)
    python benchmarks/gpu_suite.py --only memory throughput --out ... # some steps

benchmarks/gpu_bundle.sh prepares what the bare GPU image lacks and prints the commands to run.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
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
PARTS = {1: ("memory", "throughput", "latency"), 2: ("train_loop", "smoke", "gpu_tests")}


def bench(script: str, *args: str) -> tuple[str, ...]:
    return (sys.executable, str(BENCH / script), *args)


def steps(device: str, quick: bool, out: Path) -> list[Step]:
    """The suite for `device`, writing under `out`; `quick` shrinks every step to a check that
    it runs."""
    cuda = device == "cuda"
    space = ["--space", "proxyless_imagenet", "--input-size", "224", "--batch", "64"]
    if quick:  # the same scripts and options, on a space small enough for a CPU
        space = ["--space", "proxyless_cifar", "--input-size", "32", "--batch", "8"]
    dev = (
        ["--device", device] + (["--amp", "bf16"] if cuda else []) + (["--quick"] if quick else [])
    )
    latency = ["--hardware", "gpu" if cuda else "cpu", "--spaces", "proxyless_imagenet"]
    latency += ["--num-archs", "40", "--rows-json", str(out / "latency_rows.json")]
    latency += ["--quick"] if quick else []
    accelerator = "gpu" if cuda else "cpu"
    ddp = ["logger=csv", "trainer=ddp", "trainer.devices=1", f"trainer.accelerator={accelerator}"]
    run_dir = "hydra.run.dir=${oc.env:HWNAS_SUITE_TMP}"
    timing = ["--rounds", "5", "--steps", "20"]  # 3 x 10 left rounds 15-20% apart on an H200
    pytest = (sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider")
    if quick:  # collecting every test module takes a CPU longer than the check needs
        pytest += ("tests/cost/test_cuda_profiler.py",)
    return [
        Step(
            "memory",
            120,
            (bench("memory.py", *space, *dev, *(["--candidates", "6"] if quick else [])),),
        ),
        Step(
            "throughput", 120, (bench("throughput.py", *space, *dev, *([] if quick else timing)),)
        ),
        Step("latency", 240, (bench("latency_tables.py", *latency),)),
        Step(
            "train_loop",
            160,
            (
                bench("train_loop.py", *dev, "--batch", "1024" if cuda else "64"),
                bench(
                    "train_loop.py", *dev, "--input-size", "224", "--batch", "256" if cuda else "8"
                ),
            ),
        ),
        Step(
            "smoke",
            120,
            (
                (sys.executable, "train.py", "debug=train_fast", *ddp, f"{run_dir}/train"),
                (sys.executable, "search.py", "debug=fast", *ddp, f"{run_dir}/search"),
            ),
        ),
        Step("gpu_tests", 60, (pytest,)),
    ]


def run_step(step: Step, out: Path, budget_s: int) -> tuple[str, float]:
    """Run the step's commands within `budget_s` in all; append their output to the suite's
    files. Returns (status, seconds)."""
    start = time.perf_counter()
    status, texts = "ok", []
    with (out / "suite.log").open("a") as log:
        for command in step.commands:
            began = time.perf_counter()
            left = budget_s - (began - start)
            log.write(f"\n===== {step.name}: {' '.join(command)}\n")
            log.flush()
            try:
                done = subprocess.run(
                    command, cwd=ROOT, capture_output=True, text=True, timeout=max(left, 1)
                )
            except subprocess.TimeoutExpired as err:
                texts.append(_text(err.stdout))
                log.write(_text(err.stdout) + _text(err.stderr))
                log.write(f"\n===== killed after {time.perf_counter() - began:.1f} s\n")
                status = f"out of time ({budget_s} s)"
                break
            texts.append(done.stdout)
            log.write(done.stdout + done.stderr)
            log.write(f"\n===== exit {done.returncode} after {time.perf_counter() - began:.1f} s\n")
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
    named = [
        line
        for line in lines
        if re.search(r"Error|error:|Could not|failed", line) and "HYDRA_FULL_ERROR" not in line
    ]
    return (named or lines or ["no message"])[-1][:300]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for suite.md, suite.log")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--quick", action="store_true", help="every step shrunk: a check")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--only", nargs="+", default=None, help="run only these steps")
    which.add_argument(
        "--part",
        type=int,
        choices=sorted(PARTS),
        help="one of the parts that each fit one 10-minute device command: "
        + "; ".join(f"{k}: {' '.join(v)}" for k, v in PARTS.items()),
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    suite = steps(args.device, args.quick, args.out.resolve())
    unknown = set(args.only or []) - {s.name for s in suite}
    if unknown:
        parser.error(f"unknown steps {sorted(unknown)}; choose from {[s.name for s in suite]}")
    chosen = args.only or (PARTS[args.part] if args.part else [s.name for s in suite])
    os.environ["PYTHONUNBUFFERED"] = "1"
    results = []
    with tempfile.TemporaryDirectory(prefix="hwnas-gpu-suite-") as tmp:
        os.environ["HWNAS_SUITE_TMP"] = tmp  # the smoke runs' folders: not under --out
        os.environ.setdefault("HWNAS_CACHE", str(Path(tmp) / "cache"))
        for step in suite:
            if step.name not in chosen:
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
