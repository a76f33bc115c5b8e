"""Errors name what is wrong and the fix: an unreadable checkpoint, a resume
with another architecture of the same name, a resumed search of another space."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import open_dict

from hwnas.architecture.timm_model import resolve_architecture
from hwnas.cost.keys import op_key
from hwnas.cost.op_shapes import space_ops
from hwnas.runs.search_run import run_search
from hwnas.runs.train_run import run_train
from hwnas.util.files import UnreadableCheckpointError

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def _cfg(name: str, out: Path, *overrides: str):
    debug = "debug=fast" if name == "search" else "debug=train_fast"
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name=name, overrides=[debug, "logger=csv", "epochs=1", *overrides])
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
    return cfg


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trained")
    run_train(_cfg("train", out))
    return out / "checkpoints" / "last.ckpt"


def test_a_truncated_checkpoint_is_named(trained: Path, tmp_path: Path) -> None:
    broken = tmp_path / "last.ckpt"
    broken.write_bytes(trained.read_bytes()[:5000])
    with pytest.raises(UnreadableCheckpointError, match=f"{broken}: not a readable.*truncated"):
        run_train(_cfg("train", tmp_path / "run", f"ckpt_path={broken}", "epochs=2"))


def test_another_architecture_of_the_same_name_says_where_it_differs(
    trained: Path, tmp_path: Path
) -> None:
    arch = resolve_architecture("tiny").to_dict()
    arch["layers"][1]["op"], arch["layers"][1]["kernel"] = "k5e3", 5
    del arch["timm_arch_def"]
    edited = tmp_path / "tiny.yaml"
    edited.write_text(yaml.safe_dump(arch))
    with pytest.raises(
        ValueError, match="block 2: ir_r1_k3_s1_e3_c16 in the checkpoint, ir_r1_k5_s1_e3_c16 here"
    ):
        run_train(
            _cfg("train", tmp_path / "run", f"arch={edited}", f"ckpt_path={trained}", "epochs=2")
        )


def test_a_resumed_search_of_another_space_is_named(tmp_path: Path) -> None:
    run_search(_cfg("search", tmp_path / "a", "epochs=2", "arch_update.warmup_epochs=0"))
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    with pytest.raises(
        ValueError, match="another space.*first difference.*resume with the search_space"
    ):
        run_search(
            _cfg(
                "search",
                tmp_path / "b",
                "epochs=3",
                "arch_update.warmup_epochs=0",
                "search_space.kernel_sizes=[3]",
                f"ckpt_path={last}",
            )
        )


def test_an_all_zero_table_is_named_rather_than_a_target_never_set(tmp_path: Path) -> None:
    cfg = _cfg("search", tmp_path / "run", "epochs=2")
    datamodule = instantiate(cfg.dataset)
    space = instantiate(
        cfg.search_space,
        in_channels=datamodule.in_channels,
        input_size=datamodule.input_size,
        num_classes=datamodule.num_classes,
    )
    table = tmp_path / "zeros.yaml"
    table.write_text(
        "".join(
            f"{op_key(op)}: {{count: 1, mean: 0.0, var: 0.0}}\n"
            for op in sorted(space_ops(space), key=op_key)
        )
    )
    with pytest.raises(
        ValueError, match="prices every op at zero.*hardware.cost_model.rebuild=true"
    ):
        run_search(_cfg("search", tmp_path / "run", "epochs=2", f"hardware.table={table}"))


def test_mul_log_in_milliseconds_suggests_microseconds(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"T is 0\.\d+ ms .*hardware.cost_model.unit=us"):
        run_search(
            _cfg(
                "search",
                tmp_path,
                "epochs=2",
                "hardware=mobile",
                "cost_loss=mul_log",
                "cost_loss.target=null",
            )
        )
