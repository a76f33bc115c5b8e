"""`python -m hwnas.cost <command> [overrides]`: build, validate, export, import, fit-mobile.

The command is the first argument; the rest are Hydra overrides of conf/latency.yaml.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from hwnas.cost.commands import COMMANDS, run_command

USAGE = f"usage: python -m hwnas.cost {{{','.join(COMMANDS)}}} [key=value ...]"


@hydra.main(version_base="1.3", config_path="../../../conf", config_name="latency")
def main(cfg: DictConfig) -> None:
    print(run_command(cfg))


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"{USAGE}\n(got {sys.argv[1:2] or 'no command'})")
    sys.argv = [sys.argv[0], f"command={sys.argv[1]}", *sys.argv[2:]]
    main()
