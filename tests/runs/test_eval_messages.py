"""What eval.py says: a folder for a file names the file to pass, settings that cannot work
are refused before any work, and timing a network says what it times, for how long, and the
figure."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from hwnas.architecture import build_timm_model, resolve_architecture
from hwnas.cost.op_shapes import architecture_ops
from hwnas.cost.profilers import TorchCpuProfiler
from hwnas.evaluation import latency_summary
from hwnas.runs.eval_run import run_eval

CONF = str(Path(__file__).resolve().parents[2] / "conf")
ARCH = Path(__file__).resolve().parents[2] / "src" / "hwnas" / "architecture" / "published"
FAST_CPU = [
    "hardware=cpu",
    "hardware.cost_model.profiler.min_run_time=0.02",
    "hardware.cost_model.profiler.min_span=0.3",
    "hardware.cost_model.profiler.rounds=2",
    "hardware.cost_model.profiler.warmup=2",
    "hardware.cost_model.progress=false",
]


def eval_cfg(out: Path, *overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="eval", overrides=["dataset=synthetic", *FAST_CPU, *overrides])
    with open_dict(cfg):
        cfg.paths.output_dir = str(out / "eval")
        cfg.paths.cache_dir = str(out / "cache")
    return cfg


def test_a_run_folder_as_ckpt_path_names_the_checkpoint_to_pass(tmp_path: Path) -> None:
    """`ckpt_path=outputs/train/<run>` said "checkpoint not found"."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=f"{run} is a folder, .*holds no .ckpt file"):
        run_eval(eval_cfg(tmp_path, f"ckpt_path={run}"))
    for name in ("epoch=1-step=8.ckpt", "last.ckpt"):
        (run / "checkpoints" / name).write_bytes(b"")
    with pytest.raises(
        FileNotFoundError,
        match=rf"^{run} is a folder, not a checkpoint; pass the file {run}/checkpoints/last.ckpt "
        r"\(it holds 2: checkpoints/epoch=1-step=8.ckpt, checkpoints/last.ckpt\)$",
    ):
        run_eval(eval_cfg(tmp_path, f"ckpt_path={run}"))


def test_a_run_folder_as_arch_names_its_arch_yaml(tmp_path: Path) -> None:
    run = tmp_path / "search"
    run.mkdir()
    (run / "arch.yaml").write_text((ARCH / "tiny.yaml").read_text())
    with pytest.raises(FileNotFoundError, match=f"holds {run / 'arch.yaml'}: pass that file"):
        run_eval(eval_cfg(tmp_path, f"ckpt_path={tmp_path / 'x.ckpt'}", f"arch={run}"))


def test_too_few_calibration_networks_are_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="calibration_networks=1: a calibration .* at least 3"):
        run_eval(
            eval_cfg(
                tmp_path,
                f"ckpt_path={tmp_path / 'x.ckpt'}",
                "hardware.cost_model.calibration_networks=1",
            )
        )


def test_a_measurement_takes_about_its_span() -> None:
    profiler = TorchCpuProfiler(min_run_time=1.0, min_span=20.0)
    assert profiler.planned_seconds(1) == 20.0  # a network alone spans min_span
    assert profiler.planned_seconds(50) == 50.0  # many modules: min_run_time each


def test_timing_says_what_it_times_for_how_long_and_the_figure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """eval.py timed a network for about 20 s without a word."""
    arch = resolve_architecture("tiny")
    model = build_timm_model(arch).eval()
    hardware = eval_cfg(tmp_path, "ckpt_path=x").hardware
    with caplog.at_level("INFO"):
        figures = latency_summary(hardware, arch, model, tmp_path / "cache", progress=False)
    device = TorchCpuProfiler(threads=1, rounds=2).fingerprint().describe()
    started = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Timing tiny")]
    ops = len(architecture_ops(arch))
    assert started == [
        f"Timing tiny end to end beside its {ops} ops (no cached table prices "
        f"them) on {device}: about 0.3 s of timed runs in 2 rounds"
    ]
    done = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Timed tiny: ")]
    assert len(done) == 1 and f"{figures['measured']:.3f} ms end to end (" in done[0]
