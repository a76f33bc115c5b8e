"""Build timm `EfficientNet` models from architecture files, and register them with timm so
that `timm.create_model("proxyless_mobile")` or
`timm.create_model("hwnas_arch", arch_file="outputs/.../arch.yaml")` work after `import hwnas`.

The registered models come without pretrained weights: `pretrained=True` is refused, and
timm's `checkpoint_path=` loads weights of one's own."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from timm.models import register_model
from timm.models._efficientnet_builder import decode_arch_def
from timm.models.efficientnet import EfficientNet
from torch import nn

from hwnas.architecture.arch_file import Architecture

__all__ = ["build_timm_model", "published_arch_path", "resolve_architecture"]

# Published nets (REFERENCE A6) and the project's own, shipped with the package.
ARCH_DIR = Path(__file__).resolve().parent / "published"


def published_arch_path(name: str) -> Path:
    path = ARCH_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in ARCH_DIR.glob("*.yaml")) if ARCH_DIR.is_dir() else []
        raise FileNotFoundError(
            f"no architecture named {name!r} in {ARCH_DIR} (known: {known}); "
            "pass a path to an arch.yaml instead"
        )
    return path


def resolve_architecture(name_or_path: str | Path) -> Architecture:
    """An `Architecture` from a file path or the name of a published one (`ARCH_DIR`)."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        return Architecture.load(path)
    return Architecture.load(published_arch_path(str(name_or_path)))


def _same_channels(channels: int) -> int:
    return channels


def build_timm_model(
    arch: Architecture, num_classes: int | None = None, **kwargs: Any
) -> EfficientNet:
    """timm's EfficientNet for `arch` (ReLU6, BN eps from the file, no channel rounding).

    Extra keyword arguments go to `EfficientNet` (e.g. `drop_rate`, `drop_path_rate`).
    """
    kwargs.setdefault("drop_rate", float(arch.head.get("dropout", 0.0)))
    if int(arch.stem.get("kernel", 3)) != 3:  # an argument of recent timm releases only
        kwargs["stem_kernel_size"] = int(arch.stem["kernel"])
    model = EfficientNet(
        block_args=decode_arch_def(arch.arch_def()),
        num_classes=arch.num_classes if num_classes is None else num_classes,
        num_features=int(arch.head["channels"]),
        in_chans=arch.in_channels,
        stem_size=int(arch.stem["channels"]),
        fix_stem=True,
        act_layer=nn.ReLU6,
        norm_layer=partial(nn.BatchNorm2d, eps=arch.bn_eps),
        round_chs_fn=_same_channels,  # widths as the file has them; timm rounds to multiples of 8
        **kwargs,
    )
    stride = int(arch.stem.get("stride", 2))
    if stride != 2:  # timm's stem is always stride 2; 32x32 spaces use 1
        model.conv_stem.stride = (stride, stride)
    model.pretrained_cfg = {"input_size": (arch.in_channels, arch.input_size, arch.input_size)}
    return model


_FACTORY_KWARGS = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


def _published(
    name: str, pretrained: bool, model_name: str | None = None, **kwargs: Any
) -> EfficientNet:
    model_name = model_name or name
    if pretrained:
        raise ValueError(
            f"{model_name}: hwnas has no pretrained weights for the models it registers with "
            "timm, and pretrained=True would give random ones. Load weights of your own: "
            f"timm.create_model({model_name!r}, ..., checkpoint_path=PATH) reads a file written "
            "by torch.save(model.state_dict(), PATH), and "
            "hwnas.evaluation.load_trained_network(CKPT) rebuilds the net of a train.py checkpoint"
        )
    for key in _FACTORY_KWARGS:  # timm.create_model's own arguments, not the model's
        kwargs.pop(key, None)
    return build_timm_model(resolve_architecture(name), **kwargs)


@register_model
def hwnas_arch(pretrained: bool = False, arch_file: str = "", **kwargs: Any) -> EfficientNet:
    """Any architecture file: `timm.create_model("hwnas_arch", arch_file=PATH)`."""
    if not arch_file:
        raise ValueError("hwnas_arch needs arch_file=<path to an arch.yaml>")
    return _published(arch_file, pretrained, model_name="hwnas_arch", **kwargs)


@register_model
def proxyless_mobile(pretrained: bool = False, **kwargs: Any) -> EfficientNet:
    """ProxylessNAS-Mobile (REFERENCE A6): 4,080,512 parameters at 1,000 classes."""
    return _published("proxyless_mobile", pretrained, **kwargs)


@register_model
def proxyless_mobile_14(pretrained: bool = False, **kwargs: Any) -> EfficientNet:
    """ProxylessNAS-Mobile at width 1.4."""
    return _published("proxyless_mobile_14", pretrained, **kwargs)


@register_model
def proxyless_cpu(pretrained: bool = False, **kwargs: Any) -> EfficientNet:
    """ProxylessNAS-CPU."""
    return _published("proxyless_cpu", pretrained, **kwargs)


@register_model
def proxyless_gpu(pretrained: bool = False, **kwargs: Any) -> EfficientNet:
    """ProxylessNAS-GPU."""
    return _published("proxyless_gpu", pretrained, **kwargs)


@register_model
def proxyless_mobile_cifar(pretrained: bool = False, **kwargs: Any) -> EfficientNet:
    """ProxylessNAS-Mobile's ops in the 32x32 space (stem and first stage at stride 1)."""
    return _published("proxyless_mobile_cifar", pretrained, **kwargs)
