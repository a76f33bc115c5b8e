"""Every notebook runs from top to bottom (nbclient) on the output of real runs (`debug=fast`
searches, a one-process `train.py distributed=dts` run), shows their figures, and the
committed notebooks carry no outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = {p.stem: p for p in sorted((ROOT / "notebooks").glob("*.ipynb"))}


def test_there_are_the_search_latency_and_dts_notebooks() -> None:
    assert {"search_run", "latency_and_pareto", "dts"} <= set(NOTEBOOKS)


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_committed_notebook_has_no_outputs(name: str) -> None:
    book = nbformat.read(NOTEBOOKS[name], as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: strip outputs"


def _execute(name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the notebook (a failing cell raises) and return its text output."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    book = nbformat.read(NOTEBOOKS[name], as_version=4)
    client = nbclient.NotebookClient(
        book,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    )
    client.execute()
    texts = []
    for cell in book.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            texts.append(
                out.get("text", "") + data.get("text/plain", "") + data.get("text/html", "")
            )
    assert any(
        "image/png" in out.get("data", {}) for c in book.cells for out in c.get("outputs", [])
    )
    return "\n".join(texts)


@pytest.mark.parametrize("logger", ["csv", "wandb"])
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
def dts_train_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real one-process DTS training run over an emulated 20 ms link."""
    out = tmp_path_factory.mktemp("dts_run")
    done = subprocess.run(
        [
            sys.executable,
            "train.py",
            "debug=train_fast",
            "distributed=dts",
            "trainer.devices=1",
            "wan.latency_ms=20",
            "trainer.log_every_n_steps=1",
            f"hydra.run.dir={out}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_dts_notebook(dts_train_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _execute("dts", {"HWNAS_DTS_RUN": str(dts_train_run)}, monkeypatch)
    assert "median step" in text and "delay_used" in text
