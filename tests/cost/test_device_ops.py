"""Measuring on the user's own device: export the ops, time each ONNX file on the "board"
(onnxruntime here), fill the CSV, import a table; bad CSVs give errors that name the row."""

from __future__ import annotations

import csv
import json
import random

import pytest
import torch
from torch import nn

from hwnas.cost import LatencyTable, MalformedTableError, MissingLatencyError
from hwnas.cost.device_ops import COLUMNS, export_ops, import_results
from hwnas.cost.keys import op_key
from hwnas.cost.onnx_export import check_onnx, export_onnx
from hwnas.cost.op_modules import op_input_shape, op_module
from hwnas.cost.op_shapes import OpShape, space_ops
from hwnas.cost.profilers import OnnxRuntimeProfiler


def write_csv(path, rows: list[list], header: list[str] = COLUMNS):
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def exported(tiny_space, tmp_path):
    """Manifest path and manifest of the first three ops of the tiny space."""
    path = export_ops(space_ops(tiny_space)[:3], tmp_path / "ops", space_name="tiny")
    return path, json.loads(path.read_text())


def test_round_trip_over_the_tiny_space(tiny_space, tmp_path) -> None:
    ops = space_ops(tiny_space)
    manifest_path = export_ops(ops, tmp_path / "device", batch_size=1, space_name="tiny")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["space"] == "tiny" and manifest["batch_size"] == 1
    assert [e["key"] for e in manifest["ops"]] == [op_key(op) for op in ops]
    assert manifest["ops"][0]["file"].startswith("ops/000_")

    board = OnnxRuntimeProfiler(threads=1, warmup=1, min_run_time=0.01)
    rows = []
    for i, e in enumerate(manifest["ops"]):
        timing = board.time_onnx_file(manifest_path.parent / e["file"], tuple(e["input_shape"]))
        key = "" if i % 3 == 0 else e["key"]  # every third row matched by its file alone
        rows.append([key, e["file"], f"{timing.mean_ms:.6f}", f"{timing.std_ms:.6f}", timing.count])
    random.Random(0).shuffle(rows)
    results = write_csv(tmp_path / "results.csv", rows)

    table = import_results(
        manifest_path,
        results,
        device="test board",
        runtime="onnxruntime",
        runtime_version="1.x",
        threads=1,
    )
    assert set(table.entries) == set(ops)
    table.prepare(tiny_space)  # covers the space
    by_file = {e["file"]: OpShape(**e["op"]) for e in manifest["ops"]}
    for _, file, mean, std, count in rows:
        entry = table.entries[by_file[file]]
        assert (entry.mean_ms, entry.std_ms, entry.count) == (float(mean), float(std), count)
    fp = table.fingerprint
    assert (fp.device, fp.runtime, fp.threads, fp.batch_size) == ("test board", "onnxruntime", 1, 1)
    assert table.metadata["space"] == "tiny" and str(results) in table.metadata["source"]
    loaded = LatencyTable.load(table.save(tmp_path / "table.json"))
    assert loaded.entries == table.entries


def test_template_lists_every_op_with_empty_values(exported) -> None:
    path, manifest = exported
    with (path.parent / "results_template.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == COLUMNS
    assert [(r[0], r[1]) for r in rows[1:]] == [(e["key"], e["file"]) for e in manifest["ops"]]
    assert all(r[2:] == ["", "", ""] for r in rows[1:])
    assert all((path.parent / e["file"]).is_file() for e in manifest["ops"])


@pytest.mark.parametrize(
    ("mean", "problem"),
    [
        ("", "mean_ms is missing"),
        ("fast", "'fast' is not a number"),
        ("-1", "must be a finite number >= 0"),
    ],
)
def test_bad_mean_names_row_and_key(exported, tmp_path, mean, problem) -> None:
    path, manifest = exported
    keys = [e["key"] for e in manifest["ops"]]
    rows = [[keys[0], "", "1.0", "", ""], [keys[1], "", mean, "", ""], [keys[2], "", "2", "", ""]]
    with pytest.raises(MalformedTableError, match=problem) as err:
        import_results(path, write_csv(tmp_path / "r.csv", rows), "board", "tflite")
    assert "row 2" in str(err.value) and keys[1] in str(err.value)


def test_unknown_key_is_named(exported, tmp_path) -> None:
    path, manifest = exported
    bogus = "expanded_conv-input:9x9x9-output:9x9x9-expand:3-kernel:3-stride:1-idskip:0"
    rows = [[e["key"], "", "1", "", ""] for e in manifest["ops"]] + [[bogus, "", "1", "", ""]]
    with pytest.raises(MalformedTableError, match="row 4 .*is not an op of the manifest") as err:
        import_results(path, write_csv(tmp_path / "r.csv", rows), "board", "tflite")
    assert bogus in str(err.value)


def test_ops_without_a_row_are_listed(exported, tmp_path) -> None:
    path, manifest = exported
    keys = [e["key"] for e in manifest["ops"]]
    rows = [[keys[0], "", "1", "", ""]]
    with pytest.raises(MissingLatencyError, match="no row for 2 ops") as err:
        import_results(path, write_csv(tmp_path / "r.csv", rows), "board", "tflite")
    assert keys[1] in str(err.value) and keys[2] in str(err.value)


def test_missing_columns_are_named(exported, tmp_path) -> None:
    path, manifest = exported
    rows = [[e["key"], "1"] for e in manifest["ops"]]
    results = write_csv(tmp_path / "r.csv", rows, header=["key", "latency"])
    with pytest.raises(MalformedTableError, match=r"missing column\(s\) mean_ms"):
        import_results(path, results, "board", "tflite")


@pytest.mark.parametrize(
    ("second_row", "problem"),
    [
        (lambda k, f: [k[0], "", "1", "", ""], "a second row"),
        (lambda k, f: [k[1], f[0], "1", "", ""], "name different ops"),
        (lambda k, f: ["", "ops/nope.onnx", "1", "", ""], "'ops/nope.onnx' is not an op"),
        (lambda k, f: [k[1], "", "1", "", "2.5"], "count '2.5' must be a whole number"),
    ],
)
def test_inconsistent_rows_are_refused(exported, tmp_path, second_row, problem) -> None:
    path, manifest = exported
    keys, files = [e["key"] for e in manifest["ops"]], [e["file"] for e in manifest["ops"]]
    rows = [[keys[0], files[0], "1", "", ""], second_row(keys, files)]
    with pytest.raises(MalformedTableError, match=problem):
        import_results(path, write_csv(tmp_path / "r.csv", rows), "board", "tflite")


def _randomise_batch_norm(module: nn.Module) -> nn.Module:
    """Non-trivial running statistics, so that the check covers BN folding."""
    generator = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=generator))
            m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
    return module


@pytest.mark.parametrize("index", [0, 1, 4, -2, -1])  # stem, first block, an MBConv, head, logits
def test_exported_op_matches_pytorch(tiny_space, tmp_path, index) -> None:
    op = space_ops(tiny_space)[index]
    module = _randomise_batch_norm(op_module(op))
    shape = op_input_shape(op, 2)
    path = export_onnx(module, shape, tmp_path / "op.onnx")
    assert check_onnx(path, module, shape) < 1e-4


def test_the_export_folder_for_a_manifest_names_the_manifest(exported, tmp_path) -> None:
    """`import.manifest=<the export folder>` said "does not exist"."""
    path, _ = exported
    with pytest.raises(FileNotFoundError, match=f"{path.parent} is a folder, .*holds {path}: pass"):
        import_results(path.parent, tmp_path / "r.csv", "board", "tflite")
    with pytest.raises(FileNotFoundError, match=f"results CSV {tmp_path} is a folder"):
        import_results(path, tmp_path, "board", "tflite")
