"""LatencyTable: both file formats round-trip; bad files and missing ops give clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwnas.cost import (
    HardwareFingerprint,
    LatencyEntry,
    LatencyTable,
    MalformedTableError,
    MissingLatencyError,
)
from hwnas.cost.keys import op_key, parse_key
from hwnas.cost.op_shapes import OpShape, space_ops

FP = HardwareFingerprint("Test CPU", "torch-eager", "2.x", 1, 1, "float32", {"channels_last": True})


def _table(space) -> LatencyTable:
    entries = {
        op: LatencyEntry(0.1 + i / 7, 0.01 * i, 100 + i, 0.1 + i / 8, 0.1 + i / 9)
        for i, op in enumerate(space_ops(space))
    }
    return LatencyTable(entries, {"fingerprint": FP.to_dict(), "space": space.name})


def test_original_keys_of_the_paper_parse_to_ops_and_back() -> None:
    for key in [
        "expanded_conv-input:112x112x16-output:56x56x24-expand:3-kernel:5-stride:2-idskip:0",
        "Conv-input:224x224x3-output:112x112x32",
        "Conv_1-input:7x7x320-output:7x7x1280",
        "Logits-input:7x7x1280-output:1000",
    ]:
        op = parse_key(key)
        assert op is not None and op_key(op) == key
    op = parse_key(
        "expanded_conv-input:14x14x80-output:14x14x80-expand:6-kernel:7-stride:1-idskip:1"
    )
    assert op == OpShape("expanded_conv", 14, 80, 80, 7, 1, 6.0, True)
    # Once-for-All's MobileNetV3 layers are not ops of this project's spaces
    assert (
        parse_key(
            "expanded_conv-input:7x7x160-output:7x7x160-expand:6-kernel:5-stride:1-idskip:1-se:1-hs:1"
        )
        is None
    )


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_native_round_trip_keeps_entries_and_metadata(tmp_path: Path, tiny_space, suffix) -> None:
    table = _table(tiny_space)
    loaded = LatencyTable.load(table.save(tmp_path / f"t{suffix}"))
    assert loaded.entries == table.entries
    assert loaded.fingerprint == FP
    assert loaded.metadata["space"] == "tiny"


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_original_format_round_trip(tmp_path: Path, tiny_space, suffix) -> None:
    table = _table(tiny_space)
    path = table.save(tmp_path / f"lut{suffix}", original_format=True)
    data = json.loads(path.read_text()) if suffix == ".json" else None
    if data is not None:  # entries keyed as in the ProxylessNAS repository
        first = op_key(space_ops(tiny_space)[0])
        assert set(data[first]) == {"count", "mean", "var"}
    loaded = LatencyTable.load(path)
    assert set(loaded.entries) == set(table.entries)
    for op, entry in table.entries.items():
        assert loaded.op_cost(op) == pytest.approx(entry.ms)  # the estimate is kept as `mean`
        assert loaded.entries[op].std_ms == pytest.approx(entry.std_ms)
        assert loaded.entries[op].count == entry.count


def test_table_prices_ops_and_a_space_it_covers(tiny_space) -> None:
    table = _table(tiny_space)
    table.prepare(tiny_space)
    op = space_ops(tiny_space)[3]
    assert table.op_cost(op) == table.entries[op].estimate_ms
    assert table.set_unit("us").op_cost(op) == pytest.approx(1000 * table.entries[op].estimate_ms)


def test_missing_key_names_the_op_and_how_to_rebuild(tiny_space) -> None:
    table = _table(tiny_space)
    op = space_ops(tiny_space)[2]
    del table.entries[op]
    with pytest.raises(MissingLatencyError, match="no latency for 1 ops") as err:
        table.prepare(tiny_space)
    assert op_key(op) in str(err.value)
    assert "python -m hwnas.cost build" in str(err.value)
    with pytest.raises(MissingLatencyError, match=op_key(op)):
        table.op_cost(op)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "Conv-input:224x224x3-output:112x112x32: {count: 1, mean: fast, var: 0}",
            "mean 'fast' is not a number",
        ),
        ("Conv-input:224x224x3-output:112x112x32: 3.0", "expected a mapping"),
        (
            "expanded_conv-input:112x112x16-output:56x56x24-kernel:5-stride:2-idskip:0: {mean: 1}",
            "no 'expand' field",
        ),
        ("Conv-input:224x224-output:112x112x32: {mean: 1}", "is not HxWxC"),
        ("Conv-input:224x224x3-output:112x112x32: {mean: -1}", "finite number >= 0"),
        ("[1, 2]", "must hold a mapping"),
        ("a: [b", "not valid JSON/YAML"),
    ],
)
def test_malformed_original_table_names_the_bad_entry(tmp_path: Path, content, message) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(MalformedTableError, match=message):
        LatencyTable.load(path)


def test_malformed_native_entry_names_its_index(tmp_path: Path, tiny_space) -> None:
    path = _table(tiny_space).save(tmp_path / "t.json")
    data = json.loads(path.read_text())
    del data["entries"][2]["out_channels"]
    path.write_text(json.dumps(data))
    with pytest.raises(MalformedTableError, match="entry 2 .*out_channels"):
        LatencyTable.load(path)
