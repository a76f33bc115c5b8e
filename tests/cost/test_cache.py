"""Measured tables: built on first use, reused while the fingerprint matches, rebuilt when not."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from hwnas.cost import LatencyTable, MeasuredLatencyModel, build_cost_model
from hwnas.cost.cache import cached_table_path, fetch_table, load_or_build
from hwnas.cost.model import ExpectedCost
from hwnas.cost.op_shapes import fixed_ops, space_ops
from hwnas.cost.profilers import TorchCpuProfiler


def _profiler(threads: int = 1) -> TorchCpuProfiler:
    return TorchCpuProfiler(threads=threads, warmup=2, min_run_time=0.02)


def test_tiny_space_cpu_table_is_built_with_every_op_timed(tmp_path: Path, tiny_space) -> None:
    """Every op of the space gets an estimate, the fastest of its blocks (quantile 0, so never
    above their median), from at least one timed block in each of the 3 rounds."""
    table = load_or_build(_profiler(), tiny_space, tmp_path, progress=False)
    assert set(table.entries) == set(space_ops(tiny_space))
    assert all(0 < e.ms <= e.median_ms and e.count >= 3 for e in table.entries.values())
    fp = table.fingerprint
    assert fp.runtime == "torch-eager" and fp.threads == 1 and fp.batch_size == 1
    assert fp.runtime_version == torch.__version__
    assert table.metadata["space"] == "tiny" and table.metadata["build_seconds"] > 0


def test_matching_table_is_reused_and_a_fingerprint_mismatch_rebuilds(
    tmp_path: Path, tiny_space, caplog: pytest.LogCaptureFixture
) -> None:
    first = load_or_build(_profiler(), tiny_space, tmp_path, progress=False)
    again = load_or_build(_profiler(), tiny_space, tmp_path, progress=False)
    assert again.metadata["created"] == first.metadata["created"]
    assert again.entries == first.entries  # read back, not measured again

    # the same file now claims other hardware: it must not be reused
    path = cached_table_path(tmp_path, _profiler(), tiny_space)
    stale = LatencyTable.load(path)
    stale.metadata["fingerprint"]["device"] = "Another CPU"
    stale.save(path)
    with caplog.at_level("WARNING"):
        rebuilt = load_or_build(_profiler(), tiny_space, tmp_path, progress=False)
    assert "measured on Another CPU" in caplog.text
    assert rebuilt.fingerprint == _profiler().fingerprint()
    assert LatencyTable.load(path).fingerprint.device != "Another CPU"

    # other settings are another fingerprint, hence another table
    two = load_or_build(_profiler(threads=2), tiny_space, tmp_path, progress=False)
    assert two.path != rebuilt.path and two.fingerprint.threads == 2


def test_measured_model_prices_the_space_from_its_table(tmp_path: Path, tiny_space) -> None:
    model = MeasuredLatencyModel(_profiler(), cache_dir=tmp_path, progress=False)
    with pytest.raises(RuntimeError, match="prepare"):
        model.op_cost(space_ops(tiny_space)[0])
    model.prepare(tiny_space)
    low, high = ExpectedCost(model, tiny_space).bounds()
    assert 0 < low < high
    model.table.metadata["call_overhead_ms"] = 0.5  # paid once per network, not per op
    calibration = model.table.calibration  # measured = a + b x sum: b on every op, a once
    assert calibration is not None and calibration.networks == 12
    assert model.fixed_cost(tiny_space) == pytest.approx(
        sum(model.op_cost(op) for op in fixed_ops(tiny_space)) + calibration.apply(0.5)
    )


def test_hardware_table_accepts_a_path_or_url_and_checks_coverage(
    tmp_path: Path, tiny_space
) -> None:
    table = load_or_build(_profiler(), tiny_space, tmp_path, progress=False)
    lut = table.save(tmp_path / "lut.yaml", original_format=True)
    hardware = OmegaConf.create(
        {"name": "mobile", "table": lut.as_uri(), "cost_model": {"unit": "ms"}}
    )
    model = build_cost_model(hardware, tiny_space, tmp_path)
    op = space_ops(tiny_space)[1]
    assert model.op_cost(op) == pytest.approx(table.op_cost(op))
    assert fetch_table(lut.as_uri(), tmp_path).parent.name == "downloads"
    with pytest.raises(FileNotFoundError, match="hardware.table='nowhere.yaml': no such file"):
        fetch_table("nowhere.yaml", tmp_path)


def test_a_folder_for_a_table_names_the_tables_in_it(tmp_path: Path, tiny_space) -> None:
    """`hardware.table=<folder>` said "no such file"."""
    folder = tmp_path / "tables"
    folder.mkdir()
    with pytest.raises(FileNotFoundError, match=r"is a folder, not a file, and holds no \*\.json"):
        fetch_table(str(folder), tmp_path)
    table = LatencyTable({}, {}).save(folder / "pixel.yaml")
    with pytest.raises(
        FileNotFoundError,
        match=rf"^hardware.table='{folder}' is a folder, not a file; it holds {table}: pass that",
    ):
        fetch_table(str(folder), tmp_path)
    with pytest.raises(FileNotFoundError, match=rf"^latency table {folder} is a folder"):
        LatencyTable.load(folder)
