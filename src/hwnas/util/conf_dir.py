"""Where the Hydra configs are: `conf/` of the source checkout hwnas runs from (an editable
install), else the copy of it a wheel ships as `hwnas/conf`. Commands that compose a config
find it here, whatever the working directory."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

CHECKOUT_CONF = Path(__file__).resolve().parents[3] / "conf"
PRIMARY = "search.yaml"  # a config every conf/ has: tells a config folder from another conf/


def packaged_conf() -> Path:
    """The `hwnas/conf` folder of an installed wheel (absent in a source checkout)."""
    return Path(str(files("hwnas").joinpath("conf")))


def conf_dir() -> Path:
    """The config folder to compose from: the checkout's `conf/`, else the wheel's `hwnas/conf`.

    Raises:
        FileNotFoundError: neither holds the configs; says how to get a source checkout.
    """
    for place in (CHECKOUT_CONF, packaged_conf()):
        if (place / PRIMARY).is_file():
            return place
    raise FileNotFoundError(
        f"hwnas finds no Hydra configs: neither {CHECKOUT_CONF} (conf/ of a source checkout) nor "
        f"{packaged_conf()} (the copy a wheel ships) holds {PRIMARY}. Run from a source "
        "checkout: clone the hwnas repository and `pip install -e .` in it, or install a wheel "
        "built from one (`pip wheel . --no-deps` there)"
    )


def hardware_choices() -> list[str]:
    """The `hardware=` choices: the files directly in conf/hardware/ (not the shared keys under
    conf/hardware/measured/)."""
    return sorted(p.stem for p in (conf_dir() / "hardware").glob("*.yaml"))
