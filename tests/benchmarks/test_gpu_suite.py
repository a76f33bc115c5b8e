"""The GPU suite (benchmarks/gpu_suite.py) runs every step on the CPU with --quick, so that it
cannot rot between the sessions that have a GPU, and keeps going past a failing step."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STEPS = ["memory", "throughput", "latency", "train_loop", "smoke", "gpu_tests"]


def _suite(out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "gpu_suite.py"),
            "--device",
            "cpu",
            "--quick",
            "--out",
            str(out),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow  # a minute: run it (pytest -m slow) before taking the suite to a GPU
def test_every_step_runs_on_the_cpu_and_leaves_its_table(tmp_path: Path) -> None:
    done = _suite(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    report = (tmp_path / "suite.md").read_text()
    for step in STEPS:
        assert re.search(rf"^## {step}: ok, \d+ s$", report, re.M), step
    assert report.count("| configuration |") == 1  # throughput's table
    assert "Memory of one step" in report and "Latency tables" in report
    assert "Training throughput" in report
    assert "| smoke | ok |" in report
    # the device tool brings back 8 files of --out, two folders down: the smoke runs' folders
    # (checkpoints, pictures) once crowded out what mattered
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "latency_rows.json",
        "suite.log",
        "suite.md",
    ]
    rows = json.loads((tmp_path / "latency_rows.json").read_text())["cpu/tiny"]["rows"]
    assert len(rows) == 8 and all(r["measured_ms"] > 0 for r in rows)
    assert re.search(r"^===== exit 0 after [\d.]+ s$", (tmp_path / "suite.log").read_text(), re.M)


def test_each_part_fits_one_device_command() -> None:
    """The steps' budgets together outlast one 10-minute device command; each part must not,
    with a minute left for installing the wheels and starting Python."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import gpu_suite

    budgets = {s.name: s.budget_s for s in gpu_suite.steps("cuda", False, Path("/tmp"))}
    named = [name for part in gpu_suite.PARTS.values() for name in part]
    assert sorted(named) == sorted(budgets)  # every step in exactly one part
    for part in gpu_suite.PARTS.values():
        assert sum(budgets[name] for name in part) <= 600 - 60, part


def test_a_failing_step_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    """A failing step (Hydra's message for a config group that does not exist) and one out of
    time are reported with their reasons, and the step after them still runs."""
    script = f"""
import sys; sys.path.insert(0, {str(ROOT / "benchmarks")!r})
import gpu_suite
def steps(device, quick, out):
    bad = "import sys; print('In train: Could not find trainer/nonexistent', file=sys.stderr); sys.exit(1)"
    return [gpu_suite.Step("bad", 60, ((sys.executable, "-c", bad),)),
            gpu_suite.Step("slow", 1, ((sys.executable, "-c", "import time; time.sleep(30)"),)),
            gpu_suite.Step("good", 60, ((sys.executable, "-c", "print('| a | b |')"),))]
gpu_suite.steps = steps
sys.argv = ["gpu_suite.py", "--device", "cpu", "--out", {str(tmp_path)!r}]
sys.exit(gpu_suite.main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1
    report = (tmp_path / "suite.md").read_text()
    assert re.search(r"^## bad: failed \(exit 1\): .*nonexistent", report, re.M), report
    assert re.search(r"^## slow: out of time \(1 s\)", report, re.M), report
    assert re.search(r"^## good: ok, \d+ s\n\n\| a \| b \|", report, re.M), report
    assert "| good | ok |" in report
    assert re.search(r"^===== killed after [\d.]+ s$", (tmp_path / "suite.log").read_text(), re.M)


@pytest.mark.slow  # 40 s here; the suite's test keeps the shared scripts from rotting
def test_gpu_cifar10_runs_on_the_cpu_and_reports_time_to_accuracy() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_cifar10.py"), "--device", "cpu", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = re.findall(r"^\| (\d+) \| \d+ \| [\d.]+% \| [\d.]+% \|$", done.stdout, re.M)
    assert rows == ["1", "2"]  # both epochs, each with its held-out accuracies
    assert re.search(r"^Time to 93% on the held-out images: (not reached|\d+ s)", done.stdout, re.M)
    assert re.search(r"^Target: .* (PASS|FAIL) \(", done.stdout, re.M)
