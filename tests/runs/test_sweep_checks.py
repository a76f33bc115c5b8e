"""A sweep's ranges are checked before its first trial."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hwnas.runs.sweep_checks import sweep_problems

ROOT = Path(__file__).resolve().parents[2]


def test_reversed_and_empty_ranges_are_named() -> None:
    problems = sweep_problems(
        [
            "cost_loss.target=interval(3.0, 1.5)",
            "optimizer.lr=interval(0.1, 0.1)",
            "arch_update.optimizer.lr=tag(log, interval(0, 0.3))",
            "seed=range(5, 1)",
            "epochs=range(1, 4)",
            "cost_loss.target=interval(1.5, 3.0)",
            "seed=choice(1, 2)",
            "epochs=3",
        ]
    )
    assert problems == [
        "cost_loss.target: interval(3.0, 1.5) is reversed; give interval(1.5, 3.0)",
        "optimizer.lr: interval(0.1, 0.1) is empty; give a start below the end, or the value "
        "itself",
        "arch_update.optimizer.lr: a log interval needs a start above 0, got 0.0",
        "seed: range(5, 1, 1) holds no value; the stop must lie beyond the start in the step's "
        "direction",
    ]


@pytest.mark.parametrize(
    "sweep",
    [
        pytest.param(
            [
                "hparams_search=optuna_pareto",
                "hydra.sweeper.params={cost_loss.target:'interval(3.0, 1.5)'}",
            ],
            marks=pytest.mark.slow,
        ),
        ["seed=range(5,1)"],
    ],
)
def test_a_sweep_with_a_reversed_range_stops_before_its_first_trial(tmp_path: Path, sweep) -> None:
    """Optuna's sampler raised a bare traceback; Hydra's basic sweeper ran no trial and exited 0."""
    done = subprocess.run(
        [sys.executable, "search.py", "-m", "debug=fast", *sweep, f"hydra.sweep.dir={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "the sweep cannot start" in done.stderr
    assert "is reversed" in done.stderr or "holds no value" in done.stderr
    assert not list(tmp_path.glob("*/summary.json"))
