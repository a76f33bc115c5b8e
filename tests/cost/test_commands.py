"""`python -m hwnas.cost` commands through the composed config: build, export -> time on
"the device" -> import -> search with the table."""

from __future__ import annotations

import csv
import json
import runpy
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from hwnas.cost import LatencyTable
from hwnas.cost.commands import run_command
from hwnas.cost.profilers import OnnxRuntimeProfiler

ROOT = Path(__file__).resolve().parents[2]
TINY = ["search_space=tiny", "input.size=16", "input.classes=4"]


def _compose(tmp_path: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(
            config_name="latency",
            overrides=[
                *TINY,
                f"paths.output_dir={tmp_path}",
                f"paths.cache_dir={tmp_path / 'cache'}",
                *overrides,
            ],
        )


def test_build_reports_the_table_and_the_latency_range(tmp_path: Path) -> None:
    cfg = _compose(
        tmp_path,
        "command=build",
        "hardware.cost_model.profiler.min_run_time=0.02",
        "hardware.cost_model.profiler.min_span=0",
        "hardware.cost_model.progress=false",
    )
    text = run_command(cfg)
    assert "tiny on hardware=cpu: 20 ops, table" in text and "latency of its architectures" in text
    assert len(list((tmp_path / "cache" / "latency").glob("tiny-torch-eager-*.json"))) == 1


def test_export_then_import_gives_a_table_the_search_can_use(tmp_path: Path, tiny_space) -> None:
    out = tmp_path / "ops"
    run_command(_compose(tmp_path, "command=export", f"export.out={out}"))
    manifest = json.loads((out / "manifest.json").read_text())
    board = OnnxRuntimeProfiler(warmup=1, min_run_time=0.01, rounds=1)
    with open(out / "results_template.csv") as f:
        rows = list(csv.DictReader(f))
    for row, op in zip(rows, manifest["ops"], strict=True):
        row["mean_ms"] = (
            f"{board.time_onnx_file(out / row['file'], tuple(op['input_shape'])).ms:.5f}"
        )
    measured = tmp_path / "measured.csv"
    with open(measured, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    table_path = tmp_path / "board.yaml"
    text = run_command(
        _compose(
            tmp_path,
            "command=import",
            f"import.manifest={out / 'manifest.json'}",
            f"import.results={measured}",
            "import.device=test board",
            "import.runtime=onnxruntime",
            f"import.out={table_path}",
            "import.original_format=true",
        )
    )
    assert "hardware.table=" in text
    table = LatencyTable.load(table_path)  # the original ProxylessNAS format
    assert len(table.entries) == len(manifest["ops"]) == 20
    assert {f"{e.ms:.5f}" for e in table.entries.values()} <= {r["mean_ms"] for r in rows}
    table.prepare(tiny_space)  # covers every op of the space


def test_module_entry_point_names_the_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m hwnas.cost frobnicate`, run in this process (a fresh interpreter runs it in
    tests/test_commands_anywhere.py): it exits with the usage, which names the commands."""
    monkeypatch.setattr(sys, "argv", ["python -m hwnas.cost", "frobnicate"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("hwnas.cost", run_name="__main__", alter_sys=True)
    message = exited.value.code  # a string: Python prints it to stderr and exits with 1
    assert isinstance(message, str)
    assert "build,validate,export,import,fit-mobile" in message and "frobnicate" in message
