"""`python -m hwnas.cost <command> [overrides]`: build, validate, export, import, fit-mobile.

The command is the first argument; the rest are Hydra overrides of conf/latency.yaml, read from
the checkout's conf/ or a wheel's copy of it (`hwnas.util.conf_dir`), from any working directory.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from hwnas.cost.commands import COMMANDS, run_command
from hwnas.util.conf_dir import conf_dir

USAGE = f"usage: python -m hwnas.cost {{{','.join(COMMANDS)}}} [key=value ...]"


def run(cfg: DictConfig) -> None:
    """Run the composed config's command and print what it says."""
    print(run_command(cfg))


def main(argv: list[str]) -> None:
    """Check the command, then hand the rest of `argv` to Hydra as overrides of latency.yaml."""
    if len(argv) < 2 or argv[1] not in COMMANDS:
        sys.exit(f"{USAGE}\n(got {argv[1:2] or 'no command'})")
    try:
        config_path = str(conf_dir())
    except FileNotFoundError as err:
        sys.exit(f"error: {err}")
    sys.argv = [argv[0], f"command={argv[1]}", *argv[2:]]
    hydra.main(version_base="1.3", config_path=config_path, config_name="latency")(run)()


if __name__ == "__main__":
    main(sys.argv)
