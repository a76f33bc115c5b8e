"""The scalars a run logged, as the notebooks plot them: from the CSV logger's
`csv/*/metrics.csv` or from an offline wandb run, and the per-step figures of a DTS run; where
there are none, why (the logger the run used, too few steps for the logging interval)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hwnas.report.run_folders import run_config
from hwnas.report.wandb_offline import find_offline_runs, read_offline_run

if TYPE_CHECKING:
    import pandas as pd

DTS_STEP_KEYS = ("dts/step_ms", "dts/wait_ms", "dts/delay")
LIGHTNING_LOG_EVERY = 50  # Trainer(log_every_n_steps=...)'s default


def _csv_metrics(run: Path) -> pd.DataFrame | None:
    """Every `csv/*/metrics.csv` of the run (a resumed run writes one per part); None if none
    holds a row."""
    import pandas as pd
    from pandas.errors import EmptyDataError

    frames = []
    for path in sorted(run.glob("csv/*/metrics.csv")):
        try:
            frames.append(pd.read_csv(path))
        except EmptyDataError:  # created as the run started, killed before its first row
            continue
    return pd.concat(frames, ignore_index=True) if frames else None


def _logger_text(run: Path) -> str:
    """The logger the run's config names, e.g. `logger=WandbLogger (online)`."""
    logger = run_config(run).get("logger")
    if not isinstance(logger, dict):
        return "logger=null"
    name = str(logger.get("_target_", "?")).rsplit(".", 1)[-1]
    online = (
        " (online: its scalars are on the wandb server)" if logger.get("offline") is False else ""
    )
    return f"logger={name}{online}"


def logged_scalars(run: Path) -> tuple[pd.DataFrame | None, str]:
    """(the logged scalars, where they came from: `CSV` or `wandb offline run <name>`), or
    (None, why the run left none to read)."""
    import pandas as pd

    metrics = _csv_metrics(run)
    if metrics is not None:
        return metrics, "CSV"
    offline = find_offline_runs(run)
    if offline:
        read = read_offline_run(offline[-1])
        rows = [
            {k: v for k, v in row.items() if isinstance(v, (int, float))} for row in read.history
        ]
        return pd.DataFrame(rows), f"wandb offline run {read.path.name}"
    return None, (
        f"{run} holds no logged scalars: no csv/*/metrics.csv with a row and no "
        f"wandb/offline-run-* ({_logger_text(run)}); log them with logger=csv or logger=wandb"
    )


def _log_every(run: Path) -> int:
    trainer = run_config(run).get("trainer")
    every = trainer.get("log_every_n_steps") if isinstance(trainer, dict) else None
    return every if isinstance(every, int) else LIGHTNING_LOG_EVERY


def dts_steps(run: Path) -> tuple[pd.DataFrame | None, str]:
    """The per-step figures of a DTS training run (`dts/step_ms`, `dts/wait_ms`, `dts/delay`,
    one row per logged step), or (None, why the run logged none)."""
    metrics = _csv_metrics(run)
    if metrics is None:
        return None, (
            f"the run logged no CSV metrics ({_logger_text(run)}); the per-step figures are "
            "read from the CSV logger: run with logger=csv"
        )
    missing = [k for k in DTS_STEP_KEYS if k not in metrics]
    if not missing:
        return metrics.dropna(subset=["dts/step_ms"]).reset_index(drop=True), "CSV"
    every = _log_every(run)
    # the global step of the last row logged (the test's, after the last training step)
    last = metrics["step"].max() if "step" in metrics else float("nan")
    steps = int(last) if last == last else None
    if steps is not None and steps < every:
        why = (
            f"the run took {steps} steps and Lightning logs every {every} "
            f"(trainer.log_every_n_steps={every}), so no step was logged; run with "
            f"trainer.log_every_n_steps=1 (or at most {steps})"
        )
    else:
        why = f"its metrics.csv has no {', '.join(missing)} (trainer.log_every_n_steps={every})"
    return None, why
