"""The network pieces of a ProxylessNAS space, built from timm's EfficientNet blocks so that a
derived network and timm's `EfficientNet` share module types and parameter names."""

from __future__ import annotations

from functools import partial

from timm.layers import BatchNormAct2d, make_divisible
from timm.models._efficientnet_blocks import DepthwiseSeparableConv, InvertedResidual
from torch import nn

from hwnas.search_space.candidates import Candidate


def mid_channels(in_channels: int, expand: float) -> int:
    """Width of an MBConv's expanded (depthwise) part, rounded as timm rounds it."""
    return in_channels if expand == 1 else int(make_divisible(in_channels * expand))


def build_mbconv(
    cand: Candidate,
    in_channels: int,
    out_channels: int,
    stride: int,
    bn_eps: float,
    shortcut: bool = False,
) -> nn.Module:
    """MBConv: 1x1 expand + BN + ReLU6 (absent for expand 1), depthwise kxk + BN + ReLU6, 1x1
    projection + BN (REFERENCE A1); with `shortcut` the identity is added where the shapes
    allow it, as in timm (the supernet adds its shortcut itself)."""
    if cand.is_zero:
        raise ValueError("Zero has no module; it removes the layer")
    common = dict(
        dw_kernel_size=cand.kernel,
        stride=stride,
        noskip=not shortcut,
        act_layer=nn.ReLU6,
        norm_layer=partial(nn.BatchNorm2d, eps=bn_eps),
    )
    if cand.expand == 1:
        return DepthwiseSeparableConv(in_channels, out_channels, **common)
    return InvertedResidual(in_channels, out_channels, exp_ratio=cand.expand, **common)


def build_stem(
    in_channels: int, out_channels: int, kernel: int, stride: int, bn_eps: float
) -> tuple[nn.Conv2d, nn.Module]:
    """Conv kxk + BN + ReLU6, named as in timm (`conv_stem`, `bn1`)."""
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride, padding=kernel // 2, bias=False)
    return conv, BatchNormAct2d(out_channels, eps=bn_eps, act_layer=nn.ReLU6)


def build_head_conv(
    in_channels: int, out_channels: int, bn_eps: float
) -> tuple[nn.Conv2d, nn.Module]:
    """1x1 conv + BN + ReLU6 before pooling, named as in timm (`conv_head`, `bn2`)."""
    conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
    return conv, BatchNormAct2d(out_channels, eps=bn_eps, act_layer=nn.ReLU6)


def init_weights(module: nn.Module) -> None:
    """He init (fan out) for convs, unit BN, small linear: the original code's `he_fout`."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
