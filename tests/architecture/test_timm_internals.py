"""The private timm internals hwnas builds on: every name it imports from
`timm.models._efficientnet_builder` and `timm.models._efficientnet_blocks`, the keywords it passes
them and the behaviour it relies on. A failure names what changed in timm; pyproject.toml bounds
timm to the major version checked here."""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import version
from pathlib import Path

import pytest
import timm
import torch
from packaging.requirements import Requirement
from torch import nn

ROOT = Path(__file__).resolve().parents[2]

# (module, name, keywords hwnas passes) for every private name hwnas imports; the users are
# hwnas.architecture.timm_model (builder) and hwnas.search_space.blocks (blocks).
BLOCK_KEYWORDS = [
    "in_chs",
    "out_chs",
    "dw_kernel_size",
    "stride",
    "noskip",
    "act_layer",
    "norm_layer",
]
BLOCKS = "timm.models._efficientnet_blocks"
PRIVATE = [
    ("timm.models._efficientnet_builder", "decode_arch_def", ["arch_def"]),
    (BLOCKS, "DepthwiseSeparableConv", BLOCK_KEYWORDS),
    (BLOCKS, "InvertedResidual", [*BLOCK_KEYWORDS, "exp_ratio"]),
]
# What hwnas.architecture.timm_model.build_timm_model passes to timm's EfficientNet.
EFFICIENTNET_KEYWORDS = [
    "block_args",
    "num_classes",
    "num_features",
    "in_chans",
    "stem_size",
    "fix_stem",
    "act_layer",
    "norm_layer",
    "round_chs_fn",
    "drop_rate",
    "drop_path_rate",
]


def _private(module: str, name: str) -> object:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        pytest.fail(
            f"timm {timm.__version__} no longer has {module}.{name} ({err}); hwnas "
            "imports it: adapt hwnas or bound timm below this release in pyproject.toml"
        )


def _missing_keywords(func: object, keywords: list[str]) -> list[str]:
    params = inspect.signature(func).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return []
    return [k for k in keywords if k not in params]


@pytest.mark.parametrize(("module", "name", "keywords"), PRIVATE, ids=[p[1] for p in PRIVATE])
def test_private_names_exist_with_the_keywords_hwnas_passes(
    module: str, name: str, keywords: list[str]
) -> None:
    missing = _missing_keywords(_private(module, name), keywords)
    assert not missing, (
        f"timm {timm.__version__}: {module}.{name} no longer takes {missing}, which hwnas passes"
    )


def test_efficientnet_takes_the_keywords_hwnas_passes() -> None:
    from timm.models.efficientnet import EfficientNet

    missing = _missing_keywords(EfficientNet.__init__, EFFICIENTNET_KEYWORDS)
    assert not missing, f"timm {timm.__version__}: EfficientNet no longer takes {missing}"


def test_decode_arch_def_reads_the_strings_arch_files_write() -> None:
    decode = _private("timm.models._efficientnet_builder", "decode_arch_def")
    stages = decode([["ds_r1_k3_s1_c8"], ["ir_r1_k5_s2_e3_c16", "ir_r1_k7_s1_e6_c16"]])
    got = [
        [
            tuple(
                b.get(k) for k in ("block_type", "dw_kernel_size", "stride", "exp_ratio", "out_chs")
            )
            for b in stage
        ]
        for stage in stages
    ]
    assert got == [[("ds", 3, 1, None, 8)], [("ir", 5, 2, 3.0, 16), ("ir", 7, 1, 6.0, 16)]], (
        f"timm {timm.__version__}: decode_arch_def reads hwnas's block strings differently"
    )


@pytest.mark.parametrize("expand", [1, 3])
def test_blocks_have_the_skip_and_last_norm_that_training_uses(expand: int) -> None:
    name = "DepthwiseSeparableConv" if expand == 1 else "InvertedResidual"
    block_cls = _private(BLOCKS, name)
    extra = {} if expand == 1 else {"exp_ratio": float(expand)}
    common = dict(dw_kernel_size=5, stride=1, act_layer=nn.ReLU6, norm_layer=nn.BatchNorm2d)
    block = block_cls(16, 16, noskip=False, **common, **extra)
    plain = block_cls(16, 16, noskip=True, **common, **extra)
    # hwnas.training.module.zero_init_residual_branches zeroes this norm where has_skip is set.
    last = "bn2" if expand == 1 else "bn3"
    assert (block.has_skip, plain.has_skip) == (True, False), (
        f"timm {timm.__version__}: {name}.has_skip"
    )
    assert isinstance(getattr(block, last, None), nn.BatchNorm2d), (
        f"timm {timm.__version__}: {name}'s last norm is no longer `{last}`"
    )
    nn.init.zeros_(getattr(block, last).weight)
    nn.init.zeros_(getattr(block, last).bias)
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(block.eval()(x), x), f"timm {timm.__version__}: {name} with a zero last norm"


def test_efficientnet_builds_the_same_blocks_as_the_supernet() -> None:
    # The search builds its candidates with the block classes; train.py's init_from_search copies
    # their weights into the EfficientNet from decode_arch_def by parameter name.
    from timm.models.efficientnet import EfficientNet

    decode = _private("timm.models._efficientnet_builder", "decode_arch_def")
    blocks = _private(BLOCKS, "InvertedResidual")
    model = EfficientNet(
        decode([["ir_r1_k5_s1_e3_c16"]]),
        stem_size=16,
        fix_stem=True,
        act_layer=nn.ReLU6,
        round_chs_fn=lambda c: c,
    )
    built = model.blocks[0][0]
    alone = blocks(16, 16, dw_kernel_size=5, stride=1, exp_ratio=3.0, act_layer=nn.ReLU6)
    assert type(built) is type(alone)
    assert list(built.state_dict()) == list(alone.state_dict()), (
        f"timm {timm.__version__}: EfficientNet's blocks no longer match the block classes"
    )


def test_pyproject_bounds_timm_to_the_release_checked_here() -> None:
    tomllib = pytest.importorskip("tomllib")
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (timm_req,) = [Requirement(d) for d in deps if Requirement(d).name == "timm"]
    assert timm_req.specifier.contains(version("timm")), (
        f"the installed timm {version('timm')} is outside pyproject's {timm_req}"
    )
    assert not timm_req.specifier.contains("2.0"), f"{timm_req} lets an untested timm 2 in"
    # hwnas.training.optim imports timm.optim.param_groups_weight_decay, exported from 1.0.12.
    assert not timm_req.specifier.contains("1.0.11"), f"{timm_req} lets in a timm too old"
