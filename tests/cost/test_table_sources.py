"""A table given by URL follows its source, duplicate keys are refused, and
a corrupted cached table is measured again instead of stopping the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwnas.cost import LatencyTable
from hwnas.cost.cache import cached_table_path, fetch_table, load_or_build
from hwnas.cost.errors import MalformedTableError
from hwnas.cost.keys import op_key
from hwnas.cost.op_shapes import space_ops
from hwnas.cost.profilers import TorchCpuProfiler


def _original_table(ops, ms: float) -> str:
    return "".join(f"{op_key(op)}:\n  count: 1\n  mean: {ms}\n  var: 0.0\n" for op in ops)


def test_a_table_by_url_follows_edits_at_the_source(tmp_path: Path, tiny_space, caplog) -> None:
    source = tmp_path / "lut.yaml"
    ops = sorted(space_ops(tiny_space), key=op_key)
    source.write_text(_original_table(ops, 1.0))
    first = LatencyTable.load(fetch_table(source.as_uri(), tmp_path / "cache"))
    source.write_text(_original_table(ops, 2.0))  # the source is updated
    second = LatencyTable.load(fetch_table(source.as_uri(), tmp_path / "cache"))
    assert {e.ms for e in first.entries.values()} == {1.0}
    assert {e.ms for e in second.entries.values()} == {2.0}
    source.unlink()  # the source is gone: the cached copy, said so
    with caplog.at_level("WARNING"):
        third = LatencyTable.load(fetch_table(source.as_uri(), tmp_path / "cache"))
    assert {e.ms for e in third.entries.values()} == {2.0}
    assert "using the copy downloaded at" in caplog.text


def test_duplicate_keys_are_refused(tmp_path: Path, tiny_space) -> None:
    op = sorted(space_ops(tiny_space), key=op_key)[0]
    path = tmp_path / "lut.yaml"
    path.write_text(_original_table([op, op], 1.0))
    with pytest.raises(MalformedTableError, match=f"{op_key(op)}' appears twice"):
        LatencyTable.load(path)


def test_a_corrupted_cached_table_is_measured_again(tmp_path: Path, tiny_space, caplog) -> None:
    profiler = TorchCpuProfiler(threads=1, warmup=2, min_run_time=0.02)
    path = cached_table_path(tmp_path, profiler, tiny_space)
    path.parent.mkdir(parents=True)
    path.write_text('{"format": "hwnas-latency-table/1", "entries": [')  # cut short
    with caplog.at_level("WARNING"):
        table = load_or_build(profiler, tiny_space, tmp_path, progress=False)
    assert "cannot be read" in caplog.text
    assert set(table.entries) == set(space_ops(tiny_space))
    assert LatencyTable.load(path).entries.keys() == table.entries.keys()


def test_measuring_a_table_leaves_the_seeded_generators_alone(tmp_path: Path, tiny_space) -> None:
    """Case 8: the run that measured the table derived another architecture than the runs
    that later found it in the cache."""
    import random

    import numpy as np
    import torch

    def draws() -> tuple:
        return torch.rand(3).tolist(), np.random.rand(2).tolist(), random.random()

    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    expected = draws()
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    load_or_build(
        TorchCpuProfiler(threads=1, warmup=2, min_run_time=0.02),
        tiny_space,
        tmp_path,
        progress=False,
        calibration_networks=4,
    )  # networks draw weights when built
    assert draws() == expected
