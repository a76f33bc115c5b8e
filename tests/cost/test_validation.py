"""Validation of a measured table against end-to-end latency on a tiny space."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from hwnas.cost import LatencyTable, MeasuredLatencyModel
from hwnas.cost.commands import run_command
from hwnas.cost.profilers import TorchCpuProfiler
from hwnas.cost.validation import (
    Agreement,
    fit_linear,
    format_report,
    kendall_tau,
    sample_architectures,
    validate_latency,
)

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def test_statistics_on_known_values() -> None:
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert fit_linear([1, 2, 3], [3, 5, 7]) == pytest.approx((1.0, 2.0))
    a = Agreement.of([1.0, 1.04, 1.2], [1.0, 1.0, 1.0])
    assert (a.within_5pct, a.within_10pct) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert a.mean_abs_pct_error == pytest.approx(8.0)


def test_sampled_architectures_are_distinct_and_legal(tiny_space) -> None:
    archs = sample_architectures(tiny_space, 20, seed=1)
    assert len({tuple(a) for a in archs}) == 20
    assert all(0 <= i < n for a in archs for i, n in zip(a, tiny_space.num_candidates, strict=True))
    assert sample_architectures(tiny_space, 20, seed=1) == archs
    with pytest.raises(ValueError, match="has only"):
        sample_architectures(tiny_space, 10_000)


def test_validation_on_a_tiny_space_reports_its_figures(tmp_path: Path, tiny_space) -> None:
    profiler = TorchCpuProfiler(warmup=2, min_run_time=0.02)
    model = MeasuredLatencyModel(profiler, cache_dir=tmp_path, progress=False)
    model.prepare(tiny_space)
    report = validate_latency(model, profiler, tiny_space, num_archs=8, progress=False)
    assert (report.n, report.fit_n, len(report.rows)) == (8, 4, 8)
    for agreement in (report.raw, report.corrected, report.stored):
        assert agreement.n == 4
        assert 0 <= agreement.within_5pct <= agreement.within_10pct <= 1
        assert -1 <= agreement.kendall_tau <= 1 and agreement.mean_abs_pct_error >= 0
    assert all(r["measured_ms"] > 0 and r["predicted_ms"] > 0 for r in report.rows)
    assert report.slope > 0  # bigger tables sums, slower networks
    text = format_report(report)
    assert "| table sum |" in text and "| corrected (refit here) |" in text
    assert "| stored calibration (no refit) |" in text and "tau of multiply-adds" in text
    assert "calibrated: measured = " in report.stored_calibration and not report.calibration_stored


def _compose(*overrides: str):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="latency", overrides=list(overrides))


def test_validate_command_writes_its_report(tmp_path: Path) -> None:
    cfg = _compose(
        "command=validate",
        "search_space=tiny",
        "input.size=16",
        "input.classes=4",
        f"paths.output_dir={tmp_path}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        "hardware.cost_model.profiler.min_run_time=0.02",
        "hardware.cost_model.profiler.min_span=0",
        "hardware.cost_model.progress=false",
        "validate.num_archs=6",
    )
    text = run_command(cfg)
    assert "Latency validation of tiny" in text
    report = json.loads((tmp_path / "validation.json").read_text())
    assert report["n"] == 6 and len(report["rows"]) == 6
    # the ops were measured again beside the networks, and that table is the cached one now
    (cached,) = (tmp_path / "cache" / "latency").glob("tiny-torch-eager-*.json")
    assert LatencyTable.load(cached).fingerprint.runtime == "torch-eager"


def test_validate_refuses_a_model_without_a_device(tmp_path: Path) -> None:
    cfg = _compose("command=validate", "hardware=mobile", f"paths.output_dir={tmp_path}")
    with pytest.raises(ValueError, match="hardware=mobile has no profiler"):
        run_command(cfg)
