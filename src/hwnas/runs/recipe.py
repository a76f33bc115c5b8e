"""The recipe of a run: the search space and schedule made for its data set.

A search takes its data set's recipe (`conf/recipe/<dataset>.yaml`, chosen by `recipe: ${dataset}`
in search.yaml's defaults), or the one `recipe=` or an experiment chooses; training takes
train.yaml's own or a training experiment's (`train_experiment=`, conf/train_experiment/).
`check_recipe` refuses, before any work, a run whose recipe does not fit its data set;
`search_recipe` and `train_recipe` describe the recipe in effect, for the log and the run's
summary.
"""

from __future__ import annotations

import logging
from typing import Any

from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from hwnas.objective.target import GEOMETRIC_MEAN

log = logging.getLogger(__name__)

# The data modules of conf/dataset/: the name a run shows, and the image size of those whose size
# is fixed (the others take dataset.input_size).
DATA_SETS: dict[str, tuple[str, int | None]] = {
    "hwnas.data.MnistSampleDataModule": ("mnist", 28),
    "hwnas.data.Cifar10DataModule": ("cifar10", 32),
    "hwnas.data.ImageFolderDataModule": ("imagefolder", None),
    "hwnas.data.SyntheticDataModule": ("synthetic", None),
}
# The recipes a run whose recipe does not fit suggests, by the image size each is made for
RECIPES: dict[str, dict[int, str]] = {
    "search": {28: "recipe=mnist", 32: "recipe=cifar10", 224: "recipe=imagenet"},
    "train": {32: "train_experiment=cifar10_fast", 224: "train_experiment=imagenet"},
}
# What a search on a data set without a recipe of its own must give itself
OWN_RECIPE = ("search_space", "epochs")


def dataset_name(cfg: DictConfig) -> str:
    """The `dataset=` choice of the config (the class name of a data module hwnas does not ship)."""
    target = str(cfg.dataset.get("_target_", "?"))
    return DATA_SETS.get(target, (target.rsplit(".", 1)[-1], None))[0]


def data_input_size(cfg: DictConfig) -> int | None:
    """The data set's image size in px from the config alone (no data is read): fixed for
    mnist and cifar10, else `dataset.input_size`; None where the data set does not say."""
    fixed = DATA_SETS.get(str(cfg.dataset.get("_target_")), ("", None))[1]
    return fixed if fixed is not None else cfg.dataset.get("input_size")


def check_recipe(cfg: DictConfig) -> None:
    """Refuse, with the fix, a search on a data set without a recipe that does not give one
    itself, a recipe made for another image size than the data set's, and a recipe's target
    for a hardware model that `hardware.table` or `coefficients` replace."""
    recipe = cfg.get("recipe") or {}
    task = "train" if cfg.get("task_name") == "train" else "search"
    if recipe.get("name") is None and task == "search":
        missing = [key for key in OWN_RECIPE if cfg.get(key) is None]
        if missing:
            raise ValueError(_no_recipe_text(cfg, missing))
    made_for, size = recipe.get("input_size"), data_input_size(cfg)
    if made_for is not None and size is not None and made_for != size:
        raise ValueError(_misfit_text(cfg, task, made_for, size))
    if cfg.get("hardware") is not None:
        _check_recipe_target(cfg)


def _resizable(cfg: DictConfig) -> bool:
    return DATA_SETS.get(str(cfg.dataset.get("_target_")), ("", None))[1] is None


def _choices(cfg: DictConfig, task: str, size: int | None) -> str:
    """The recipes to choose from, the one for the data set's image size first."""
    options = []
    for made_for, choice in sorted(RECIPES[task].items(), key=lambda kv: kv[0] != size):
        if made_for == size:
            options.append(f"{choice} for its {made_for}-px images")
        elif _resizable(cfg):
            options.append(f"{choice} for {made_for}-px images (dataset.input_size={made_for})")
    if len(options) < 2:
        return "".join(options)
    return ", ".join(options[:-1]) + " or " + options[-1]


def _no_recipe_text(cfg: DictConfig, missing: list[str]) -> str:
    defaults = (
        f"{cfg.dataset.get('batch_size')}, {cfg.optimizer.lr:g} and "
        f"{cfg.arch_update.optimizer.lr:g}"
    )
    return (
        f"dataset={dataset_name(cfg)} has no recipe of its own: choose "
        f"{_choices(cfg, 'search', data_input_size(cfg))}; or give your own: "
        f"{' and '.join(f'{key}=...' for key in missing)}, with dataset.batch_size, optimizer.lr "
        f"and arch_update.optimizer.lr where {defaults} do not suit it"
    )


def _misfit_text(cfg: DictConfig, task: str, made_for: int, size: int) -> str:
    fixes = [f"set dataset.input_size={made_for}"] if _resizable(cfg) else []
    fitting = RECIPES[task].get(size)
    if fitting:
        fixes.append(f"choose {fitting} for {size}-px images")
    elif task == "train":
        fixes.append("leave out train_experiment= (train.yaml's recipe fits any size)")
    else:
        fixes.append("leave out recipe= and experiment= and give search_space=... and epochs=...")
    return (
        f"the recipe {cfg.recipe.name} is made for {made_for}-px images and "
        f"dataset={dataset_name(cfg)}'s are {size} px: {', or '.join(fixes)}; "
        "recipe.input_size=null runs it as it is"
    )


def _check_recipe_target(cfg: DictConfig) -> None:
    """A recipe's target is for the hardware model it names; a table or coefficients of
    another device take it away."""
    hardware, cost_loss = cfg.hardware, cfg.get("cost_loss") or {}
    if hardware.get("target") is None or not OmegaConf.is_interpolation(hardware, "target"):
        return
    given = "target" in cost_loss and not OmegaConf.is_interpolation(cost_loss, "target")
    if given or cost_form(cfg) in ("constraint", "none"):
        return  # the search does not use the recipe's target
    replaced = [
        f"hardware.{key}={value}"
        for key, value in (
            ("table", hardware.get("table")),
            ("cost_model.coefficients", hardware.cost_model.get("coefficients")),
        )
        if value
    ]
    if replaced:
        raise ValueError(
            f"the recipe {cfg.recipe.name}'s target, {hardware.target:g} "
            f"{hardware.cost_model.unit}, is for hardware={hardware.name}'s own model, and "
            f"{' and '.join(replaced)} prices another device: set hardware.target=... for it "
            "(hardware.target=null: the geometric mean of its cost range)"
        )


def cost_form(cfg: DictConfig) -> str:
    """The form of the config's cost term (`mul_log`, `add_linear`, `none`, `constraint`), as
    its `cost_loss._target_` class names it."""
    target = (cfg.get("cost_loss") or {}).get("_target_")
    return getattr(get_class(target), "form", "?") if target else "?"


def target_source(cfg: DictConfig, form: str) -> str:
    """Where the search's target comes from: `cost_loss.limit` (a hard constraint),
    `cost_loss.target`, `hardware.target` (all given), `recipe` (the recipe's for this
    hardware) or `geometric_mean` (of the space's cheapest and dearest net)."""
    if form == "constraint":
        return "cost_loss.limit"
    if not OmegaConf.is_interpolation(cfg.cost_loss, "target"):
        return "geometric_mean" if cfg.cost_loss.get("target") is None else "cost_loss.target"
    if cfg.hardware.get("target") is None:
        return "geometric_mean"
    return "recipe" if OmegaConf.is_interpolation(cfg.hardware, "target") else "hardware.target"


def _schedule(cfg: DictConfig, datamodule: Any) -> dict[str, Any]:
    """What every run's recipe records: its name, the data and the schedule."""
    return {
        "name": (cfg.get("recipe") or {}).get("name"),
        "dataset": dataset_name(cfg),
        "input_size": getattr(datamodule, "input_size", None),
        "epochs": cfg.epochs,
        "batch_size": cfg.dataset.get("batch_size"),
        "lr": cfg.optimizer.lr,
    }


def search_recipe(cfg: DictConfig, module: Any, datamodule: Any) -> dict[str, Any]:
    """The recipe in effect for a built search, with its target (known once the cost model is
    built); logs it, and `summary.json` keeps it."""
    form = module.cost_loss.form
    recipe = {
        **_schedule(cfg, datamodule),
        "search_space": module.space.name,
        "arch_lr": cfg.arch_update.optimizer.lr,
        "hardware": cfg.hardware.get("name", "?"),
        "target": module.cost_loss.target,
        "unit": module.expected_cost.unit,
        "target_from": target_source(cfg, form),
        "cost_form": form,
        "other_targets": _other_targets(cfg),
    }
    log.info(format_recipe(recipe))
    return recipe


def _other_targets(cfg: DictConfig) -> dict[str, Any]:
    """The recipe's targets for other hardware than this run's (shown, never used)."""
    targets = (cfg.get("recipe") or {}).get("targets") or {}
    mine = cfg.hardware.get("name")
    return {
        name: OmegaConf.to_container(by_unit) for name, by_unit in targets.items() if name != mine
    }


def train_recipe(cfg: DictConfig, module: Any, datamodule: Any) -> dict[str, Any]:
    """The recipe in effect for a built training run; logs it, and `train_summary.json` keeps it."""
    recipe = {**_schedule(cfg, datamodule), "architecture": module.arch.name}
    log.info(format_recipe(recipe))
    return recipe


def recipe_text(recipe: dict[str, Any]) -> str:
    """One line: which recipe, on which data, and its schedule."""
    name = recipe["name"]
    which = f"Recipe {name}" if name else "Recipe of your own"
    size = recipe["input_size"]
    shape = f" at {size}x{size} px" if size else ""
    if "search_space" in recipe:
        what = f"search space {recipe['search_space']}{shape}"
        rates = f"learning rates {recipe['lr']:g} (weights), {recipe['arch_lr']:g} (architecture)"
    else:
        what = f"architecture {recipe['architecture']}{shape}"
        rates = f"learning rate {recipe['lr']:g}"
    epochs = f"{recipe['epochs']} epoch" + ("" if recipe["epochs"] == 1 else "s")
    return (
        f"{which} on dataset={recipe['dataset']}: {what}, {epochs}, "
        f"batch {recipe['batch_size']}, {rates}"
    )


_SOURCES = {
    "cost_loss.limit": "cost_loss.limit",
    "cost_loss.target": "cost_loss.target",
    "hardware.target": "hardware.target",
    "recipe": "the recipe's for this hardware",
    "geometric_mean": GEOMETRIC_MEAN,
}


def target_text(recipe: dict[str, Any]) -> str:
    """The search's target with its unit and where it comes from."""
    kind = "hard constraint" if recipe["target_from"] == "cost_loss.limit" else "target"
    notes = [_SOURCES[recipe["target_from"]]]
    for name, by_unit in recipe["other_targets"].items():
        unit = recipe["unit"] if recipe["unit"] in by_unit else next(iter(by_unit), None)
        if unit is not None:
            notes.append(f"the recipe's {by_unit[unit]:g} {unit} is for hardware={name}")
    unused = "; no hardware term: cost_loss=none" if recipe["cost_form"] == "none" else ""
    return (
        f"{kind} {recipe['target']:.4g} {recipe['unit']} on hardware={recipe['hardware']} "
        f"({'; '.join(notes)}){unused}"
    )


def format_recipe(recipe: dict[str, Any]) -> str:
    """What the start of a run prints: the recipe, and for a search its target."""
    lines = [recipe_text(recipe)]
    if "target" in recipe:
        lines.append("  " + target_text(recipe))
    return "\n".join(lines)
