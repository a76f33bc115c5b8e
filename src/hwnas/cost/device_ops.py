"""Measure the ops of a search space on the user's own device (a phone, a board): export each
op as a small ONNX model with a manifest and a CSV template, time the models on the device
with its own tools, then import the filled CSV as a `LatencyTable`."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hwnas.cost.errors import MalformedTableError, MissingLatencyError, folder_message
from hwnas.cost.fingerprint import HardwareFingerprint
from hwnas.cost.keys import op_key
from hwnas.cost.onnx_export import DEFAULT_OPSET, export_onnx
from hwnas.cost.op_modules import op_input_shape, op_module
from hwnas.cost.op_shapes import OpShape
from hwnas.cost.table import LatencyEntry, LatencyTable, ops_hash

FORMAT = "hwnas-device-ops/1"
MANIFEST, TEMPLATE = "manifest.json", "results_template.csv"
COLUMNS = ["key", "file", "mean_ms", "std_ms", "count"]
SHOWN = 5


def _short_name(op: OpShape) -> str:
    """A file-name-safe summary of `op`, e.g. `mb_56x56x24_k5e3s2_c32` (input HxWxC, kernel,
    expand, stride, output channels)."""
    expand = f"{op.expand:g}".replace(".", "p")
    size = f"{op.input_size}x{op.input_size}x{op.in_channels}"
    if op.kind == "expanded_conv":
        skip = "_skip" if op.shortcut else ""
        return f"mb_{size}_k{op.kernel}e{expand}s{op.stride}_c{op.out_channels}{skip}"
    if op.kind == "logits":
        return f"logits_{size}_c{op.out_channels}"
    return f"{op.kind}_{size}_k{op.kernel}s{op.stride}_c{op.out_channels}"


def export_ops(
    ops: list[OpShape],
    out_dir: str | Path,
    batch_size: int = 1,
    space_name: str = "",
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Write each op as `ops/NNN_<short>.onnx` under `out_dir`, with `manifest.json` and a
    `results_template.csv` (columns key,file,mean_ms,std_ms,count) to fill on the device.

    Args:
        ops: the ops to measure, e.g. `space_ops(space)`.
        out_dir: folder to write (created).
        batch_size: batch of the exported inputs.
        space_name: recorded in the manifest and in the imported table.
        opset: ONNX opset (lower it for older device runtimes).

    Returns:
        The manifest's path.
    """
    out_dir = Path(out_dir)
    (out_dir / "ops").mkdir(parents=True, exist_ok=True)
    entries = []
    for index, op in enumerate(dict.fromkeys(ops)):
        file = f"ops/{index:03d}_{_short_name(op)}.onnx"
        shape = op_input_shape(op, batch_size)
        export_onnx(op_module(op), shape, out_dir / file, opset)
        entries.append(
            {
                "index": index,
                "key": op_key(op),
                "file": file,
                "input_shape": list(shape),
                "op": asdict(op),
            }
        )
    manifest = {
        "format": FORMAT,
        "space": space_name,
        "space_hash": ops_hash(ops),
        "batch_size": batch_size,
        "opset": opset,
        "input_name": "input",
        "output_name": "output",
        "dtype": "float32",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ops": entries,
    }
    with (out_dir / TEMPLATE).open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows([e["key"], e["file"], "", "", ""] for e in entries)
    path = out_dir / MANIFEST
    path.write_text(json.dumps(manifest, indent=1))
    return path


def _read_manifest(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise FileNotFoundError(folder_message(path, f"device-op manifest {path}", (MANIFEST,)))
    if not path.is_file():
        raise FileNotFoundError(f"device-op manifest {path} does not exist")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise MalformedTableError(f"device-op manifest {path} is not valid JSON: {err}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise MalformedTableError(
            f"{path} is not a device-op manifest (expected format {FORMAT!r})"
        )
    return manifest


def _value(raw: str | None, name: str, where: str, default: float | None = None) -> float:
    if raw is None or not raw.strip():
        if default is None:
            raise MalformedTableError(f"{where}: {name} is missing")
        return default
    try:
        value = float(raw)
    except ValueError:
        raise MalformedTableError(f"{where}: {name} {raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise MalformedTableError(f"{where}: {name} {raw!r} must be a finite number >= 0")
    return value


def _row_op(
    row: dict[str, str], where: str, by_key: dict[str, Any], by_file: dict[str, Any]
) -> dict[str, Any]:
    """The manifest entry a CSV row names, by `key` or by `file`."""
    key, file = (row.get("key") or "").strip(), (row.get("file") or "").strip()
    entry = by_key.get(key) if key else None
    if key and entry is None:
        raise MalformedTableError(f"{where}: key {key!r} is not an op of the manifest")
    if file:
        by_name = by_file.get(file) or by_file.get(Path(file).name)
        if by_name is None and entry is None:
            raise MalformedTableError(f"{where}: file {file!r} is not an op of the manifest")
        if entry is not None and by_name is not None and by_name is not entry:
            raise MalformedTableError(f"{where}: key {key!r} and file {file!r} name different ops")
        entry = entry or by_name
    if entry is None:
        raise MalformedTableError(f"{where}: neither key nor file is given")
    return entry


def _check_columns(columns: list[str], results_csv: Path) -> None:
    missing = [] if {"key", "file"} & set(columns) else ["key (or file)"]
    missing += [] if "mean_ms" in columns else ["mean_ms"]
    if missing:
        raise MalformedTableError(
            f"{results_csv}: missing column(s) {', '.join(missing)}; the header must be "
            f"{','.join(COLUMNS)} (std_ms and count may stay empty), found {columns}"
        )


def _row_entry(row: dict[str, str], where: str) -> LatencyEntry:
    mean = _value(row.get("mean_ms"), "mean_ms", where)
    std = _value(row.get("std_ms"), "std_ms", where, 0.0)
    count = _value(row.get("count"), "count", where, 1.0)
    if not count.is_integer() or count < 1:
        raise MalformedTableError(
            f"{where}: count {row.get('count')!r} must be a whole number >= 1"
        )
    return LatencyEntry(mean, std, int(count))


def _read_rows(results_csv: Path, manifest: dict[str, Any]) -> dict[str, LatencyEntry]:
    """LatencyEntry of each manifest key from the filled CSV."""
    ops = manifest["ops"]
    by_key = {e["key"]: e for e in ops}
    by_file = {e["file"]: e for e in ops} | {Path(e["file"]).name: e for e in ops}
    results = {}
    with results_csv.open(newline="") as f:
        reader = csv.DictReader(f)
        reader.fieldnames = [c.strip() for c in reader.fieldnames or []]
        _check_columns(reader.fieldnames, results_csv)
        for number, row in enumerate(reader, start=1):
            key, file = (row.get("key") or "").strip(), (row.get("file") or "").strip()
            name = f"key {key}" if key else f"file {file or '?'}"
            where = f"{results_csv} row {number} (line {reader.line_num}, {name})"
            op = _row_op(row, where, by_key, by_file)
            if op["key"] in results:
                raise MalformedTableError(f"{where}: a second row for op {op['key']}")
            results[op["key"]] = _row_entry(row, where)
    return results


def import_results(
    manifest_path: str | Path,
    results_csv: str | Path,
    device: str,
    runtime: str,
    runtime_version: str = "",
    threads: int = 0,
    dtype: str = "float32",
) -> LatencyTable:
    """A `LatencyTable` from the CSV the user filled on the device.

    Rows are matched to the manifest's ops by `key`, or by `file` where the key is empty.

    Args:
        manifest_path: the `manifest.json` written by `export_ops`.
        results_csv: the filled CSV (columns key,file,mean_ms,std_ms,count; std_ms and count
            may be empty).
        device / runtime / runtime_version / threads / dtype: what was measured, for the
            table's fingerprint (e.g. `Pixel 1`, `tflite`, `2.16`, 1).

    Raises:
        MalformedTableError: an unknown key or file, a missing or bad number, missing columns.
        MissingLatencyError: ops of the manifest without a row.
    """
    manifest_path, results_csv = Path(manifest_path), Path(results_csv)
    manifest = _read_manifest(manifest_path)
    if results_csv.is_dir():
        raise FileNotFoundError(
            folder_message(results_csv, f"results CSV {results_csv}", ("*.csv",))
        )
    if not results_csv.is_file():
        raise FileNotFoundError(f"results CSV {results_csv} does not exist")
    results = _read_rows(results_csv, manifest)
    missing = [e["key"] for e in manifest["ops"] if e["key"] not in results]
    if missing:
        more = f" and {len(missing) - SHOWN} more" if len(missing) > SHOWN else ""
        raise MissingLatencyError(
            f"{results_csv} has no row for {len(missing)} ops of {manifest_path}: "
            f"{', '.join(missing[:SHOWN])}{more}"
        )
    names = {f.name for f in fields(OpShape)}
    entries = {
        OpShape(**{k: v for k, v in e["op"].items() if k in names}): results[e["key"]]
        for e in manifest["ops"]
    }
    fingerprint = HardwareFingerprint(
        device, runtime, runtime_version, threads, int(manifest["batch_size"]), dtype
    )
    metadata = {
        "fingerprint": fingerprint.to_dict(),
        "space": manifest.get("space", ""),
        "space_hash": manifest.get("space_hash"),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": f"imported from {results_csv}",
    }
    return LatencyTable(entries, metadata)
