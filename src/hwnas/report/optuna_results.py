"""The Pareto-optimal trials an Optuna sweep wrote (`hparams_search=optuna_pareto`): Hydra's
Optuna sweeper leaves them in `optimization_results.yaml` in the multirun folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwnas.report.run_files import RunFileError, read_yaml
from hwnas.util.tables import markdown_table

RESULTS_FILE = "optimization_results.yaml"


def optuna_solutions(root: Path | None) -> str | None:
    """The Pareto-optimal trials as a table (Optuna's best trial for a one-objective sweep);
    None where the sweep wrote none, a line naming the fault where the file cannot be read."""
    path = None if root is None else root / RESULTS_FILE
    if path is None or not path.is_file():
        return None
    try:
        results = read_yaml(path) or {}
        solutions = _solutions(path, results.get("solutions") or [])
    except RunFileError as err:
        return f"Optuna's results are not shown: {err}"
    if not solutions:
        best = results.get("best_params")
        return (
            None if best is None else f"Optuna's best trial: {best} ({results.get('best_value')})"
        )
    params = sorted({k for s in solutions for k in s["params"]})
    rows = [
        [*(_cell(s["params"].get(k, "-")) for k in params), ", ".join(map(_cell, s["values"]))]
        for s in solutions
    ]
    return markdown_table([*params, "objective values"], rows)


def _solutions(path: Path, solutions: Any) -> list[dict[str, Any]]:
    """`solutions` checked: a list of {params: {name: value}, values: [numbers]}."""
    if not isinstance(solutions, list):
        kind = "a mapping" if isinstance(solutions, dict) else f"{solutions!r}"
        raise RunFileError(path, f"solutions is {kind}, expected a list of trials")
    for i, s in enumerate(solutions):
        params = s.get("params", {}) if isinstance(s, dict) else None
        values = s.get("values", []) if isinstance(s, dict) else None
        if not isinstance(params, dict) or not isinstance(values, list):
            raise RunFileError(
                path, f"solution {i} is not a mapping with params (a mapping) and values (a list)"
            )
    return [{"params": s.get("params", {}), "values": s.get("values", [])} for s in solutions]


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
