"""`run_eval(cfg)`: everything `python eval.py` does, callable from tests."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from hwnas.architecture.arch_file import Architecture
from hwnas.architecture.macs import count_macs
from hwnas.architecture.timm_model import resolve_architecture
from hwnas.cost.calibration import check_calibration_networks
from hwnas.cost.onnx_export import check_onnx, export_onnx
from hwnas.evaluation import latency_summary, load_trained_network, top_k_accuracy
from hwnas.util.files import write_json

log = logging.getLogger(__name__)


class OnnxMismatchError(RuntimeError):
    """The exported ONNX model disagrees with PyTorch beyond the tolerance."""


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _test_accuracy(
    cfg: DictConfig, arch: Architecture, model: torch.nn.Module, progress: bool
) -> dict[str, Any]:
    """Top-1 and top-5 on the test split of `cfg.dataset`, which must have the net's classes."""
    datamodule = instantiate(cfg.dataset)
    if datamodule.num_classes != arch.num_classes:
        raise ValueError(
            f"the checkpoint's network has {arch.num_classes} classes but the data set has "
            f"{datamodule.num_classes}: evaluate it on the data set it was trained for"
        )
    datamodule.setup("test")
    batches, device = datamodule.test_dataloader(), _device(cfg.device)
    dataset = batches.dataset
    images = f"{len(dataset):,}" if hasattr(dataset, "__len__") else "all its"
    log.info("Testing %s on the test split (%s images, on %s)", arch.name, images, device)
    accuracy = top_k_accuracy(
        model, batches, device, progress="test accuracy" if progress else None
    )
    log.info("Tested %s: top-1 %.4f, top-5 %.4f", arch.name, accuracy["top1"], accuracy["top5"])
    return {
        "test_top1": accuracy["top1"],
        "test_top5": accuracy["top5"],
        "test_images": accuracy["n"],
    }


def run_eval(cfg: DictConfig) -> dict[str, Any]:
    """Accuracy, size, latency and ONNX check of a `train.py` checkpoint; writes `eval.json`
    (before raising, if the ONNX check fails) and returns what it holds."""
    if not cfg.get("ckpt_path"):
        raise ValueError(
            "pass ckpt_path=<a train.py checkpoint, e.g. outputs/train/<run>/checkpoints/last.ckpt>"
        )
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    progress = bool(cfg.get("progress", True))
    if cfg.get("hardware"):  # before the accuracy pass, which may take minutes
        check_calibration_networks(cfg.hardware.cost_model.get("calibration_networks", 0))
    expected = resolve_architecture(cfg.arch) if cfg.get("arch") else None
    net = load_trained_network(cfg.ckpt_path, expected, cfg.weights)
    arch, model = net.arch, net.model
    summary: dict[str, Any] = {
        "checkpoint": str(cfg.ckpt_path),
        "architecture": arch.name,
        "weights": net.weights,
        "epoch": net.epoch,
    }
    if cfg.get("dataset"):
        summary |= _test_accuracy(cfg, arch, model, progress)
    model = model.cpu().float().eval()
    shape = (1, arch.in_channels, arch.input_size, arch.input_size)
    summary |= {
        "params": sum(p.numel() for p in model.parameters()),
        "macs": count_macs(model, shape),
    }
    if cfg.get("hardware"):
        summary["latency"] = latency_summary(
            cfg.hardware, arch, model, cfg.paths.get("cache_dir"), progress
        )
    failure = None
    if cfg.onnx.export:
        path = export_onnx(model, shape, out / "model.onnx", cfg.onnx.opset)
        diff = check_onnx(path, model, shape)
        summary["onnx"] = {
            "file": str(path),
            "max_abs_diff": diff,
            "tolerance": cfg.onnx.tolerance,
            "ok": diff <= cfg.onnx.tolerance,
        }
        print(
            f"ONNX export {path}: max abs difference from PyTorch {diff:.2e} "
            f"(tolerance {cfg.onnx.tolerance:.0e})"
        )
        if diff > cfg.onnx.tolerance:
            failure = OnnxMismatchError(
                f"{path}: onnxruntime differs from PyTorch by {diff:.3g}, "
                f"above onnx.tolerance={cfg.onnx.tolerance}"
            )
    write_json(out / "eval.json", summary)
    print(format_eval(summary))
    print(f"\nWrote {out / 'eval.json'}")
    if failure is not None:
        raise failure
    return summary


def format_eval(summary: dict[str, Any]) -> str:
    lines = [
        f"{summary['architecture']} ({summary['weights']} weights, epoch {summary['epoch']}): "
        f"{summary['params']:,} parameters, {summary['macs'] / 1e6:.1f} M multiply-adds"
    ]
    if "test_top1" in summary:
        lines.append(
            f"test top-1 {summary['test_top1']:.4f}, top-5 {summary['test_top5']:.4f} "
            f"({summary['test_images']} images)"
        )
    lat = summary.get("latency")
    if lat:
        measured = (
            f"measured {lat['measured']:.3f} {lat['unit']}"
            if lat["measured"]
            else f"not measured ({lat['why_not_measured']})"
        )
        lines.append(
            f"latency on {lat['hardware']}: {measured}; predicted {lat['predicted']:.3f} "
            f"{lat['unit']} by {lat['predicted_by']}"
        )
    return "\n".join(lines)
