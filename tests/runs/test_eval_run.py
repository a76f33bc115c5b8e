"""eval.py on a checkpoint of a tiny train.py run: accuracy, size, latency, ONNX, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from hwnas.architecture.macs import count_macs
from hwnas.evaluation import load_trained_network
from hwnas.runs.eval_run import run_eval
from hwnas.runs.train_run import run_train

CONF = str(Path(__file__).resolve().parents[2] / "conf")
FAST_CPU = [
    "hardware=cpu",
    "hardware.cost_model.profiler.min_run_time=0.05",
    "hardware.cost_model.profiler.min_span=0",
    "hardware.cost_model.profiler.rounds=2",
    "hardware.cost_model.profiler.warmup=2",
]
TINY_DATA = [
    "dataset=synthetic",
    "dataset.input_size=16",
    "dataset.num_classes=4",
    "dataset.train_size=256",
    "dataset.test_size=64",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("train")
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="train", overrides=["debug=train_fast"])
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
    run_train(cfg)
    return out / "checkpoints" / "last.ckpt"


def eval_cfg(out: Path, *overrides: str) -> DictConfig:
    hardware = [] if any(o.startswith(("hardware=", "~hardware")) for o in overrides) else FAST_CPU
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="eval", overrides=[*TINY_DATA, *hardware, *overrides])
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
    return cfg


def test_eval_reports_every_figure_and_checks_onnx(trained: Path, tmp_path: Path) -> None:
    figures = run_eval(eval_cfg(tmp_path, f"ckpt_path={trained}"))
    written = json.loads((tmp_path / "eval.json").read_text())
    assert written == figures
    assert figures["weights"] == "ema"  # the debug run keeps an EMA; auto takes it
    assert figures["test_images"] == 64 and 0 <= figures["test_top1"] <= figures["test_top5"] == 1
    net = load_trained_network(trained)
    assert figures["macs"] == count_macs(net.model, (1, 3, 16, 16))
    latency = figures["latency"]
    assert latency["hardware"] == "cpu" and latency["measured"] > 0 and latency["predicted"] > 0
    ratio = latency["predicted"] / latency["measured"]
    assert latency["predicted_over_measured"] == pytest.approx(ratio)
    assert figures["onnx"]["ok"] and figures["onnx"]["max_abs_diff"] < 1e-4
    assert (tmp_path / "model.onnx").is_file()


@pytest.mark.slow  # two timings of this machine: how close they come depends on its load
def test_the_table_of_the_nets_ops_predicts_its_measured_latency(
    trained: Path, tmp_path: Path
) -> None:
    figures = run_eval(eval_cfg(tmp_path, f"ckpt_path={trained}", "onnx.export=false"))
    assert 0.2 < figures["latency"]["predicted_over_measured"] < 5


def test_phone_latency_is_predicted_not_measured(trained: Path, tmp_path: Path) -> None:
    figures = run_eval(
        eval_cfg(
            tmp_path,
            f"ckpt_path={trained}",
            "hardware=mobile",
            "onnx.export=false",
            "weights=model",
        )
    )
    assert figures["weights"] == "model"
    assert figures["latency"]["measured"] is None and figures["latency"]["predicted"] > 0
    assert "no device" in figures["latency"]["why_not_measured"]


def test_onnx_beyond_tolerance_fails_after_writing_eval_json(trained: Path, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="onnx.tolerance"):
        run_eval(eval_cfg(tmp_path, f"ckpt_path={trained}", "~hardware", "onnx.tolerance=0"))
    assert json.loads((tmp_path / "eval.json").read_text())["onnx"]["ok"] is False


def test_mismatches_are_named(trained: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="holds architecture 'tiny'"):
        run_eval(eval_cfg(tmp_path, f"ckpt_path={trained}", "arch=proxyless_mobile_cifar"))
    with pytest.raises(ValueError, match="4 classes but the data set has 10"):
        run_eval(eval_cfg(tmp_path, f"ckpt_path={trained}", "dataset.num_classes=10"))
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        run_eval(eval_cfg(tmp_path, f"ckpt_path={tmp_path / 'none.ckpt'}"))
    with pytest.raises(ValueError, match="weights=ema"):
        bare = tmp_path / "bare.ckpt"
        import torch

        data = torch.load(trained, weights_only=False)
        data["state_dict"] = {k: v for k, v in data["state_dict"].items() if k.startswith("model.")}
        torch.save(data, bare)
        run_eval(eval_cfg(tmp_path, f"ckpt_path={bare}", "weights=ema"))


def test_eval_predicts_with_the_calibrated_table_a_search_here_used(
    trained: Path, tmp_path: Path, load_space
) -> None:
    """eval.py compares the measurement with the calibrated latency the search reported, not
    with a raw sum of the net's ops."""
    from hwnas.cost.cache import load_or_build
    from hwnas.cost.profilers import TorchCpuProfiler

    space = load_space("tiny", in_channels=3, input_size=16, num_classes=4)
    profiler = TorchCpuProfiler(warmup=2, min_run_time=0.05, rounds=2)  # FAST_CPU's settings
    table = load_or_build(
        profiler, space, tmp_path / "cache", progress=False, calibration_networks=4
    )
    figures = run_eval(
        eval_cfg(
            tmp_path,
            f"ckpt_path={trained}",
            "onnx.export=false",
            f"paths.cache_dir={tmp_path / 'cache'}",
        )
    )
    latency = figures["latency"]
    assert latency["predicted_by"].startswith(f"the cached table {table.path} (calibrated: ")
    assert latency["predicted"] == pytest.approx(table.calibration.apply(latency["table_sum"]))


def test_eval_says_what_it_tests_and_times(
    trained: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The accuracy pass and the timing ran without a sign of life."""
    with caplog.at_level("INFO"):
        figures = run_eval(
            eval_cfg(tmp_path, f"ckpt_path={trained}", "onnx.export=false", "progress=false")
        )
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("Testing tiny on the test split (64 images, on ") for m in messages)
    assert f"Tested tiny: top-1 {figures['test_top1']:.4f}, top-5 1.0000" in messages
    assert any(
        m.startswith("Timing tiny end to end") and "of timed runs in 2 rounds" in m
        for m in messages
    )
    assert any(
        m.startswith(f"Timed tiny: {figures['latency']['measured']:.3f} ms") for m in messages
    )
