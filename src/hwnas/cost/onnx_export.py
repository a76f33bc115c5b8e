"""Export a module to ONNX (one input `input`, one output `output`) and check the export
against PyTorch with onnxruntime: how ops are measured outside PyTorch and how a derived
network is handed to a deployment runtime."""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from torch import nn

DEFAULT_OPSET = 17
INPUT_NAME, OUTPUT_NAME = "input", "output"


def _legacy_export(module: nn.Module, x: torch.Tensor, path: Path, opset: int) -> bool:
    """Export with the TorchScript-based exporter; False where this torch lacks it."""
    if "dynamo" not in inspect.signature(torch.onnx.export).parameters:
        return False
    with warnings.catch_warnings():
        # torch >= 2.9 warns that the legacy exporter is deprecated; it is still the one that
        # needs no onnxscript and gives plain single-file models of fixed shape.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            torch.onnx.export(
                module,
                (x,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        except (TypeError, NotImplementedError):  # dynamo=False refused by a future torch
            return False
    return True


def export_onnx(
    module: nn.Module, input_shape: tuple[int, ...], path: str | Path, opset: int = DEFAULT_OPSET
) -> Path:
    """Write `module` (in eval mode, float32, fixed input shape) as an ONNX model.

    Args:
        module: the module to export; it is switched to eval mode.
        input_shape: shape of its single input, e.g. (1, 3, 224, 224).
        path: the `.onnx` file to write (parent folders are created).
        opset: ONNX opset version.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = module.eval().float()
    x = torch.randn(input_shape)
    with torch.no_grad():
        if not _legacy_export(module, x, path, opset):
            torch.onnx.export(
                module,
                (x,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                opset_version=opset,
                external_data=False,
            )
    return path


def import_onnxruntime() -> ModuleType:
    """onnxruntime, or an ImportError that says how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(
            "onnxruntime is not installed; `pip install onnx onnxruntime` to measure or check "
            "ONNX models (hardware=onnxruntime, device-op export)"
        ) from None
    return onnxruntime


def check_onnx(
    path: str | Path, module: nn.Module, input_shape: tuple[int, ...], seed: int = 0
) -> float:
    """Largest absolute difference between onnxruntime running `path` and `module` (eval
    mode) on one random input of `input_shape`."""
    ort = import_onnxruntime()
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(input_shape, generator=generator)
    with torch.no_grad():
        expected = module.eval().float()(x).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})
    if got.shape != expected.shape:
        raise ValueError(
            f"{path}: onnxruntime output shape {got.shape} != PyTorch {expected.shape}"
        )
    return float(np.max(np.abs(got - expected))) if got.size else 0.0
