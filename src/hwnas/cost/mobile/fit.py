"""Fit the mobile latency model to the published Pixel 1 figures (REFERENCE A4).

Three prices (dense MMACs, depthwise MMACs, MB moved) are fitted by non-negative least squares
on relative errors to four end-to-end latencies; the per-layer overhead is a fixed prior,
since four nets cannot tell it apart from the rest. Leave-one-out errors show how far the fit
can be trusted on a net it has not seen.

    python -m hwnas.cost.mobile.fit                 # print the fit
    python -m hwnas.cost.mobile.fit --write PATH    # also write a coefficients file
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hwnas.cost.mobile.model import MobileCoefficients, OpFeatures, op_features
from hwnas.cost.mobile.reference_nets import ReferenceNet, reference_nets

# TensorFlow Lite's dispatch and kernel set-up per primitive layer, about 10 us on a phone
# core: an assumed prior, not fitted. It matters only for tiny layers (28x28 or 32x32 inputs).
PRIOR_MS_PER_LAYER = 0.01
FORMAT = "hwnas-mobile-latency-model/1"


def nnls(a: np.ndarray, b: np.ndarray, max_iter: int = 100) -> np.ndarray:
    """Non-negative least squares, min ||a x - b|| for x >= 0 (Lawson and Hanson 1974)."""
    n = a.shape[1]
    active, x = np.zeros(n, dtype=bool), np.zeros(n)
    for _ in range(max_iter):
        grad = a.T @ (b - a @ x)
        if active.all() or (grad[~active] <= 1e-12).all():
            break
        active[np.argmax(np.where(active, -np.inf, grad))] = True
        while True:
            z = np.zeros(n)
            z[active] = np.linalg.lstsq(a[:, active], b, rcond=None)[0]
            if (z[active] > 0).all():
                x = z
                break
            shrink = active & (z <= 0)
            x = x + np.min(x[shrink] / (x[shrink] - z[shrink])) * (z - x)
            active &= x > 1e-12
    return x


def net_features(net: ReferenceNet) -> OpFeatures:
    total = OpFeatures(0.0, 0.0, 0.0, 0)
    for op in net.ops:
        total += op_features(op)
    return total


def fit_coefficients(
    nets: Sequence[ReferenceNet], ms_per_layer: float = PRIOR_MS_PER_LAYER
) -> MobileCoefficients:
    """The prices that minimise the squared relative error on `nets`, overhead held fixed."""
    feats = [net_features(n) for n in nets]
    a = np.array([[f.dense_mmacs, f.depthwise_mmacs, f.mbytes] for f in feats])
    published = np.array([n.published_ms for n in nets])
    b = published - ms_per_layer * np.array([f.layers for f in feats])
    dense, depthwise, mb = nnls(a / published[:, None], b / published)
    return MobileCoefficients(float(dense), float(depthwise), float(mb), ms_per_layer)


@dataclass(frozen=True)
class NetFit:
    """One net's published latency against the model's, in ms; errors in % of published."""

    net: str
    mmacs: float
    published_ms: float
    model_ms: float
    error_pct: float
    leave_one_out_error_pct: float | None  # None for a held-out net
    source: str


@dataclass(frozen=True)
class MobileFit:
    coefficients: MobileCoefficients
    nets: list[NetFit] = field(default_factory=list)

    @property
    def max_abs_error_pct(self) -> float:
        """Largest error on the fitted nets."""
        return max(abs(n.error_pct) for n in self.nets if n.leave_one_out_error_pct is not None)


def _error_pct(model: float, published: float) -> float:
    return 100.0 * (model - published) / published


def fit(ms_per_layer: float = PRIOR_MS_PER_LAYER) -> MobileFit:
    """Fit to the four nets of REFERENCE A4; price them, each left out in turn, and the
    held-out MobileNetV2 (1.4)."""
    nets = reference_nets(held_out=True)
    fitted = [n for n in nets if n.fitted]
    coef = fit_coefficients(fitted, ms_per_layer)
    rows = []
    for net in nets:
        model_ms = coef.price(net_features(net))
        loo = None
        if net.fitted:
            rest = fit_coefficients([n for n in fitted if n is not net], ms_per_layer)
            loo = _error_pct(rest.price(net_features(net)), net.published_ms)
        mmacs = net_features(net)
        rows.append(
            NetFit(
                net.name,
                mmacs.dense_mmacs + mmacs.depthwise_mmacs,
                net.published_ms,
                model_ms,
                _error_pct(model_ms, net.published_ms),
                loo,
                net.source,
            )
        )
    return MobileFit(coef, rows)


def markdown(result: MobileFit) -> str:
    """The fit as a Markdown table, then the coefficients."""
    lines = [
        "| net | MMACs | published ms | model ms | error % | leave-one-out error % |",
        "|---|---|---|---|---|---|",
    ]
    for n in result.nets:
        loo = (
            "held out" if n.leave_one_out_error_pct is None else f"{n.leave_one_out_error_pct:+.1f}"
        )
        lines.append(
            f"| {n.net} | {n.mmacs:.0f} | {n.published_ms:.0f} | {n.model_ms:.1f} "
            f"| {n.error_pct:+.1f} | {loo} |"
        )
    c = result.coefficients
    lines += [
        "",
        f"LAT(op) = {c.ms_per_dense_mmac:.4f} ms/dense MMAC + {c.ms_per_depthwise_mmac:.4f} "
        f"ms/depthwise MMAC + {c.ms_per_mb:.4f} ms/MB moved + {c.ms_per_layer:.4f} ms/layer "
        "(last one a fixed prior)",
        f"Largest error on the fitted nets: {result.max_abs_error_pct:.1f}%.",
    ]
    return "\n".join(lines)


HEADER = """\
# Mobile latency model: Pixel 1 (Snapdragon 821), TensorFlow Lite float32, batch 1.
# AN ESTIMATE, NOT A MEASUREMENT: coefficients fitted to four published end-to-end latencies.
# Written by `python -m hwnas.cost.mobile.fit --write PATH`; do not edit by hand.
"""


def coefficients_document(result: MobileFit) -> dict[str, Any]:
    """The coefficients file's content: prices, provenance and the fit they came from."""

    def sig(x: float) -> float:
        return float(f"{x:.6g}")

    return {
        "format": FORMAT,
        "device": "Google Pixel 1 (Snapdragon 821), TensorFlow Lite, float32, batch 1",
        "estimate": True,
        "formula": "LAT(op) = ms_per_dense_mmac * dense MMACs + ms_per_depthwise_mmac * "
        "depthwise MMACs + ms_per_mb * MB moved (float32 activations + weights) + "
        "ms_per_layer * primitive layers",
        "coefficients": {k: sig(v) for k, v in asdict(result.coefficients).items()},
        "fixed_prior": {"ms_per_layer": "assumed TensorFlow Lite per-layer overhead, not fitted"},
        "fit": {
            "date": datetime.date.today().isoformat(),
            "method": "non-negative least squares on relative errors (numpy), 3 free coefficients",
            "figures": "end-to-end latencies on the Pixel 1 quoted in REFERENCE A4, from the "
            "ProxylessNAS paper (Cai et al., ICLR 2019) and the MobileNetV2 paper "
            "(Sandler et al., CVPR 2018)",
            "max_abs_error_pct": round(result.max_abs_error_pct, 2),
            "nets": [
                {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(n).items()}
                for n in result.nets
            ],
        },
        "replace_with_measurement": "measure the ops on a phone instead: `python -m "
        "hwnas.cost export ...` writes the ops of a search space, time them with TensorFlow "
        "Lite on the phone, `python -m hwnas.cost import ...` reads the timings into a "
        "table, and `hardware.table=PATH` makes the search use it instead of this model",
    }


def fit_mobile_model(write: Path | None = None) -> str:
    """Fit the model; write the coefficients file to `write` if given; return the Markdown."""
    result = fit()
    if write is not None:
        write = Path(write)
        write.parent.mkdir(parents=True, exist_ok=True)
        body = yaml.safe_dump(coefficients_document(result), sort_keys=False, width=100)
        write.write_text(HEADER + body)
    return markdown(result)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, default=None, help="write a coefficients file")
    print(fit_mobile_model(parser.parse_args(argv).write))


if __name__ == "__main__":
    main()
