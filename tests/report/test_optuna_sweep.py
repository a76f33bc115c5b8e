"""`hparams_search=optuna_pareto`: a real 2-trial multi-objective Optuna sweep of `debug=fast`
searches (accuracy up, latency down) that writes its Pareto solutions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hwnas.report.sweep_report import optuna_solutions
from hwnas.runs.search_run import check_objectives, sweep_objectives

ROOT = Path(__file__).resolve().parents[2]


def test_two_trial_optuna_sweep_writes_its_pareto_solutions(tmp_path) -> None:
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweep = tmp_path / "optuna"
    result = subprocess.run(
        [
            sys.executable,
            "search.py",
            "hparams_search=optuna_pareto",
            "debug=fast",
            "hydra.sweeper.n_trials=2",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    trials = sorted(sweep.glob("*/summary.json"))
    assert len(trials) == 2
    summaries = [json.loads(t.read_text()) for t in trials]
    values = {(s["test_acc"], s["derived_cost"]) for s in summaries}
    assert results["solutions"], "at least one Pareto solution"
    for solution in results["solutions"]:
        assert tuple(solution["values"]) in values  # what the trials' summaries say
        assert set(solution["params"]) == {"cost_loss.target", "arch_update.optimizer.lr"}
    table = optuna_solutions(sweep)  # the sweep report's section
    assert table is not None and table.count("\n") == 1 + len(results["solutions"])


def test_objectives_are_checked_before_a_search() -> None:
    assert check_objectives(None) == ["test_acc"]
    assert check_objectives(["test_acc", "derived_cost"]) == ["test_acc", "derived_cost"]
    with pytest.raises(ValueError, match="choose from test_acc"):
        check_objectives(["latency"])
    assert sweep_objectives({"test_acc": 0.5, "derived_cost": 2.0}, ["test_acc"]) == 0.5
    assert sweep_objectives(
        {"test_acc": 0.5, "derived_cost": 2.0}, ["test_acc", "derived_cost"]
    ) == (0.5, 2.0)
