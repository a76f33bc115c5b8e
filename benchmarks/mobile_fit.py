"""Fit of the mobile latency model (a Pixel 1, TensorFlow Lite, batch 1) to the published
end-to-end latencies of REFERENCE A4: per net, multiply-adds, published and modelled latency,
the error, and the error when that net is left out of the fit; then the coefficients.

Nothing is timed, so the machine it runs on does not matter: the figures are a least-squares
fit to published numbers, identical everywhere.

    python benchmarks/mobile_fit.py
    python benchmarks/mobile_fit.py --write src/hwnas/cost/mobile/pixel1_tflite.yaml
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hwnas.cost.mobile.fit import fit_mobile_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, default=None, help="write the coefficients file")
    args = parser.parse_args()
    print(fit_mobile_model(args.write))
    print("\nMachine: irrelevant (a fit to published figures; nothing is measured).")


if __name__ == "__main__":
    main()
