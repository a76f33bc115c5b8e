"""The calibration a table prices with is the one asked for: a count of networks that cannot
support a fit is refused, a cached fit on another count is measured again, and a validation's
fit that replaced it is used and named."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hwnas.cost import MeasuredLatencyModel
from hwnas.cost.cache import cached_table_path, load_or_build
from hwnas.cost.op_shapes import space_ops
from hwnas.cost.profilers import TorchCpuProfiler


def _profiler() -> TorchCpuProfiler:
    return TorchCpuProfiler(threads=1, warmup=2, min_run_time=0.02)


@pytest.mark.parametrize("networks", [1, 2, -1])
def test_too_few_calibration_networks_are_refused_at_start(
    tmp_path: Path, tiny_space, networks
) -> None:
    """`calibration_networks=1` was taken, and a cached table's 12-network fit used instead."""
    message = (
        rf"hardware.cost_model.calibration_networks={networks}: a calibration .* needs at "
        "least 3 of them .* or to 0 to price raw table sums"
    )
    with pytest.raises(ValueError, match=message):
        MeasuredLatencyModel(_profiler(), tmp_path, calibration_networks=networks)
    with pytest.raises(ValueError, match=message):
        load_or_build(_profiler(), tiny_space, tmp_path, calibration_networks=networks)


def test_a_cached_fit_on_other_networks_is_measured_again(
    tmp_path: Path, tiny_space, caplog: pytest.LogCaptureFixture
) -> None:
    load_or_build(_profiler(), tiny_space, tmp_path, progress=False, calibration_networks=4)
    with caplog.at_level("INFO"):
        model = MeasuredLatencyModel(_profiler(), tmp_path, progress=False, calibration_networks=5)
        model.prepare(tiny_space)
    assert model.table.calibration.networks == 5
    assert (
        "its calibration was fitted on 4 networks when it was built, and "
        "calibration_networks=5 was asked"
    ) in caplog.text
    ops = len(space_ops(tiny_space))
    seconds = _profiler().planned_seconds(ops + 5)  # ops and networks timed together
    assert (
        f"Measuring {ops} ops of tiny and 5 networks to calibrate it on "
        f"{_profiler().fingerprint().describe()}: about {seconds:.1f} s of timed "
        "runs"
    ) in caplog.text
    again = load_or_build(_profiler(), tiny_space, tmp_path, progress=False, calibration_networks=5)
    assert again.metadata["created"] == model.table.metadata["created"]  # the same: reused


def test_a_validation_fit_is_used_as_it_is_and_said_so(
    tmp_path: Path, tiny_space, caplog: pytest.LogCaptureFixture
) -> None:
    table = load_or_build(_profiler(), tiny_space, tmp_path, progress=False, calibration_networks=4)
    by_validate = dataclasses.replace(
        table.calibration, networks=25, fitted_by="by `python -m hwnas.cost validate`"
    )
    table.uncalibrated().calibrated(by_validate).save(
        cached_table_path(tmp_path, _profiler(), tiny_space)
    )
    with caplog.at_level("INFO"):
        again = load_or_build(
            _profiler(), tiny_space, tmp_path, progress=False, calibration_networks=4
        )
    assert again.calibration == by_validate
    assert (
        "The cached table's calibration was fitted on 25 networks by `python -m "
        "hwnas.cost validate`, not on the calibration_networks=4 asked for; it is used "
        "as it is (set hardware.cost_model.rebuild=true"
    ) in caplog.text
