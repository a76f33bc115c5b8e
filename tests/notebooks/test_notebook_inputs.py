"""The checks the notebooks' first cells make on the folder they are given (`HWNAS_RUN`,
`HWNAS_DTS_RUN`, `HWNAS_SWEEP`), and what they say instead of a FileNotFoundError later; and
the logged scalars they plot, with why there are none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hwnas.report.notebook_inputs import (
    NotebookInputError,
    dts_run_folder,
    read_sweep,
    search_run_folder,
)
from hwnas.report.run_metrics import dts_steps, logged_scalars

pytest.importorskip("pandas")


def _run(folder: Path, task: str, figures: object = None, **config: object) -> Path:
    """A run folder as search.py or train.py leaves it: config, a checkpoint, results."""
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "last.ckpt").write_bytes(b"")
    (folder / "config.yaml").write_text(yaml.safe_dump({"task_name": task, **config}))
    if figures is not None:
        name = "summary.json" if task == "search" else "train_summary.json"
        (folder / name).write_text(json.dumps(figures))
    if task == "search":
        (folder / "arch.yaml").write_text("name: searched\n")
    return folder


def _refusal(check, *args) -> str:
    with pytest.raises(NotebookInputError) as refused:
        check(*args)
    return str(refused.value)


SEARCH_FIGURES = {"derived_cost": 0.2, "cost_unit": "ms", "test_acc": None}
DTS_FIGURES = {"test_acc": 0.5, "distributed": {"delay_used": 1, "steps": 6}}


def test_a_finished_search_is_taken_as_given_or_relative_to_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _run(tmp_path / "outputs" / "search" / "a", "search", SEARCH_FIGURES)
    assert search_run_folder(str(run), tmp_path) == run
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # where Jupyter starts the notebook
    assert search_run_folder("outputs/search/a", tmp_path) == tmp_path / "outputs/search/a"
    assert search_run_folder(None, tmp_path) == run  # unset: the newest


def test_the_search_notebook_refuses_what_is_no_finished_search(tmp_path: Path) -> None:
    train = _run(tmp_path / "train", "train", {"test_acc": 0.5})
    assert _refusal(search_run_folder, str(train), tmp_path).startswith(
        f"HWNAS_RUN={train} is a train.py run (notebooks/dts.ipynb reads one trained with "
        "distributed=dts), not a search.py run; set it to a search run folder"
    )
    sweep = tmp_path / "sweep"
    for n in ("0", "1"):
        _run(sweep / n, "search", SEARCH_FIGURES)
    assert _refusal(search_run_folder, str(sweep), tmp_path).startswith(
        f"HWNAS_RUN={sweep} holds the search.py runs 0, 1; set it to a search run folder"
    )
    unfinished = _run(tmp_path / "unfinished", "search")
    assert _refusal(search_run_folder, str(unfinished), tmp_path).startswith(
        f"HWNAS_RUN={unfinished}: no summary.json: the search.py run did not finish (or is "
        f"still running); resume it with `python search.py hydra.run.dir={unfinished} "
        f"ckpt_path={unfinished / 'checkpoints' / 'last.ckpt'}`, or delete the folder"
    )
    typed = _run(tmp_path / "typed", "search", {"derived_cost": "0.2"})
    assert _refusal(search_run_folder, str(typed), tmp_path) == (
        f'HWNAS_RUN={typed}: summary.json: "derived_cost" is a string ("0.2"), expected a number'
    )
    assert _refusal(search_run_folder, None, tmp_path / "empty").startswith(
        f"HWNAS_RUN is not set and there is no run under {tmp_path / 'empty/outputs/search'} or "
    )


def test_the_dts_notebook_refuses_what_is_no_dts_training_run(tmp_path: Path) -> None:
    dts = _run(tmp_path / "dts", "train", DTS_FIGURES)
    assert dts_run_folder(str(dts), tmp_path) == dts
    plain = _run(tmp_path / "plain", "train", {"test_acc": 0.5})
    assert _refusal(dts_run_folder, str(plain), tmp_path).startswith(
        f"HWNAS_DTS_RUN={plain}: train_summary.json has no `distributed` figures: the run "
        "trained without DTS; set it to a DTS training run folder"
    )
    listed = _run(tmp_path / "listed", "train", {"distributed": [1, 2]})
    assert _refusal(dts_run_folder, str(listed), tmp_path) == (
        f'HWNAS_DTS_RUN={listed}: train_summary.json: "distributed" is a list ([1, 2]), expected '
        "an object or null"
    )
    search = _run(tmp_path / "search", "search", SEARCH_FIGURES)
    assert "is a search.py run (notebooks/search_run.ipynb reads it)" in _refusal(
        dts_run_folder, str(search), tmp_path
    )


def test_the_sweep_notebook_refuses_a_folder_without_a_finished_search(tmp_path: Path) -> None:
    train = _run(tmp_path / "train", "train", {"test_acc": 0.5}, arch="proxyless_mobile")
    assert _refusal(read_sweep, str(train), tmp_path) == (
        f"HWNAS_SWEEP={train}: no finished search run under {train}: a finished `python "
        "search.py` run leaves summary.json in its folder (outputs/search/<date>_<time>/, or "
        "multirun/search/<date>_<time>/<n>/ of a sweep)\n"
        f"  left out {train}: a train.py run of arch=proxyless_mobile, not a net of a search run "
        "given here"
    )


def test_a_run_that_logged_no_step_says_why(tmp_path: Path) -> None:
    run = _run(tmp_path / "dts", "train", DTS_FIGURES, trainer={"log_every_n_steps": 10})
    assert dts_steps(run) == (
        None,
        "the run logged no CSV metrics (logger=null); the per-step figures are read from the CSV "
        "logger: run with logger=csv",
    )
    (run / "csv" / "version_0").mkdir(parents=True)
    (run / "csv" / "version_0" / "metrics.csv").write_text("epoch,step,val/acc\n0,2,0.5\n1,5,0.6\n")
    assert dts_steps(run) == (
        None,
        "the run took 5 steps and Lightning logs every 10 (trainer.log_every_n_steps=10), so "
        "no step was logged; run with trainer.log_every_n_steps=1 (or at most 5)",
    )
    (run / "csv" / "version_0" / "metrics.csv").write_text(
        "dts/step_ms,dts/wait_ms,dts/delay,step\n12.5,0.5,1,0\n,,,1\n13.0,0.4,1,2\n"
    )
    steps, source = dts_steps(run)
    assert source == "CSV" and steps["dts/step_ms"].tolist() == [12.5, 13.0]


def test_a_run_that_logged_no_scalars_says_why(tmp_path: Path) -> None:
    run = _run(
        tmp_path / "search",
        "search",
        SEARCH_FIGURES,
        logger={"_target_": "pytorch_lightning.loggers.WandbLogger", "offline": False},
    )
    assert logged_scalars(run) == (
        None,
        f"{run} holds no logged scalars: no csv/*/metrics.csv with a row and no "
        "wandb/offline-run-* (logger=WandbLogger (online: its scalars are on the wandb "
        "server)); log them with logger=csv or logger=wandb",
    )


@pytest.mark.parametrize("logger", ["csv", "wandb"])
def test_the_search_notebook_reads_the_scalars_of_a_csv_and_a_wandb_run(
    debug_sweep: dict, logger: str
) -> None:
    """What search_run.ipynb plots: the weight steps' loss and the expected cost, from the CSV
    logger or the wandb offline run of a real search."""
    run = next(r for r in debug_sweep["runs"] if (r / "wandb").is_dir() == (logger == "wandb"))
    metrics, source = logged_scalars(run)
    expected = "CSV" if logger == "csv" else "wandb offline run "
    assert source.startswith(expected)
    assert metrics["train/loss"].notna().any()
    assert any(c.startswith("arch/expected_") and metrics[c].notna().any() for c in metrics)
