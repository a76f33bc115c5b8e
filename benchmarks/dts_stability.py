"""The delayed update's stability limit: the largest learning rate x curvature at which the
replicas' drift from their mean stays bounded, against synchronous SGD's limit (t = 0), for plain
SGD, heavy-ball momentum and torch's Nesterov momentum (`delay_stability.py`).

    python benchmarks/dts_stability.py
    python benchmarks/dts_stability.py --momentum 0.95 --delays 0 1 4 8

The mean of the replicas follows synchronous SGD exactly, so it is stable up to the t = 0 limit;
the replicas' drift needs the smaller limit of its delay. The ratio is how much lower the peak
learning rate must be for the drift to stay as stable as synchronous SGD itself, wherever
training pushes the sharpest curvature up to what the rate allows.

A second table gives the limit without the correction (`dts.correction=false`, the stale
average alone): the replicas stay identical, and the weights themselves need it.
"""

from __future__ import annotations

import argparse

from common import markdown_table
from delay_stability import largest_stable_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--delays", type=int, nargs="+", default=[0, 1, 2, 3, 5, 8, 16])
    args = parser.parse_args()
    m = args.momentum
    optimisers = [
        ("plain SGD", 0.0, False),
        (f"heavy ball {m:g}", m, False),
        (f"Nesterov {m:g}", m, True),
    ]
    synchronous = {name: largest_stable_step(0, mom, nest) for name, mom, nest in optimisers}
    rows, stale_rows = [], []
    for delay in args.delays:
        row, stale_row = [str(delay)], [str(delay)]
        for name, mom, nest in optimisers:
            limit = largest_stable_step(delay, mom, nest)
            row.append(f"{limit:.3f} ({limit / synchronous[name]:.2f})")
            stale = largest_stable_step(delay, mom, nest, correction=False)
            stale_row.append(f"{stale:.3f} ({stale / limit:.2f})")
        rows.append(row)
        stale_rows.append(stale_row)
    header = ["delay t", *(name for name, _, _ in optimisers)]
    print("#### Largest stable lr x curvature of the replicas' drift (ratio to t = 0)\n")
    print(markdown_table(header, rows))
    print(
        "\n#### Without the correction: largest stable lr x curvature of the weights "
        "(ratio to the corrected drift's limit)\n"
    )
    print(markdown_table(header, stale_rows))


if __name__ == "__main__":
    main()
