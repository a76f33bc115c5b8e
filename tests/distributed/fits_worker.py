"""Run under torchrun by this folder's `dts_fits` fixture: the arms of lightning_worker.py
(`train/<arm>`) and of search_worker.py (`search/<arm>`) in one pair of processes, which pays
the processes' start-up once. Not a test module."""

from __future__ import annotations

import sys
from pathlib import Path

import lightning_worker
import search_worker
import torch

WORKERS = {"train": lightning_worker, "search": search_worker}


def main(out_dir: str, arms: list[str]) -> None:
    torch.set_num_threads(1)
    lightning_worker.count_broadcasts()
    for arm in arms:
        kind, name = arm.split("/")
        WORKERS[kind].fit(Path(out_dir) / kind, name)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
