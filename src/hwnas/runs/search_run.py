"""`run_search(cfg)`: everything `python search.py` does, callable from tests."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from hwnas.architecture.arch_file import Architecture
from hwnas.architecture.derive import derive_architecture
from hwnas.architecture.timm_model import build_timm_model
from hwnas.cost.flops import FlopsCostModel
from hwnas.cost.from_config import build_cost_model
from hwnas.cost.model import ExpectedCost
from hwnas.distributed import DTSStrategy
from hwnas.objective.constraint import CostConstraint
from hwnas.objective.soft import HardwareCostLoss
from hwnas.runs.console import say
from hwnas.runs.recipe import check_recipe, search_recipe
from hwnas.runs.search_pictures import prob_record, write_prob_history, write_search_pictures
from hwnas.runs.summary import format_summary, write_op_costs, write_summary
from hwnas.runs.trainer import (
    build_trainer,
    finish_wandb,
    fit,
    fitted_metrics,
    held_run_folder,
    stops_loudly,
    test,
)
from hwnas.runs.wandb_media import log_search_media
from hwnas.search.module import SearchModule
from hwnas.search.reinforce import ReinforceUpdate
from hwnas.util.files import write_text

log = logging.getLogger(__name__)


SMALLER_UNIT = {"ms": "us", "GMACs": "MMACs", "MMACs": "kMACs", "kMACs": "MACs"}


def _resolve_target(cfg: DictConfig, expected: ExpectedCost) -> float:
    """`cost_loss.target: null` -> geometric mean of the cheapest and dearest architecture;
    a target that the loss form cannot use is refused with the fix."""
    low, high = expected.bounds()
    unit, hardware = expected.unit, cfg.hardware.get("name", "?")
    if high <= 0:
        raise ValueError(
            f"every architecture of the space costs {high:g} {unit} on hardware={hardware}: the "
            "cost model prices every op at zero (an empty or all-zero latency table?); rebuild it "
            "(hardware.cost_model.rebuild=true) or give a table with timings (hardware.table=...)"
        )
    given = cfg.cost_loss.get("target")
    target = float(given) if given is not None else math.sqrt(max(low, 1e-12) * high)
    if cfg.cost_loss.get("form") == "mul_log" and target <= 1:
        origin = (
            "cost_loss.target"
            if given is not None
            else "the geometric mean of the space's cheapest and dearest net"
        )
        fix = (
            f"price costs in {SMALLER_UNIT[unit]} (hardware.cost_model.unit={SMALLER_UNIT[unit]})"
            if unit in SMALLER_UNIT
            else "price costs in a smaller unit"
        )
        raise ValueError(
            f"cost_loss.form=mul_log divides by log T, so it needs a target above 1, and T is "
            f"{target:.3g} {unit} ({origin}): {fix}, or use cost_loss.form=add_linear"
        )
    return target


def _reinforce(arch_update: DictConfig) -> ReinforceUpdate | None:
    """The REINFORCE update of `arch_update=reinforce`; None for the gradient variant."""
    name = arch_update.get("name", "gradient")
    if name == "gradient":
        return None
    if name != "reinforce":
        raise ValueError(f"unknown arch_update {name!r}: choose gradient or reinforce")
    return ReinforceUpdate(
        arch_update.samples,
        arch_update.reward_exponent,
        arch_update.baseline_decay,
        arch_update.updates_per_epoch,
        arch_update.hard_exponent,
    )


def build_search(cfg: DictConfig) -> tuple[SearchModule, pl.LightningDataModule]:
    """Data set, search space, cost model and SearchModule from a composed config."""
    datamodule = instantiate(cfg.dataset)
    space = instantiate(
        cfg.search_space,
        in_channels=datamodule.in_channels,
        input_size=datamodule.input_size,
        num_classes=datamodule.num_classes,
    )
    cost_model = build_cost_model(cfg.hardware, space, cfg.paths.get("cache_dir"))
    expected = ExpectedCost(cost_model, space)
    cost_loss = _build_cost_loss(cfg, expected)
    module = SearchModule(
        space=space,
        expected_cost=expected,
        cost_loss=cost_loss,
        weight_optimizer=instantiate(cfg.optimizer),
        arch_optimizer=instantiate(cfg.arch_update.optimizer),
        arch_mode=cfg.arch_update.get("mode", "full_v2"),
        arch_every=cfg.arch_update.get("every", 1),
        warmup_epochs=cfg.arch_update.warmup_epochs,
        alpha_init_std=cfg.arch_update.alpha_init_std,
        path_seed=0 if cfg.get("seed") is None else int(cfg.seed),
        reinforce=_reinforce(cfg.arch_update),
        **cfg.module,
    )
    low, high = expected.bounds()
    log.info(
        "%s: %d searched layers; cost range %.3f..%.3f %s, %s %.3f%s",
        space.name,
        len(space.layers),
        low,
        high,
        cost_model.unit,
        cost_loss.form,
        cost_loss.target,
        f" ({expected.calibration_text})" if expected.calibration_text else "",
    )
    return module, datamodule


def _build_cost_loss(cfg: DictConfig, expected: ExpectedCost) -> HardwareCostLoss | CostConstraint:
    """`latency.constraint=T` (hard) replaces the soft `cost_loss` term."""
    latency = cfg.get("latency") or {}
    if latency.get("constraint") is None:
        return instantiate(cfg.cost_loss, target=_resolve_target(cfg, expected))
    constraint = CostConstraint(
        float(latency.constraint), latency.get("multiplier_lr", 0.5), latency.get("margin", 0.02)
    )
    constraint.check_feasible(expected)
    return constraint


def _derived_figures(
    module: SearchModule, metrics: dict[str, float], cfg: DictConfig, seconds: float
) -> tuple[Architecture, dict[str, Any]]:
    indices = module.derived_paths()
    argmax = module.supernet.argmax_paths()
    arch = derive_architecture(module.space, indices, source={"search_config": "config.yaml"})
    flops = ExpectedCost(FlopsCostModel("MACs"), module.space)
    with torch.no_grad():
        expected = float(module.expected_cost(module.supernet.probs()))
    figures = {
        "search_space": module.space.name,
        "hardware": cfg.hardware.get("name", "?"),
        "latency_table": cfg.hardware.get("table"),
        "cost_unit": module.expected_cost.unit,
        "cost_calibration": module.expected_cost.calibration_text,
        "cost_form": module.cost_loss.form,
        "target": module.cost_loss.target,
        "repaired_layers": sum(a != b for a, b in zip(argmax, indices, strict=True)),
        "expected_cost": expected,
        "derived_cost": module.expected_cost.of_paths(indices),
        "val_acc": metrics.get("val/acc", float("nan")),
        "test_acc": metrics.get("test/acc", float("nan")),
        "params": sum(p.numel() for p in build_timm_model(arch).parameters()),
        "macs": int(flops.of_paths(indices)),
        "search_time_s": seconds,
        "arch_update": "gradient" if module.reinforce is None else "reinforce",
        "arch_mode": module.arch_mode if module.reinforce is None else None,
        "architecture": [b.op for b in arch.layers],
        "arch_file": "arch.yaml",
    }
    return arch, figures


def _write_results(
    out: Path,
    cfg: DictConfig,
    trainer: pl.Trainer,
    module: SearchModule,
    arch: Architecture,
    figures: dict[str, Any],
) -> None:
    """The run folder's results (config, arch.yaml, summary.json, op prices, probabilities and
    pictures) and the wandb media; the summary first, so a failing picture loses no figure."""
    write_text(out / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    arch.save(out / "arch.yaml")
    write_summary(out / "summary.json", figures)
    probs = [p.tolist() for p in module.supernet.cpu_probs()]
    say(format_summary(arch, figures, probs))
    write_op_costs(out / "op_costs.json", module.space, module.expected_cost, figures["hardware"])
    record = prob_record(module.space, module.prob_history)
    write_prob_history(out, record)
    pictures = write_search_pictures(
        out, arch, module.derived_paths(), module.expected_cost, figures, record
    )
    log_search_media(trainer, out, pictures, record, module.expected_cost.table_file, cfg.hardware)
    say(
        f"\nWrote {out / 'arch.yaml'}, {out / 'summary.json'} and the pictures "
        f"{', '.join(p.name for p in pictures.values())}"
    )


def run_search(cfg: DictConfig) -> dict[str, Any]:
    """Search, test the argmax architecture, export `arch.yaml` and `summary.json`.

    Returns the summary figures (also written to the run directory).
    """
    check_objectives(cfg.get("objectives"))
    check_recipe(cfg)
    with held_run_folder(cfg, "summary.json") as out:
        return _search(cfg, out)


def _search(cfg: DictConfig, out: Path) -> dict[str, Any]:
    warmup = cfg.arch_update.warmup_epochs
    if warmup >= cfg.epochs:
        raise ValueError(
            f"arch_update.warmup_epochs={warmup} >= epochs={cfg.epochs}: no architecture step "
            "would run, and the exported net would be the untrained uniform choice; set epochs "
            "above arch_update.warmup_epochs"
        )
    module, datamodule = build_search(cfg)
    recipe = search_recipe(cfg, module, datamodule)  # logged with its target
    trainer = build_trainer(cfg)
    try:
        fit(trainer, module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        seconds = module.search_seconds()  # with the interrupted runs it resumed
        metrics = fitted_metrics(trainer)
        metrics.update(test(trainer, module, datamodule=datamodule))
        arch, figures = _derived_figures(module, metrics, cfg, seconds)
        figures["recipe"] = recipe
        if isinstance(trainer.strategy, DTSStrategy):
            figures["distributed"] = trainer.strategy.summary()
        if trainer.is_global_zero:
            with stops_loudly(trainer, "writing the results", out / "summary.json"):
                _write_results(out, cfg, trainer, module, arch, figures)
    finally:
        finish_wandb(trainer)
    return figures


# the numeric figures of summary.json, which a sweeper can optimise
OBJECTIVES = (
    "test_acc",
    "val_acc",
    "derived_cost",
    "expected_cost",
    "params",
    "macs",
    "search_time_s",
    "repaired_layers",
)


def check_objectives(names: Any) -> list[str]:
    """`objectives` as a list, refused before the search if it names no numeric figure."""
    names = ["test_acc"] if names is None else [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in OBJECTIVES]
    if unknown or not names:
        raise ValueError(
            f"objectives={names}: {unknown or 'none'} not figures a sweeper can "
            f"optimise; choose from {', '.join(OBJECTIVES)}"
        )
    return names


def sweep_objectives(figures: dict[str, Any], names: Any) -> float | tuple[float, ...]:
    """The summary figures a Hydra sweeper optimises (`objectives`): one number, or a tuple
    for a multi-objective sweep."""
    names = check_objectives(names)
    values = tuple(float(figures[n]) for n in names)
    return values[0] if len(values) == 1 else values
