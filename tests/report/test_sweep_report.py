"""`python -m hwnas.report` over a real sweep of 4 `debug=fast` searches: the report's table,
its Pareto front and hardware matrix, the pictures of every run, and the time it all takes."""

from __future__ import annotations

import json
import re

import pytest
import torch
from PIL import Image

from hwnas.report.runs import collect_runs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _table_rows(markdown: str) -> list[list[str]]:
    """The rows of the first Markdown table (header excluded)."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line in lines[2:]
        if not line.startswith("|---")
    ]


def test_sweep_of_four_searches_and_report(debug_sweep: dict) -> None:
    """Four searches and their report (benchmarks/sweep_report.py times them)."""
    assert len(debug_sweep["runs"]) == 4


def test_report_has_a_row_per_run_with_its_overrides_and_summary(debug_sweep: dict) -> None:
    text = (debug_sweep["folder"] / "report.md").read_text()
    table = text.split("## Pareto")[0]
    rows = _table_rows(table)
    assert [r[0] for r in rows] == ["0", "1", "2", "3"]
    for row, run in zip(rows, debug_sweep["runs"], strict=True):
        summary = json.loads((run / "summary.json").read_text())
        assert f"`cost_loss.target={summary['target']:g}`" in row[1]
        assert row[2] == "mobile"
        assert row[4].startswith(f"{summary['derived_cost']:.3g} ms")
        assert row[5] == f"{100 * summary['test_acc']:.2f}"
        assert row[8] == f"{summary['params']:,}"


def test_pareto_front_in_the_report_is_undominated(debug_sweep: dict) -> None:
    text = (debug_sweep["folder"] / "report.md").read_text()
    front_line = next(line for line in text.splitlines() if line.startswith("- `mobile`"))
    on_front = set(re.findall(r"(\d) \(", front_line))
    summaries = {
        run.name: json.loads((run / "summary.json").read_text()) for run in debug_sweep["runs"]
    }
    for name, f in summaries.items():
        dominated = any(
            g["derived_cost"] <= f["derived_cost"]
            and g["test_acc"] >= f["test_acc"]
            and (g["derived_cost"] < f["derived_cost"] or g["test_acc"] > f["test_acc"])
            for other, g in summaries.items()
            if other != name
        )
        assert (name in on_front) == (not dominated), (name, front_line)
    assert (debug_sweep["folder"] / "pareto.png").read_bytes()[:8] == PNG_MAGIC


def test_hardware_matrix_prices_searched_and_published_nets(debug_sweep: dict) -> None:
    text = (debug_sweep["folder"] / "report.md").read_text()
    matrix = text.split("## Hardware matrix")[1]
    rows = {r[0]: r for r in _table_rows(matrix)}
    assert {"proxyless_mobile", "proxyless_cpu", "proxyless_gpu"} <= set(rows)
    assert "mobile (ms)" in matrix and "flops (MMACs)" in matrix
    # the paper's point: each published net is best on its own device's model. On the phone
    # model the mobile net is the fastest of the three (in bold), the GPU net is not.
    assert rows["proxyless_mobile"][2].startswith("**")
    assert not rows["proxyless_gpu"][2].startswith("**")
    if not torch.cuda.is_available():  # no GPU: said so, with the reason
        assert "`gpu`: not priced (no gpu here" in matrix
    assert (debug_sweep["folder"] / "hardware_matrix.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("picture", ["arch.png", "arch.svg", "arch_probs.png", "layer_costs.png"])
def test_every_run_draws_its_pictures_whatever_the_logger(debug_sweep: dict, picture: str) -> None:
    for run in debug_sweep["runs"]:
        path = run / picture
        assert path.is_file(), path
        if picture.endswith(".png"):
            with Image.open(path) as image:
                assert image.width > 300 and image.height > 150


def test_probability_record_matches_the_final_probabilities(debug_sweep: dict) -> None:
    run = debug_sweep["runs"][0]
    record = json.loads((run / "arch_probs.json").read_text())
    epochs = [r["epoch"] for r in record["history"]]
    assert epochs == [0, 1, 2]  # the start and the end of both epochs of debug=fast
    start = record["history"][0]["probs"]
    assert all(abs(p - 1 / len(layer)) < 1e-6 for layer in start for p in layer)
    final = record["history"][-1]["probs"]
    summary = json.loads((run / "summary.json").read_text())
    argmax = [
        cands[max(range(len(p)), key=p.__getitem__)]
        for cands, p in zip(record["candidates"], final, strict=True)
    ]
    assert argmax == summary["architecture"]


def test_collect_runs_refuses_a_folder_without_searches(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no finished search run under"):
        collect_runs([tmp_path])
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / "summary.json").write_text("{trunc")
    left_out = f"left out {tmp_path / '0'}: summary.json: not valid JSON at line 1, column 2 "
    with pytest.raises(FileNotFoundError, match="no finished search run under") as refused:
        collect_runs([tmp_path])
    assert left_out in str(refused.value)


def test_train_and_eval_runs_of_a_searched_net_join_its_row(debug_sweep: dict, tmp_path) -> None:
    """A train run of `arch=<search run>/arch.yaml` and an eval run of its checkpoint add their
    accuracy and measured latency to the search's row."""
    import shutil

    import yaml

    from hwnas.report.sweep_report import runs_table

    sweep = tmp_path / "sweep"
    shutil.copytree(debug_sweep["folder"], sweep)
    search = sweep / "0"
    train = tmp_path / "train_run"
    (train / "checkpoints").mkdir(parents=True)
    (train / "config.yaml").write_text(yaml.safe_dump({"arch": str(search / "arch.yaml")}))
    (train / "train_summary.json").write_text(json.dumps({"test_acc": 0.9876, "epochs": 3}))
    evaluation = tmp_path / "eval_run"
    evaluation.mkdir()
    (evaluation / "eval.json").write_text(
        json.dumps(
            {
                "checkpoint": str(train / "checkpoints" / "best.ckpt"),
                "test_top1": 0.9871,
                "latency": {"hardware": "cpu", "unit": "ms", "measured": 1.234},
            }
        )
    )
    runs = collect_runs([sweep, train, evaluation])
    first = next(r for r in runs if r.folder == search.resolve())
    assert [t["test_acc"] for t in first.trained] == [0.9876]
    assert [e["test_top1"] for e in first.evaluated] == [0.9871]
    assert all(not r.trained for r in runs if r is not first)
    row = next(
        line for line in runs_table(runs, sweep.resolve()).splitlines() if line.startswith("| 0 |")
    )
    assert "| 98.76 |" in row and "1.23 ms (cpu)" in row


def test_matrix_says_when_a_column_mixes_calibrated_and_raw_prices() -> None:
    from hwnas.report.hardware_matrix import HardwareMatrix
    from hwnas.report.pricing import Price

    cached, timed = "cached table (calibrated)", "its ops timed now (raw sum)"
    matrix = HardwareMatrix(
        ["a", "b", "c"],
        ["1x28x28", "1x28x28", "3x224x224"],
        ["cpu", "gpu"],
        [
            [Price(1.0, "ms", cached), Price(None, "ms", "no gpu here")],
            [Price(2.0, "ms", timed), Price(None, "ms", "no gpu here")],
            [Price(9.0, "ms", timed), Price(None, "ms", "no gpu here")],
        ],
    )
    text = matrix.markdown()
    assert "| a | 1x28x28 | **1** |" in text and "| b | 1x28x28 | 2 |" in text
    assert "| c | 3x224x224 | **9** |" in text  # best of its own input
    assert f"- `cpu`: {cached} (a); {timed} (b, c)" in text
    assert "- `gpu`: not priced (no gpu here)" in text
