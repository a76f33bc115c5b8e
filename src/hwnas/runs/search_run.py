"""`run_search(cfg)`: everything `python search.py` does, callable from tests."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from hwnas.architecture.arch_file import Architecture
from hwnas.architecture.derive import derive_architecture
from hwnas.architecture.timm_model import build_timm_model
from hwnas.cost.flops import FlopsCostModel
from hwnas.cost.from_config import build_cost_model
from hwnas.cost.model import ExpectedCost
from hwnas.distributed import DTSStrategy
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
from hwnas.search.arch_update import ArchUpdate
from hwnas.search.gradient_update import GradientUpdate
from hwnas.search.module import SearchModule
from hwnas.search.reinforce import ReinforceUpdate
from hwnas.util.files import write_text

log = logging.getLogger(__name__)

ARCH_UPDATES = (GradientUpdate, ReinforceUpdate)


def _built(node: Any) -> Any:
    """`instantiate(node)`; a ValueError of the class built (a setting it refuses, with the fix)
    is raised as it is, not wrapped in Hydra's InstantiationException."""
    try:
        return instantiate(node)
    except InstantiationException as err:
        if isinstance(err.__cause__, ValueError):
            raise err.__cause__ from None
        raise


def _arch_update(node: DictConfig) -> ArchUpdate:
    """The `arch_update=` choice, built from its settings. Recipes and debug configs set the
    settings of each update for whichever is chosen (`every` of gradient, `updates_per_epoch`
    of reinforce): the settings of the other updates are left out."""
    settings = OmegaConf.to_container(node, resolve=True)
    mine = inspect.signature(get_class(settings["_target_"])).parameters
    others = {name for cls in ARCH_UPDATES for name in inspect.signature(cls).parameters}
    return _built({k: v for k, v in settings.items() if k in mine or k not in others})


def build_search(cfg: DictConfig) -> tuple[SearchModule, pl.LightningDataModule]:
    """Data set, search space, cost model, cost term, architecture update and SearchModule
    from a composed config."""
    datamodule = instantiate(cfg.dataset)
    space = instantiate(
        cfg.search_space,
        in_channels=datamodule.in_channels,
        input_size=datamodule.input_size,
        num_classes=datamodule.num_classes,
    )
    cost_model = build_cost_model(cfg.hardware, space, cfg.paths.get("cache_dir"))
    expected = ExpectedCost(cost_model, space)
    cost_loss = _built(cfg.cost_loss).bind(expected, cfg.hardware.get("name", "?"))
    module = instantiate(cfg.module)(
        space=space,
        expected_cost=expected,
        cost_loss=cost_loss,
        arch_update=_arch_update(cfg.arch_update),
        weight_optimizer=instantiate(cfg.optimizer),
        path_seed=0 if cfg.get("seed") is None else int(cfg.seed),
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


def _derived_summary(
    module: SearchModule, metrics: dict[str, float], cfg: DictConfig, seconds: float
) -> tuple[Architecture, dict[str, Any]]:
    """The derived architecture and the summary of the search that found it."""
    indices = module.derived_paths()
    argmax = module.supernet.argmax_paths()
    arch = derive_architecture(module.space, indices, source={"search_config": "config.yaml"})
    flops = ExpectedCost(FlopsCostModel("MACs"), module.space)
    with torch.no_grad():
        expected = float(module.expected_cost(module.supernet.probs()))
    summary = {
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
        "arch_update": module.arch_update.name,
        "arch_mode": module.arch_update.mode,
        "architecture": [b.op for b in arch.layers],
        "arch_file": "arch.yaml",
    }
    return arch, summary


def _write_results(
    out: Path,
    cfg: DictConfig,
    trainer: pl.Trainer,
    module: SearchModule,
    arch: Architecture,
    summary: dict[str, Any],
) -> None:
    """The run folder's results (config, arch.yaml, summary.json, op prices, probabilities and
    pictures) and the wandb media; the summary first, so a failing picture loses none of it."""
    write_text(out / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    arch.save(out / "arch.yaml")
    write_summary(out / "summary.json", summary)
    probs = [p.tolist() for p in module.supernet.cpu_probs()]
    say(format_summary(arch, summary, probs))
    write_op_costs(out / "op_costs.json", module.space, module.expected_cost, summary["hardware"])
    record = prob_record(module.space, module.prob_history)
    write_prob_history(out, record)
    pictures = write_search_pictures(
        out, arch, module.derived_paths(), module.expected_cost, summary, record
    )
    log_search_media(trainer, out, pictures, record, module.expected_cost.table_file, cfg.hardware)
    say(
        f"\nWrote {out / 'arch.yaml'}, {out / 'summary.json'} and the pictures "
        f"{', '.join(p.name for p in pictures.values())}"
    )


def run_search(cfg: DictConfig) -> dict[str, Any]:
    """Search, test the argmax architecture, export `arch.yaml` and `summary.json`.

    Returns the summary (also written to the run directory).
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
        arch, summary = _derived_summary(module, metrics, cfg, seconds)
        summary["recipe"] = recipe
        if isinstance(trainer.strategy, DTSStrategy):
            summary["distributed"] = trainer.strategy.summary()
        if trainer.is_global_zero:
            with stops_loudly(trainer, "writing the results", out / "summary.json"):
                _write_results(out, cfg, trainer, module, arch, summary)
    finally:
        finish_wandb(trainer)
    return summary


# the numeric values of summary.json, which a sweeper can optimise
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
    """`objectives` as a list, refused before the search if it names no numeric value of the
    summary."""
    names = ["test_acc"] if names is None else [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in OBJECTIVES]
    if unknown or not names:
        raise ValueError(
            f"objectives={names}: {unknown or 'none'} not values of summary.json a sweeper "
            f"can optimise; choose from {', '.join(OBJECTIVES)}"
        )
    return names


def sweep_objectives(summary: dict[str, Any], names: Any) -> float | tuple[float, ...]:
    """The summary values a Hydra sweeper optimises (`objectives`): one number, or a tuple
    for a multi-objective sweep."""
    names = check_objectives(names)
    values = tuple(float(summary[n]) for n in names)
    return values[0] if len(values) == 1 else values
