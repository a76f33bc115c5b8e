"""The real search loop through Hydra's compose API on tiny configs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from hwnas.architecture import Architecture
from hwnas.cost import LatencyTable
from hwnas.cost.op_shapes import architecture_ops
from hwnas.runs.search_run import build_search, run_search
from hwnas.training.module import TrainModule

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def tiny_cfg(tmp_path: Path, *overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(
            config_name="search",
            overrides=[
                "debug=fast",
                "dataset=synthetic",
                "dataset.input_size=16",
                "dataset.train_size=256",
                "dataset.test_size=64",
                "dataset.batch_size=16",
                "logger=csv",
                *overrides,
            ],
        )
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    return cfg


def test_search_writes_arch_and_summary(tmp_path: Path) -> None:
    returned = run_search(
        tiny_cfg(
            tmp_path, "epochs=1", "arch_update.warmup_epochs=0", "trainer.limit_train_batches=2"
        )
    )
    arch = Architecture.load(tmp_path / "arch.yaml")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["architecture"] == [b.op for b in arch.layers] == returned["architecture"]
    assert (arch.in_channels, arch.input_size, arch.num_classes) == (3, 16, 10)
    assert 0.0 <= summary["test_acc"] <= 1.0 and summary["params"] > 0
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def test_weights_and_alphas_both_change_and_optimisers_are_disjoint(tmp_path: Path) -> None:
    cfg = tiny_cfg(tmp_path, "~callbacks", "+trainer.enable_checkpointing=false")
    module, datamodule = build_search(cfg)
    alphas0 = [a.detach().clone() for a in module.supernet.arch_parameters()]
    weights0 = {
        n: p.detach().clone() for n, p in module.supernet.named_parameters() if "alpha" not in n
    }
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    trainer.fit(module, datamodule=datamodule)
    w_opt, a_opt = (o.optimizer for o in module.optimizers())
    alpha_ids = {id(a) for a in module.supernet.arch_parameters()}
    w_ids = {id(p) for g in w_opt.param_groups for p in g["params"]}
    a_ids = {id(p) for g in a_opt.param_groups for p in g["params"]}
    assert a_ids == alpha_ids and not (w_ids & alpha_ids)
    assert len(w_ids) == len(list(module.supernet.parameters())) - len(alpha_ids)
    assert any(
        not torch.equal(a, b)
        for a, b in zip(alphas0, module.supernet.arch_parameters(), strict=True)
    )
    changed = [
        n
        for n, p in module.supernet.named_parameters()
        if n in weights0 and not torch.equal(p, weights0[n])
    ]
    assert "conv_stem.weight" in changed and "classifier.weight" in changed


def test_seed_zero_is_a_seed(tmp_path: Path) -> None:
    """Two runs with seed=0 agree exactly (a `if cfg.seed:` check would skip seeding)."""
    args = ("seed=0", "epochs=1", "arch_update.warmup_epochs=0", "trainer.limit_train_batches=4")
    torch.manual_seed(123)  # different global RNG states before each run
    first = run_search(tiny_cfg(tmp_path / "a", *args))
    torch.manual_seed(456)
    second = run_search(tiny_cfg(tmp_path / "b", *args))
    assert first["expected_cost"] == second["expected_cost"]
    assert first["architecture"] == second["architecture"]
    state_a = torch.load(tmp_path / "a" / "checkpoints" / "last.ckpt", weights_only=False)
    state_b = torch.load(tmp_path / "b" / "checkpoints" / "last.ckpt", weights_only=False)
    assert torch.equal(
        state_a["state_dict"]["supernet.conv_stem.weight"],
        state_b["state_dict"]["supernet.conv_stem.weight"],
    )


def test_nan_loss_stops_with_a_clear_error(tmp_path: Path) -> None:
    """lr 1e30 diverges in the first epoch: no checkpoint may hold the diverged weights."""
    cfg = tiny_cfg(tmp_path, "optimizer.lr=1e30", "epochs=3", "module.grad_clip=null")
    with pytest.raises(FloatingPointError, match="diverged.*lower learning rate"):
        run_search(cfg)
    assert not list((tmp_path / "checkpoints").glob("*.ckpt"))  # none finite to keep


def _check(group: str, choice: str, cfg: DictConfig) -> None:
    node = cfg.get(group)
    if group == "search_space":
        assert len(instantiate(node, in_channels=3, input_size=32, num_classes=10).layers) > 0
    elif group == "hardware" and node.name == "gpu" and not torch.cuda.is_available():
        with pytest.raises(Exception, match="hardware=gpu needs a CUDA device"):
            instantiate(node.cost_model)
    elif group == "hardware":
        assert instantiate(node.cost_model).unit
    elif group == "arch_update":
        assert instantiate(node.optimizer)([torch.nn.Parameter(torch.zeros(2))]).defaults["lr"] > 0
        assert build_search(cfg)[0].arch_update.name == choice  # the file names its class
    elif group == "cost_loss":
        assert build_search(cfg)[0].cost_loss.form == choice
    elif group == "module" and choice == "train":  # train.py's (tested with train.yaml)
        assert instantiate(node).func is TrainModule
    elif group == "trainer":
        trainer = instantiate(node, logger=False, accelerator="cpu", devices=1, strategy="auto")
        assert trainer.max_epochs == cfg.epochs
    elif group == "logger":
        assert instantiate(node) is not None
    elif group == "callbacks":
        assert all(instantiate(c) is not None for c in node.values())
    else:  # module=search, experiment, debug: the whole search builds
        assert build_search(cfg)[0].supernet is not None


# the settings a choice needs on the tiny space (whose nets cost under 1 ms on the phone)
REQUIRED = {
    "cost_loss": {
        "constraint": ["cost_loss.limit=1.0"],
        "mul_log": ["hardware.cost_model.unit=us"],
    }
}


@pytest.mark.parametrize(
    "group",
    [
        "search_space",
        "hardware",
        "arch_update",
        "cost_loss",
        "module",
        "trainer",
        "logger",
        "callbacks",
        "experiment",
        "debug",
    ],
)
def test_every_config_file_instantiates(tmp_path: Path, group: str) -> None:
    # train_*: train.py's debug runs (tested with train.yaml)
    files = sorted(
        p for p in (Path(CONF) / group).glob("*.yaml") if not p.stem.startswith("train_")
    )
    assert files
    for path in files:
        needed = REQUIRED.get(group, {}).get(path.stem, [])
        _check(group, path.stem, tiny_cfg(tmp_path, f"{group}={path.stem}", *needed))


def test_interrupted_search_resumes_from_last_checkpoint(tmp_path: Path) -> None:
    first = tiny_cfg(tmp_path / "a", "epochs=1", "arch_update.warmup_epochs=0")
    run_search(first)
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    alphas_after_one = torch.load(last, weights_only=False)["state_dict"]["supernet.blocks.0.alpha"]
    resumed = tiny_cfg(
        tmp_path / "b", "epochs=2", "arch_update.warmup_epochs=0", f"ckpt_path={last}"
    )
    run_search(resumed)
    state = torch.load(tmp_path / "b" / "checkpoints" / "last.ckpt", weights_only=False)
    assert state["epoch"] == 1
    assert not torch.equal(state["state_dict"]["supernet.blocks.0.alpha"], alphas_after_one)
    metrics = (tmp_path / "b" / "csv" / "version_0" / "metrics.csv").read_text().splitlines()
    epoch_col = metrics[0].split(",").index("epoch")
    epochs = {row.split(",")[epoch_col] for row in metrics[1:]} - {""}
    assert "1" in epochs and "0" not in epochs  # only the missing epoch was trained
    assert "arch/expected_latency_ms" in metrics[0].split(",")  # the unit in the name


def test_search_with_a_hard_constraint_ends_at_or_below_it(tmp_path: Path) -> None:
    probe = tiny_cfg(tmp_path / "probe", "hardware=flops", "hardware.cost_model.unit=kMACs")
    module, _ = build_search(probe)
    low, high = module.expected_cost.bounds()
    limit = low + 0.25 * (high - low)  # far below what the unconstrained search picks
    summary = run_search(
        tiny_cfg(
            tmp_path / "run",
            "hardware=flops",
            "hardware.cost_model.unit=kMACs",
            "cost_loss=constraint",
            f"cost_loss.limit={limit}",
            "epochs=2",
            "arch_update.warmup_epochs=0",
        )
    )
    assert summary["cost_form"] == "constraint" and summary["target"] == pytest.approx(limit)
    assert summary["derived_cost"] <= limit
    assert math.isfinite(summary["expected_cost"])
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["cost_constraint"]["multiplier"] > 0  # the constraint was active and is saved
    header = (tmp_path / "run" / "csv" / "version_0" / "metrics.csv").read_text().split("\n")[0]
    assert {"arch/expected_cost_kMACs", "arch/derived_cost_kMACs"} <= set(header.split(","))


def test_a_search_on_a_measured_table_reports_calibrated_latency(tmp_path: Path) -> None:
    """The summary reports the calibrated latency, not the raw sum of the table's ops."""
    cfg = tiny_cfg(
        tmp_path,
        "epochs=1",
        "arch_update.warmup_epochs=0",
        "trainer.limit_train_batches=2",
        "hardware=cpu",
        "hardware.cost_model.profiler.min_run_time=0.02",
        "hardware.cost_model.profiler.min_span=0",
        "hardware.cost_model.calibration_networks=4",
        "hardware.cost_model.progress=false",
        f"paths.cache_dir={tmp_path / 'cache'}",
    )
    summary = run_search(cfg)
    (path,) = (tmp_path / "cache" / "latency").glob("*.json")
    table = LatencyTable.load(path)
    assert summary["cost_calibration"] == table.calibration.describe()
    raw = table.uncalibrated().network_cost
    ops = architecture_ops(Architecture.load(tmp_path / "arch.yaml"))
    assert summary["derived_cost"] == pytest.approx(table.calibration.apply(raw(ops)))


def test_the_paper_experiment_targets_80_ms_on_the_phone() -> None:
    """experiment=imagenet_mobile takes the paper's T = 80 ms (REFERENCE A3), not the
    geometric mean of the space's bounds on the phone model."""
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="search", overrides=["experiment=imagenet_mobile"])
    assert cfg.hardware.name == "mobile" and cfg.cost_loss.target == 80.0


def test_max_steps_is_refused_for_a_search(tmp_path: Path) -> None:
    """trainer.max_steps counts the architecture steps too, so a search limited by it would
    stop with its cosine unfinished: it is refused."""
    with pytest.raises(ValueError, match="trainer.max_steps=12: .* epochs and trainer.limit_train"):
        run_search(tiny_cfg(tmp_path, "+trainer.max_steps=12", "arch_update.warmup_epochs=0"))
