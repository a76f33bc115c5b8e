"""The composed `hardware` configs: each of the 5 choices gives the same keys and values,
in the same order, under search.yaml, eval.yaml and latency.yaml, whichever files under
conf/hardware/measured/ hold the keys they share; those files are no choice of their own."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from hwnas.cost.commands import run_command

CONF = Path(__file__).resolve().parents[2] / "conf"

EXPECTED = {
    "cpu": """\
name: cpu
cost_model:
  _target_: hwnas.cost.MeasuredLatencyModel
  profiler:
    _target_: hwnas.cost.profilers.TorchCpuProfiler
    batch_size: 1
    threads: 1
    warmup: 10
    min_run_time: 1.0
    rounds: 40
    quantile: 0.0
    min_span: 20.0
    channels_last: true
    dtype: float32
    keep_heap: true
  cache_dir: ${paths.cache_dir}
  rebuild: false
  progress: true
  calibration_networks: 12
  unit: ms
table: null
target: ${oc.select:recipe.targets.cpu.${.cost_model.unit},null}
""",
    "gpu": """\
name: gpu
cost_model:
  _target_: hwnas.cost.MeasuredLatencyModel
  profiler:
    _target_: hwnas.cost.profilers.CudaProfiler
    batch_size: 8
    warmup: 10
    min_run_time: 0.5
    rounds: 3
    quantile: 0.1
    channels_last: true
    dtype: float32
  cache_dir: ${paths.cache_dir}
  rebuild: false
  progress: true
  calibration_networks: 12
  unit: ms
table: null
target: ${oc.select:recipe.targets.gpu.${.cost_model.unit},null}
""",
    "onnxruntime": """\
name: onnxruntime
cost_model:
  _target_: hwnas.cost.MeasuredLatencyModel
  profiler:
    _target_: hwnas.cost.profilers.OnnxRuntimeProfiler
    batch_size: 1
    threads: 1
    warmup: 10
    min_run_time: 1.0
    rounds: 40
    quantile: 0.0
    min_span: 20.0
    opset: 17
  cache_dir: ${paths.cache_dir}
  rebuild: false
  progress: true
  calibration_networks: 12
  unit: ms
table: null
target: ${oc.select:recipe.targets.onnxruntime.${.cost_model.unit},null}
""",
    "mobile": """\
name: mobile
cost_model:
  _target_: hwnas.cost.mobile.MobileLatencyModel
  coefficients: null
  unit: ms
table: null
target: ${oc.select:recipe.targets.mobile.${.cost_model.unit},null}
""",
    "flops": """\
name: flops
cost_model:
  _target_: hwnas.cost.FlopsCostModel
  unit: MMACs
target: ${oc.select:recipe.targets.flops.${.cost_model.unit},null}
""",
}


def _hardware(primary: str, *overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=primary, overrides=list(overrides))


@pytest.mark.parametrize("primary", ["search", "eval", "latency"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_choice_composes_to_its_keys_and_values(primary: str, name: str) -> None:
    cfg = _hardware(primary, f"hardware={name}")
    assert OmegaConf.to_yaml(cfg.hardware, resolve=False) == EXPECTED[name]


def test_overrides_reach_the_shared_keys() -> None:
    cfg = _hardware(
        "search",
        "hardware=onnxruntime",
        "hardware.cost_model.profiler.threads=0",
        "hardware.cost_model.unit=us",
    )
    hardware = OmegaConf.to_container(cfg.hardware, resolve=True)
    assert hardware["cost_model"]["profiler"]["threads"] == 0
    assert hardware["cost_model"]["unit"] == "us" and hardware["target"] is None


@pytest.mark.parametrize("shared", ["measured/base", "measured/cpu_timing"])
def test_shared_keys_are_no_choice(shared: str, tmp_path: Path) -> None:
    cfg = _hardware(
        "latency", f"hardware={shared}", "command=build", f"paths.output_dir={tmp_path}"
    )
    assert OmegaConf.is_missing(cfg.hardware, "name")
    with pytest.raises(ValueError, match="hardware.name is unset: conf/hardware/measured/") as err:
        run_command(cfg)
    assert "choose one of hardware=cpu, flops, gpu, mobile, onnxruntime" in str(err.value)
