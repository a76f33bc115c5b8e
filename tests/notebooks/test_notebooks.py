"""Every notebook runs from top to bottom (nbclient) on the output of real runs (`debug=fast`
searches, one-process `train.py distributed=dts` runs), shows their figures, and the
committed notebooks carry no outputs. Kernels and runs get one thread each (ONE_THREAD): they
then take as long on a busy machine as on an idle one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = {p.stem: p for p in sorted((ROOT / "notebooks").glob("*.ipynb"))}
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def test_there_are_the_search_latency_and_dts_notebooks() -> None:
    assert {"search_run", "latency_and_pareto", "dts"} <= set(NOTEBOOKS)


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_committed_notebook_has_no_outputs(name: str) -> None:
    book = nbformat.read(NOTEBOOKS[name], as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: strip outputs"


def _client(
    name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[nbformat.NotebookNode, nbclient.NotebookClient]:
    """The notebook and a client to run it in notebooks/ with `env` set."""
    for key, value in {**ONE_THREAD, **env}.items():
        monkeypatch.setenv(key, value)
    book = nbformat.read(NOTEBOOKS[name], as_version=4)
    client = nbclient.NotebookClient(
        book,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    )
    return book, client


def _run(name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    """The notebook run top to bottom (a failing cell raises)."""
    book, client = _client(name, env, monkeypatch)
    client.execute()
    return book


def _text(book: nbformat.NotebookNode) -> str:
    texts = []
    for cell in book.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            texts.append(
                out.get("text", "") + data.get("text/plain", "") + data.get("text/html", "")
            )
    return "\n".join(texts)


def _execute(name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the notebook (a failing cell raises) and return its text output; it shows a figure."""
    book = _run(name, env, monkeypatch)
    assert any(
        "image/png" in out.get("data", {}) for c in book.cells for out in c.get("outputs", [])
    )
    return _text(book)


def _first_error(
    name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    """Run the notebook, which must fail: (the id of the failing cell, what it shows)."""
    book, client = _client(name, env, monkeypatch)
    with pytest.raises(nbclient.exceptions.CellExecutionError):
        client.execute()
    cell = next(c for c in book.cells for o in c.get("outputs", []) if o["output_type"] == "error")
    error = next(o for o in cell.outputs if o["output_type"] == "error")
    return cell.id, "\n".join(error["traceback"])


# the same cells on a wandb run; what it reads there is checked by test_notebook_inputs.py's
# test_the_search_notebook_reads_the_scalars_of_a_csv_and_a_wandb_run
@pytest.mark.parametrize("logger", ["csv", pytest.param("wandb", marks=pytest.mark.slow)])
def test_search_run_notebook_reads_a_csv_and_a_wandb_run(
    debug_sweep: dict, logger: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = next(r for r in debug_sweep["runs"] if (r / "wandb").is_dir() == (logger == "wandb"))
    text = _execute("search_run", {"HWNAS_RUN": str(run)}, monkeypatch)
    summary = json.loads((run / "summary.json").read_text())
    assert f"derived {summary['derived_cost']:.3f} ms" in text
    assert ("wandb offline run" in text) == (logger == "wandb")


def test_latency_and_pareto_notebook(debug_sweep: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _execute("latency_and_pareto", {"HWNAS_SWEEP": str(debug_sweep["folder"])}, monkeypatch)
    assert "proxyless_mobile" in text and "layer 0" in text


@pytest.fixture(scope="module")
def dts_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Real one-process DTS training runs over an emulated 20 ms link, of 8 steps (2 epochs of
    4), in one `train.py -m` multirun: by how often they log, every step and every 10 steps."""
    sweep = tmp_path_factory.mktemp("dts_runs")
    done = subprocess.run(
        [
            sys.executable,
            "train.py",
            "-m",
            "debug=train_fast",
            "distributed=dts",
            "trainer.devices=1",
            "wan.latency_ms=20",
            "trainer.log_every_n_steps=1,10",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **ONE_THREAD},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = {}
    for config in sweep.glob("*/config.yaml"):
        runs[OmegaConf.load(config).trainer.log_every_n_steps] = config.parent
    assert sorted(runs) == [1, 10], runs
    return runs


@pytest.fixture
def dts_train_run(dts_runs: dict[int, Path]) -> Path:
    """The DTS run that logs every step."""
    return dts_runs[1]


@pytest.fixture
def short_dts_run(dts_runs: dict[int, Path]) -> Path:
    """The DTS run that logs every 10 steps: too short to log a step."""
    return dts_runs[10]


def test_dts_notebook(dts_train_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _execute("dts", {"HWNAS_DTS_RUN": str(dts_train_run)}, monkeypatch)
    assert "median step" in text and "delay_used" in text


@pytest.mark.slow  # a whole process or notebook run; the checks it makes have unit tests
def test_search_notebook_on_a_missing_folder_says_what_it_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no_such_run"
    cell, shown = _first_error("search_run", {"HWNAS_RUN": str(missing)}, monkeypatch)
    assert cell == "search_run-01"  # the cell that reads HWNAS_RUN
    assert shown.startswith(
        f"NotebookInputError: HWNAS_RUN={missing}: no such folder ({missing}); set it to a "
        "search run folder (outputs/search/<date>_<time>/, or multirun/search/<date>_<time>/<n>/"
    )
    assert shown.endswith(
        "holding summary.json and arch.yaml, which `python search.py` writes as it ends"
    )
    assert "\n" not in shown  # the message alone, no traceback


@pytest.mark.slow  # a whole process or notebook run; the checks it makes have unit tests
def test_dts_notebook_on_a_search_run_says_what_it_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    search = tmp_path / "search"
    search.mkdir()
    (search / "summary.json").write_text(json.dumps({"derived_cost": 1.0}))
    cell, shown = _first_error("dts", {"HWNAS_DTS_RUN": str(search)}, monkeypatch)
    assert cell == "dts-01"
    assert shown.startswith(
        f"NotebookInputError: HWNAS_DTS_RUN={search} is a search.py run "
        "(notebooks/search_run.ipynb reads it), not a train.py run; set it to a DTS training run"
    )


def test_dts_notebook_on_a_run_too_short_to_log_a_step_shows_the_summary_and_why(
    short_dts_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _text(_run("dts", {"HWNAS_DTS_RUN": str(short_dts_run)}, monkeypatch))
    assert "delay_used" in text and "mean_step_ms" in text  # the summary's table
    assert (
        "no per-step plot: the run took 8 steps and Lightning logs every 10 "
        "(trainer.log_every_n_steps=10), so no step was logged; run with "
        "trainer.log_every_n_steps=1 (or at most 8)"
    ) in text
    assert "median step" not in text
