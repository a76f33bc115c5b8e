"""Recipes follow the data set and the hardware: which recipe a composed config gets, the
mismatches a run refuses before any work, and the recipe a run prints and records."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf, open_dict

from hwnas.runs.recipe import DATA_SETS, RECIPES, check_recipe, cost_form, target_source
from hwnas.runs.search_run import run_search
from hwnas.runs.train_run import run_train

CONF = Path(__file__).resolve().parents[2] / "conf"
HARDWARE = sorted(p.stem for p in (CONF / "hardware").glob("*.yaml"))
SEARCH_EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
TINY = [
    "dataset=synthetic",
    "dataset.input_size=16",
    "dataset.train_size=256",
    "dataset.test_size=64",
    "dataset.batch_size=16",
    "logger=csv",
]


def composed(name: str, *overrides: str, out: Path | None = None) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=name, overrides=list(overrides))
    with open_dict(cfg):
        cfg.paths.output_dir = str(out or "unused")
    return cfg


# the recipe each data set takes by itself: name, search space, epochs, batch, weight and
# architecture learning rates (conf/recipe/<dataset>.yaml); None: it has none
OWN_RECIPES = {
    "mnist": ("mnist", "proxyless_mnist", 24, 32, 0.05, 0.1),
    "cifar10": ("cifar10", "proxyless_cifar", 60, 128, 0.05, 3.0e-3),
    "imagefolder": None,
    "synthetic": None,
}


def _recipe_of(cfg: DictConfig) -> tuple:
    space = cfg.search_space.name if cfg.get("search_space") else None
    return (
        cfg.recipe.name,
        space,
        cfg.epochs,
        cfg.dataset.batch_size,
        cfg.optimizer.lr,
        cfg.arch_update.optimizer.lr,
    )


@pytest.mark.parametrize("hardware", HARDWARE)
@pytest.mark.parametrize("dataset", sorted(OWN_RECIPES))
def test_each_data_set_takes_its_own_recipe_on_every_hardware(dataset: str, hardware: str) -> None:
    cfg = composed("search", f"dataset={dataset}", f"hardware={hardware}")
    expected = OWN_RECIPES[dataset]
    if expected is None:  # no search space, no schedule: the run refuses (below)
        assert cfg.recipe.name is None and cfg.get("search_space") is None and cfg.epochs is None
    else:
        assert _recipe_of(cfg) == expected
    assert cfg.hardware.name == hardware
    assert cfg.cost_loss.target is None  # no data set's own recipe names a target


def test_the_default_search_keeps_the_mnist_recipe() -> None:
    """`python search.py` and `python search.py hardware=mobile` compose as before: the MNIST
    recipe with the linear cost term, 8 warm-up epochs and the geometric-mean target."""
    for overrides in ([], ["hardware=mobile"], ["experiment=mnist_quick"]):
        cfg = composed("search", *overrides)
        assert _recipe_of(cfg) == OWN_RECIPES["mnist"]
        assert cost_form(cfg) == "add_linear" and cfg.arch_update.warmup_epochs == 8
        assert cfg.arch_update.updates_per_epoch == 25
        assert cfg.hardware.name == "mobile" and cfg.cost_loss.target is None


@pytest.mark.parametrize("hardware", HARDWARE)
@pytest.mark.parametrize("experiment", SEARCH_EXPERIMENTS)
def test_a_target_for_the_phone_never_reaches_other_hardware(
    experiment: str, hardware: str
) -> None:
    cfg = composed("search", f"experiment={experiment}", f"hardware={hardware}")
    phone = experiment == "imagenet_mobile" and hardware == "mobile"
    assert cfg.cost_loss.target == (80.0 if phone else None)
    in_us = composed(
        "search",
        f"experiment={experiment}",
        f"hardware={hardware}",
        f"hardware.cost_model.unit={'kMACs' if hardware == 'flops' else 'us'}",
    )
    assert in_us.cost_loss.target == (80_000.0 if phone else None)  # never 80 of another unit


@pytest.mark.parametrize(
    ("overrides", "recipe", "space"),
    [
        (["experiment=cifar10"], "cifar10", "proxyless_cifar"),
        (
            ["dataset=imagefolder", "dataset.input_size=32", "experiment=cifar10"],
            "cifar10",
            "proxyless_cifar",
        ),
        (["dataset=imagefolder", "recipe=imagenet"], "imagenet", "proxyless_imagenet"),
        (["experiment=imagenet_mobile"], "imagenet", "proxyless_imagenet"),
        (["dataset=synthetic", "recipe=cifar10"], "cifar10", "proxyless_cifar"),
        (
            ["dataset=imagefolder", "search_space=proxyless_imagenet", "epochs=30"],
            None,
            "proxyless_imagenet",
        ),
    ],
)
def test_recipes_that_fit_the_data_are_taken(
    overrides: list[str], recipe: str | None, space: str
) -> None:
    cfg = composed("search", *overrides)
    assert (cfg.recipe.name, cfg.search_space.name) == (recipe, space)
    check_recipe(cfg)  # accepted


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["dataset=imagefolder"],
            r"^dataset=imagefolder has no recipe of its own: choose recipe=imagenet for its 224-px "
            r"images, .*recipe=cifar10 for 32-px images \(dataset.input_size=32\).*; or give your "
            r"own: search_space=\.\.\. and epochs=\.\.\., with dataset.batch_size, optimizer.lr and "
            r"arch_update.optimizer.lr where 64, 0.025 and 0.001 do not suit it$",
        ),
        (
            ["dataset=synthetic"],
            r"^dataset=synthetic has no recipe of its own: choose recipe=cifar10 for its 32-px images",
        ),
        (
            ["dataset=imagefolder", "search_space=proxyless_imagenet"],
            r"no recipe of its own: .*; or give your own: epochs=\.\.\., with",
        ),
        (
            ["experiment=mnist_quick", "dataset=cifar10"],
            r"^the recipe mnist is made for 28-px images and dataset=cifar10's are 32 px: choose "
            r"recipe=cifar10 for 32-px images; recipe.input_size=null runs it as it is$",
        ),
        (
            ["experiment=cifar10", "dataset=imagefolder"],
            r"^the recipe cifar10 is made for 32-px images and dataset=imagefolder's are 224 px: set "
            r"dataset.input_size=32, or choose recipe=imagenet for 224-px images;",
        ),
        (
            ["dataset=mnist", "recipe=imagenet"],
            r"^the recipe imagenet is made for 224-px images and dataset=mnist's are 28 px: choose "
            r"recipe=mnist",
        ),
        (
            ["experiment=imagenet_mobile", "dataset=cifar10"],
            r"^the recipe imagenet is made for 224-px images and dataset=cifar10's are 32 px",
        ),
        (
            ["recipe=cifar10", "dataset=imagefolder", "dataset.input_size=64"],
            r"are 64 px: set dataset.input_size=32, or leave out recipe= and experiment= and give "
            r"search_space=\.\.\. and epochs=\.\.\.;",
        ),
        (
            ["experiment=imagenet_mobile", "hardware.table=pixel7.yaml"],
            r"^the recipe imagenet's target, 80 ms, is for hardware=mobile's own model, and "
            r"hardware.table=pixel7.yaml prices another device: set hardware.target=\.\.\. for it",
        ),
    ],
)
def test_a_search_whose_recipe_does_not_fit_stops_before_any_work(
    overrides: list[str], message: str, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    cfg = composed("search", *overrides, out=out)
    with pytest.raises(ValueError, match=message):
        run_search(cfg)
    assert not out.exists()  # no run folder, no data read, no cost model built


@pytest.mark.parametrize(
    "replaced",
    [
        ["cost_loss.target=50"],
        ["cost_loss=constraint", "cost_loss.limit=60"],
        ["cost_loss=none"],
    ],
)
def test_another_phones_table_is_accepted_when_the_recipes_target_is_not_used(
    replaced: list[str],
) -> None:
    """The refusal above asked for hardware.target even where nothing reads it."""
    check_recipe(
        composed("search", "experiment=imagenet_mobile", "hardware.table=pixel7.yaml", *replaced)
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["train_experiment=imagenet", "dataset=cifar10"],
            r"^the recipe train_imagenet is made for 224-px images and dataset=cifar10's are 32 px: "
            r"choose train_experiment=cifar10_fast for 32-px images; recipe.input_size=null runs",
        ),
        (
            ["train_experiment=cifar10_fast", "dataset=mnist"],
            r"and dataset=mnist's are 28 px: leave out train_experiment= \(train.yaml's recipe",
        ),
    ],
)
def test_a_training_run_whose_recipe_does_not_fit_stops_before_any_work(
    overrides: list[str], message: str, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        run_train(composed("train", *overrides, out=out))
    assert not out.exists()


def test_the_recipe_tables_are_those_of_conf() -> None:
    """The data sets and the recipes that messages name are the ones conf/ holds."""
    datasets = {
        yaml.safe_load(p.read_text())["_target_"]: p.stem for p in (CONF / "dataset").glob("*.yaml")
    }
    assert {target: name for target, (name, _) in DATA_SETS.items()} == datasets
    recipes = {}
    for path in (CONF / "recipe").glob("*.yaml"):
        recipe = (yaml.safe_load(path.read_text()) or {}).get("recipe") or {}
        if recipe.get("name"):
            assert recipe["name"] == path.stem
            recipes[recipe["input_size"]] = f"recipe={path.stem}"
    assert RECIPES["search"] == recipes
    train = {
        yaml.safe_load(p.read_text())["recipe"]["input_size"]: f"train_experiment={p.stem}"
        for p in (CONF / "train_experiment").glob("*.yaml")
    }
    assert RECIPES["train"] == train


def test_fixed_image_sizes_are_the_data_modules_own(tmp_path: Path) -> None:
    for target, (_, size) in DATA_SETS.items():
        if size is None:  # takes dataset.input_size
            continue
        kwargs = {"data_dir": str(tmp_path), "download": True} if "Cifar" in target else {}
        assert get_class(target)(**kwargs).input_size == size


def _tiny_search(tmp_path: Path, *overrides: str) -> DictConfig:
    return composed(
        "search",
        "debug=fast",
        *TINY,
        "epochs=1",
        "arch_update.warmup_epochs=0",
        "trainer.limit_train_batches=2",
        *overrides,
        out=tmp_path,
    )


def test_a_search_prints_its_recipe_with_the_target_and_records_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="hwnas.runs.recipe"):
        summary = run_search(
            _tiny_search(
                tmp_path, "experiment=imagenet_mobile", "hardware=flops", "dataset.num_workers=0"
            )
        )
    recipe = json.loads((tmp_path / "summary.json").read_text())["recipe"]
    assert recipe == summary["recipe"]
    assert {
        k: recipe[k]
        for k in (
            "name",
            "dataset",
            "search_space",
            "input_size",
            "epochs",
            "batch_size",
            "lr",
            "arch_lr",
            "hardware",
            "unit",
        )
    } == {
        "name": "debug",
        "dataset": "synthetic",
        "search_space": "tiny",
        "input_size": 16,
        "epochs": 1,
        "batch_size": 16,
        "lr": 0.05,
        "arch_lr": 0.1,
        "hardware": "flops",
        "unit": "MMACs",
    }
    assert recipe["target"] == pytest.approx(summary["target"])
    assert recipe["target_from"] == "geometric_mean"
    printed = [r.getMessage() for r in caplog.records if r.name == "hwnas.runs.recipe"]
    assert len(printed) == 1
    assert printed[0] == (
        "Recipe debug on dataset=synthetic: search space tiny at 16x16 px, 1 epoch, batch 16, "
        "learning rates 0.05 (weights), 0.1 (architecture)\n"
        f"  target {summary['target']:.4g} MMACs on hardware=flops (the geometric mean of the "
        "space's cheapest and dearest net)"  # debug=fast drops the experiment's phone target
    )


@pytest.mark.parametrize(
    ("overrides", "source"),
    [
        (["experiment=imagenet_mobile"], "recipe"),
        (["experiment=imagenet_mobile", "hardware.target=50"], "hardware.target"),
        (["cost_loss.target=3"], "cost_loss.target"),
        (["experiment=imagenet_mobile", "hardware=gpu"], "geometric_mean"),
        (["cost_loss=constraint", "cost_loss.limit=2.0"], "cost_loss.limit"),
    ],
)
def test_the_target_says_where_it_comes_from(overrides: list[str], source: str) -> None:
    cfg = composed("search", *overrides)
    assert target_source(cfg, cost_form(cfg)) == source


def test_a_training_run_prints_its_recipe_and_records_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = composed("train", "debug=train_fast", "epochs=1", out=tmp_path)
    with caplog.at_level(logging.INFO, logger="hwnas.runs.recipe"):
        summary = run_train(cfg)
    recipe = json.loads((tmp_path / "train_summary.json").read_text())["recipe"]
    assert (
        recipe
        == summary["recipe"]
        == {
            "name": "debug",
            "dataset": "synthetic",
            "architecture": "tiny",
            "input_size": 16,
            "epochs": 1,
            "batch_size": 32,
            "lr": OmegaConf.select(cfg, "optimizer.lr"),
        }
    )
    printed = [r.getMessage() for r in caplog.records if r.name == "hwnas.runs.recipe"]
    assert printed == [
        "Recipe debug on dataset=synthetic: architecture tiny at 16x16 px, 1 epoch, "
        "batch 32, learning rate 0.05"
    ]
