"""Make the README's pictures from real runs: a search run's net and probabilities (drawn again
from its arch.yaml, summary.json and arch_probs.json with the current drawing code), and the
report's `pareto.png` and `hardware_matrix.png` over a folder of search runs, downsized into
docs/images/.

    python docs/readme_pictures.py outputs/search/<run> multirun/search/<date>_<time> --measure
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from PIL import Image

from hwnas.architecture.arch_file import Architecture
from hwnas.pictures import draw_architecture, draw_prob_history, save_figure
from hwnas.report.pricing import HARDWARE_NAMES
from hwnas.report.runs import collect_runs
from hwnas.report.sweep_report import write_sweep_report
from hwnas.runs.search_pictures import arch_subtitle

IMAGES = Path(__file__).resolve().parent / "images"


def downsized(source: Path, target: Path, width: int) -> None:
    with Image.open(source) as image:
        if image.width > width:
            image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
        image.save(target, optimize=True)
    print(f"{target} ({target.stat().st_size // 1024} KiB) from {source}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a search run folder")
    parser.add_argument("runs", type=Path, help="a folder of search runs (a multirun folder)")
    parser.add_argument("--width", type=int, default=900)
    parser.add_argument(
        "--measure",
        action="store_true",
        help="time the nets' ops on this CPU (cpu, onnxruntime columns)",
    )
    args = parser.parse_args()
    IMAGES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        summary = json.loads((args.run / "summary.json").read_text())
        arch = Architecture.load(args.run / "arch.yaml")
        probs = json.loads((args.run / "arch_probs.json").read_text())
        drawn = {
            "arch": draw_architecture(arch, arch_subtitle(summary)),
            "arch_probs": draw_prob_history(
                probs["history"],
                probs["candidates"],
                f"{arch.name}: probability of every candidate over the search",
            ),
        }
        for name, fig in drawn.items():
            downsized(save_figure(fig, Path(tmp) / name)[0], IMAGES / f"{name}.png", args.width)
        written = write_sweep_report(
            collect_runs([args.runs]),
            Path(tmp),
            args.runs.resolve(),
            HARDWARE_NAMES,
            measure=args.measure,
        )
        for name in ("pareto", "hardware_matrix"):
            downsized(written[name], IMAGES / f"{name}.png", args.width)


if __name__ == "__main__":
    main()
