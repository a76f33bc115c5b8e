"""The cost of any architecture on any hardware config, without searching: the phone model and
multiply-adds price every op; measured hardware (`cpu`, `onnxruntime`, `gpu`) prices a net from a
cached table of this machine that covers its ops (the one a search here built), or from its ops
timed now when asked to (`measure=True`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from hwnas.architecture.arch_file import Architecture
from hwnas.cost.cache import fetch_table, find_cached_table
from hwnas.cost.errors import MalformedTableError, MissingLatencyError
from hwnas.cost.op_shapes import architecture_ops
from hwnas.cost.table import LatencyTable
from hwnas.util.conf_dir import conf_dir, hardware_choices

HARDWARE_NAMES = ("mobile", "cpu", "onnxruntime", "gpu", "flops")


@dataclass(frozen=True)
class Price:
    """A net's cost on one hardware: `value` in `unit`, and `how` it was priced (or, where
    `value` is None, why it was not)."""

    value: float | None
    unit: str
    how: str


def hardware_config(name: str, cache_dir: str | Path | None = None) -> DictConfig:
    """`conf/hardware/<name>.yaml` composed, with `paths.cache_dir` resolved; conf/ is the
    checkout's or a wheel's copy (`hwnas.util.conf_dir`), whatever the working directory."""
    from hydra import compose, initialize_config_dir

    known = hardware_choices()
    if name not in known:
        raise ValueError(f"unknown hardware {name!r}: choose from {', '.join(known)}")
    overrides = [f"hardware={name}"] + ([f"paths.cache_dir={cache_dir}"] if cache_dir else [])
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        cfg = compose("search", overrides=overrides)
    return OmegaConf.create(OmegaConf.to_container(cfg.hardware, resolve=True))


def price(
    hardware: DictConfig,
    arch: Architecture,
    cache_dir: str | Path | None = None,
    measure: bool = False,
) -> Price:
    """The cost of `arch` on `hardware` (a composed `hardware` config)."""
    ops = architecture_ops(arch)
    cost_cfg = hardware.cost_model
    unit = cost_cfg.get("unit", "ms")
    try:
        if hardware.get("table"):
            table = LatencyTable.load(fetch_table(str(hardware.table), cache_dir))
            return Price(table.set_unit(unit).network_cost(ops), unit, f"table {hardware.table}")
        if cost_cfg.get("profiler") is None:
            model = instantiate(cost_cfg)
            return Price(model.network_cost(ops), model.unit, f"the {hardware.name} model")
        try:
            profiler = instantiate(cost_cfg.profiler)
        except Exception as err:  # e.g. hardware=gpu without CUDA
            reason = getattr(err, "__cause__", None) or err
            return Price(None, unit, f"no {hardware.name} here ({str(reason).splitlines()[0]})")
        table = find_cached_table(profiler, ops, cache_dir)
        if table is not None:
            return Price(
                table.set_unit(unit).network_cost(ops),
                unit,
                f"cached table ({table.calibration_text()})",
            )
        if not measure:
            return Price(
                None, unit, "no cached table of this machine covers its ops (--measure times them)"
            )
        table, _ = profiler.measure(ops, [], progress=False)
        return Price(table.set_unit(unit).network_cost(ops), unit, "its ops timed now (raw sum)")
    except (MissingLatencyError, MalformedTableError, FileNotFoundError) as err:
        return Price(None, unit, str(err))
