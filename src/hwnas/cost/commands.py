"""The commands of `python -m hwnas.cost`, each a function of the composed config."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from hwnas.cost.from_config import build_cost_model
from hwnas.cost.model import ExpectedCost
from hwnas.cost.op_shapes import space_ops
from hwnas.search_space.space import SearchSpace
from hwnas.util.conf_dir import hardware_choices
from hwnas.util.files import write_json

log = logging.getLogger(__name__)


def _space(cfg: DictConfig) -> SearchSpace:
    return instantiate(
        cfg.search_space,
        in_channels=cfg.input.channels,
        input_size=cfg.input.size,
        num_classes=cfg.input.classes,
    )


def _output_dir(cfg: DictConfig) -> Path:
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def build(cfg: DictConfig) -> str:
    """Measure (or reuse) the table of the space on this hardware."""
    space = _space(cfg)
    model = build_cost_model(cfg.hardware, space, cfg.paths.get("cache_dir"))
    table = getattr(model, "table", model)
    path = getattr(table, "path", None)
    seconds = getattr(table, "metadata", {}).get("build_seconds")
    low, high = ExpectedCost(model, space).bounds()
    return (
        f"{space.name} on hardware={cfg.hardware.name}: {len(space_ops(space))} ops"
        + (f", table {path} (measured in {seconds} s)" if path else "")
        + f"\nlatency of its architectures: {low:.3f} .. {high:.3f} {model.unit}"
        + (f" ({text})" if (text := model.calibration_text()) else "")
    )


def validate(cfg: DictConfig) -> str:
    """Random architectures measured end to end against the table."""
    from hwnas.cost.validation import format_report, validate_latency

    if cfg.hardware.cost_model.get("profiler") is None:
        raise ValueError(
            f"hardware={cfg.hardware.name} has no profiler: its latency cannot be measured on "
            "this machine. Validate hardware=cpu, onnxruntime or gpu here; for a phone, time the "
            "ops of `python -m hwnas.cost export` on it and `import` the results"
        )
    space = _space(cfg)
    v = cfg.validate
    remeasure = v.get("remeasure_table", True) and not cfg.hardware.get("table")
    model = None if remeasure else build_cost_model(cfg.hardware, space, cfg.paths.get("cache_dir"))
    profiler = instantiate(cfg.hardware.cost_model.profiler)
    report = validate_latency(
        model,
        profiler,
        space,
        v.num_archs,
        v.fit_fraction,
        v.seed,
        v.sampling,
        cache_dir=cfg.paths.get("cache_dir"),
    )
    out = _output_dir(cfg) / "validation.json"
    write_json(out, report.to_dict(), indent=1)
    return format_report(report) + f"\n\nWrote {out}"


def export(cfg: DictConfig) -> str:
    """Every op of the space as ONNX, with a manifest and a results template."""
    from hwnas.cost.device_ops import export_ops

    space = _space(cfg)
    ops = space_ops(space)
    manifest = export_ops(ops, cfg.export.out, cfg.export.batch_size, space.name)
    return (
        f"Wrote {len(ops)} ONNX ops of {space.name} and {manifest}. Time each on the device"
        f" (batch {cfg.export.batch_size}), fill results_template.csv, then run\n"
        f"  python -m hwnas.cost import import.manifest={manifest} "
        "import.results=<filled csv> import.device=<device> import.runtime=<runtime>"
    )


def import_(cfg: DictConfig) -> str:
    """A filled results CSV -> a latency table (plug it in with hardware.table=PATH)."""
    from hwnas.cost.device_ops import import_results

    c = cfg["import"]
    table = import_results(c.manifest, c.results, c.device, c.runtime, c.runtime_version, c.threads)
    path = table.save(c.out, original_format=c.original_format)
    return (
        f"Wrote {table.describe()} to {path}\nUse it with: python search.py "
        f"hardware=mobile hardware.table={path} search_space=<the exported space>"
    )


def fit_mobile(cfg: DictConfig) -> str:
    """Refit the phone model to the published end-to-end figures."""
    from hwnas.cost.mobile.fit import fit_mobile_model
    from hwnas.cost.mobile.model import default_coefficients_path

    return fit_mobile_model(default_coefficients_path() if cfg.fit_mobile.write else None)


COMMANDS = {
    "build": build,
    "validate": validate,
    "export": export,
    "import": import_,
    "fit-mobile": fit_mobile,
}


def run_command(cfg: DictConfig) -> str:
    """Run `cfg.command` on the composed config and return what it has to say."""
    if cfg.command not in COMMANDS:
        raise ValueError(f"unknown command {cfg.command!r}; choose one of {list(COMMANDS)}")
    if OmegaConf.is_missing(cfg.hardware, "name"):
        raise ValueError(
            "hardware.name is unset: conf/hardware/measured/ holds the keys that hardware=cpu, "
            "onnxruntime and gpu share, not a hardware of its own; choose one of hardware="
            + ", ".join(hardware_choices())
        )
    log.debug("config:\n%s", OmegaConf.to_yaml(cfg))
    return COMMANDS[cfg.command](cfg)
