"""The mobile latency model: its stored fit reproduces the published Pixel 1 figures, the
reference nets are the real nets, and it prices every op of the paper's space sensibly."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import timm
from hydra.utils import instantiate
from omegaconf import OmegaConf

import hwnas.architecture  # noqa: F401  (registers the published nets with timm)
from hwnas.architecture import resolve_architecture
from hwnas.cost import ExpectedCost
from hwnas.cost.flops import op_macs
from hwnas.cost.mobile import MobileCoefficients, MobileLatencyModel, load_coefficients
from hwnas.cost.mobile.fit import fit, fit_coefficients, fit_mobile_model, net_features, nnls
from hwnas.cost.mobile.model import load_coefficients_file
from hwnas.cost.mobile.reference_nets import (
    mobilenet_v1_ops,
    mobilenet_v2_ops,
    reference_nets,
)
from hwnas.cost.op_shapes import OpShape, architecture_ops, space_ops

CONF = Path(__file__).resolve().parents[2] / "conf"


def test_stored_coefficients_reproduce_the_published_figures() -> None:
    stored = load_coefficients_file()
    model = MobileLatencyModel()
    bound = stored["fit"]["max_abs_error_pct"]
    rows = {row["net"]: row for row in stored["fit"]["nets"]}
    assert stored["estimate"] is True
    assert 0 < bound < 10
    for net in reference_nets():
        predicted = model.net_cost(list(net.ops))
        assert predicted == pytest.approx(rows[net.name]["model_ms"], abs=0.01)
        assert abs(predicted - net.published_ms) / net.published_ms * 100 <= bound + 0.01


def test_refit_reproduces_the_stored_coefficients() -> None:
    stored = dataclasses.asdict(load_coefficients())
    refit = dataclasses.asdict(fit().coefficients)
    assert refit == pytest.approx(stored, rel=1e-5)
    assert all(v > 0 for v in refit.values())


def test_fit_table_and_written_file(tmp_path) -> None:
    text = fit_mobile_model(tmp_path / "coef.yaml")
    assert text.count("\n| ") == 5  # four fitted nets and the held-out one
    assert "held out" in text
    assert load_coefficients(tmp_path / "coef.yaml") == load_coefficients()


def test_nnls_keeps_coefficients_non_negative() -> None:
    a = np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 3.0]])
    b = np.array([3.0, 2.0, 1.0])  # the unconstrained slope would be -1
    x = nnls(a, b)
    assert (x >= 0).all()
    assert x[1] == 0 and x[0] == pytest.approx(2.0)


def test_fit_recovers_known_coefficients() -> None:
    truth = MobileCoefficients(0.2, 0.5, 0.3, 0.01)
    nets = [
        dataclasses.replace(n, published_ms=truth.price(net_features(n))) for n in reference_nets()
    ]
    got = fit_coefficients(nets, ms_per_layer=0.01)
    assert dataclasses.asdict(got) == pytest.approx(dataclasses.asdict(truth), rel=1e-6)


@pytest.mark.parametrize(
    ("name", "ops", "paper_mmacs"),
    [
        ("mobilenetv1_100", mobilenet_v1_ops(), 569),
        ("mobilenetv2_100", mobilenet_v2_ops(), 300),
        ("mobilenetv2_140", mobilenet_v2_ops(1.4), 585),
        ("proxyless_mobile", architecture_ops(resolve_architecture("proxyless_mobile")), 320),
    ],
)
def test_reference_nets_are_the_real_nets(name: str, ops, paper_mmacs: int, count_macs) -> None:
    analytic = sum(op_macs(op) for op in ops)
    assert analytic == count_macs(timm.create_model(name))
    assert analytic / 1e6 == pytest.approx(paper_mmacs, rel=0.01)


def test_mobilenet_shapes() -> None:
    v1, v2 = mobilenet_v1_ops(), mobilenet_v2_ops()
    assert [op.kind for op in v1].count("conv_1x1") == 0  # V1 pools the last block's 1024
    assert v1[-1] == OpShape("logits", 7, 1024, 1000)
    assert not any(op.shortcut for op in v1)
    assert sum(op.shortcut for op in v2) == 10
    assert v2[-2:] == [OpShape("conv_1x1", 7, 320, 1280), OpShape("logits", 7, 1280, 1000)]


BASE = {
    "conv": OpShape("conv", 56, 16, 32, 3, 2),
    "expanded_conv": OpShape("expanded_conv", 28, 24, 32, 5, 1, 3.0, False),
    "conv_1x1": OpShape("conv_1x1", 7, 320, 1280),
    "logits": OpShape("logits", 7, 1280, 1000),
}


GROWS_WITH = {
    "conv": ["input_size", "in_channels", "out_channels", "kernel"],
    "expanded_conv": ["input_size", "in_channels", "out_channels", "kernel", "expand"],
    "conv_1x1": ["input_size", "in_channels", "out_channels"],
    "logits": ["input_size", "in_channels", "out_channels"],
}


@pytest.mark.parametrize(
    ("kind", "field"), [(kind, field) for kind, fields in GROWS_WITH.items() for field in fields]
)
def test_costs_are_positive_and_grow_with_shape(kind: str, field: str) -> None:
    model = MobileLatencyModel()
    op = BASE[kind]
    step = {"kernel": 2, "expand": 1}.get(field, 8)
    bigger = dataclasses.replace(op, **{field: getattr(op, field) + step})
    assert 0 < model.op_cost(op) < model.op_cost(bigger)


def test_depthwise_kernel_and_shortcut_cost_more() -> None:
    model = MobileLatencyModel()
    base = OpShape("expanded_conv", 28, 40, 40, 3, 1, 6.0, False)
    k7 = dataclasses.replace(base, kernel=7)
    with_skip = dataclasses.replace(base, shortcut=True)
    extra_dw_mmacs = 28 * 28 * 240 * (49 - 9) / 1e6
    dw_price = model.coefficients.ms_per_depthwise_mmac
    assert model.op_cost(k7) - model.op_cost(base) > dw_price * extra_dw_mmacs
    assert model.op_cost(with_skip) > model.op_cost(base)


def test_every_op_of_the_imagenet_space_has_a_finite_positive_cost(load_space) -> None:
    space = load_space("proxyless_imagenet", input_size=224, num_classes=1000)
    model = MobileLatencyModel()
    costs = [model.op_cost(op) for op in space_ops(space)]
    assert len(costs) > 60  # stem, first block, head and the distinct candidate ops
    assert all(math.isfinite(c) and c > 0 for c in costs)
    low, high = ExpectedCost(model, space).bounds()
    assert 20 < low < high < 400


def test_expected_cost_of_the_published_mobile_net_is_its_prediction(load_space) -> None:
    """The search's E[C] at the published net's one-hot paths equals the model's latency of
    the whole net (the space is the paper's, with the released net's 32-wide stage 1)."""
    arch = resolve_architecture("proxyless_mobile")
    stages = [
        {"channels": c, "depth": d, "stride": s}
        for c, d, s in [(32, 4, 2), (40, 4, 2), (80, 4, 2), (96, 4, 1), (192, 4, 2), (320, 1, 1)]
    ]
    space = load_space("proxyless_imagenet", input_size=224, num_classes=1000, stages=stages)
    names = [[c.name for c in layer.candidates] for layer in space.layers]
    indices = [n.index(b.op) for n, b in zip(names, arch.layers, strict=True)]
    model = MobileLatencyModel()
    expected = ExpectedCost(model, space).of_paths(indices)
    published = next(n for n in reference_nets() if n.name == "ProxylessNAS-Mobile")
    assert expected == pytest.approx(model.net_cost(list(published.ops)), rel=1e-6)  # float32
    assert expected == pytest.approx(78.0, rel=0.07)


def test_units_config_and_bad_files(tmp_path) -> None:
    op = BASE["expanded_conv"]
    assert MobileLatencyModel(unit="us").op_cost(op) == pytest.approx(
        1000 * MobileLatencyModel().op_cost(op)
    )
    with pytest.raises(ValueError, match="unit"):
        MobileLatencyModel(unit="s")
    cfg = OmegaConf.load(CONF / "hardware" / "mobile.yaml")
    assert cfg.name == "mobile" and cfg.table is None
    assert isinstance(instantiate(cfg.cost_model), MobileLatencyModel)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "coefficients: {ms_per_dense_mmac: -1, ms_per_depthwise_mmac: 0, "
        "ms_per_mb: 0, ms_per_layer: 0}\n"
    )
    with pytest.raises(ValueError, match="ms_per_dense_mmac"):
        MobileLatencyModel(bad)
    with pytest.raises(FileNotFoundError):
        MobileLatencyModel(tmp_path / "missing.yaml")


def test_a_folder_for_the_coefficients_names_the_file_in_it(tmp_path: Path) -> None:
    (tmp_path / "pixel7.yaml").write_text("coefficients: {}\n")
    with pytest.raises(
        FileNotFoundError, match=f"coefficients {tmp_path} is a folder, .*pixel7.yaml: pass that"
    ):
        MobileLatencyModel(str(tmp_path))
