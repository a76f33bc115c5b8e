"""Export: arch.yaml round trip, timm models from it, the published nets, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
import yaml

from hwnas.architecture import (
    Architecture,
    build_timm_model,
    derive_architecture,
    resolve_architecture,
)
from hwnas.search import SuperNet

ARCH_DIR = Path(__file__).resolve().parents[2] / "src" / "hwnas" / "architecture" / "published"


def test_proxyless_mobile_has_the_papers_parameter_count() -> None:
    model = timm.create_model("proxyless_mobile")
    assert sum(p.numel() for p in model.parameters()) == 4_080_512


@pytest.mark.parametrize("path", sorted(ARCH_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_published_arch_builds_and_runs(path: Path) -> None:
    arch = Architecture.load(path)
    model = build_timm_model(arch, num_classes=7).eval()
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 7)
    if path.stem != "tiny":  # the debug runs' net is not registered with timm
        assert timm.create_model(path.stem, num_classes=7).num_classes == 7


def test_derived_arch_round_trips_and_matches_the_supernet_path(tiny_space, tmp_path: Path) -> None:
    net = SuperNet(tiny_space)
    indices = [1, 4, 0, 4]  # layers 1 and 3 take Zero
    arch = derive_architecture(tiny_space, indices)
    path = arch.save(tmp_path / "arch.yaml")
    loaded = Architecture.load(path)
    assert loaded.to_dict() == arch.to_dict()
    assert [b.removed for b in loaded.layers] == [False, True, False, True]
    assert loaded.arch_def() == [["ds_r1_k3_s1_c8"], ["ir_r1_k3_s2_e3_c16"], ["ds_r1_k3_s2_c24"]]
    model = timm.create_model("hwnas_arch", arch_file=str(path))
    active = [
        p for b, i in zip(net.blocks, indices, strict=True) for p in b.candidates[i].parameters()
    ]
    fixed = [p for n, p in net.named_parameters() if not n.startswith("blocks.")]
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in active + fixed)
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 4)


def _edited(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load((ARCH_DIR / "proxyless_mobile.yaml").read_text())
    edit(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_unknown_op_names_the_layer(tmp_path: Path) -> None:
    path = _edited(tmp_path, lambda d: d["layers"][3].update(op="conv9", removed=False))
    with pytest.raises(ValueError, match=r"layer 3 \(stage 1\).*unknown candidate 'conv9'"):
        Architecture.load(path)


def test_inconsistent_channels_name_the_layer(tmp_path: Path) -> None:
    path = _edited(tmp_path, lambda d: d["layers"][5].update(in_channels=48))
    with pytest.raises(
        ValueError, match=r"layer 5 \(stage 2\): in_channels 48 does not match .* 40"
    ):
        Architecture.load(path)


def test_edited_arch_def_is_refused(tmp_path: Path) -> None:
    path = _edited(tmp_path, lambda d: d["timm_arch_def"][1].append("ir_r1_k3_s1_e3_c32"))
    with pytest.raises(ValueError, match="timm_arch_def disagrees"):
        Architecture.load(path)


def test_missing_file_and_unknown_name() -> None:
    with pytest.raises(FileNotFoundError, match="nowhere.yaml"):
        resolve_architecture("nowhere.yaml")
    with pytest.raises(FileNotFoundError, match="no architecture named 'proxyless_phone'"):
        resolve_architecture("proxyless_phone")


def _without_arch_def(change):
    def edit(d: dict) -> None:
        change(d)
        del d["timm_arch_def"]  # as the timm_arch_def error advises after an edit

    return edit


def test_stride_on_a_block_inside_a_stage_is_refused(tmp_path: Path) -> None:
    """timm would build it with stride 1, silently."""
    path = _edited(tmp_path, _without_arch_def(lambda d: d["layers"][1].update(stride=2)))
    with pytest.raises(
        ValueError, match=r"layer 1 \(stage 1\): stride 2 on a block that does not start its stage"
    ):
        Architecture.load(path)


def test_stages_out_of_order_are_refused(tmp_path: Path) -> None:
    """timm would build the stages sorted, not in the order the file lists."""

    def swap(d: dict) -> None:
        for layer in d["layers"]:
            layer["stage"] = {1: 2, 2: 1}.get(layer["stage"], layer["stage"])

    path = _edited(tmp_path, _without_arch_def(swap))
    with pytest.raises(ValueError, match="stages must run in increasing order"):
        Architecture.load(path)


def _tiny_edited(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load((ARCH_DIR / "tiny.yaml").read_text())
    edit(data)
    path = tmp_path / "arch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("section", ["head", "stem", "layers", "bn_eps", "activation", "name"])
def test_a_missing_section_is_refused_with_the_file_and_the_fix(tmp_path: Path, section) -> None:
    """A deleted `head` was built as a 1280-channel head (48,948 parameters for tiny, not
    11,508); a deleted `bn_eps` or `activation` took a default just as silently."""
    path = _tiny_edited(tmp_path, lambda d: d.pop(section))
    with pytest.raises(ValueError) as err:
        Architecture.load(path)
    assert str(err.value).startswith(f"{path}: `{section}` is missing (")
    assert "Copy it back from the arch.yaml that search.py wrote" in str(err.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["stem"].pop("stride"),
            r"stem has no `stride` \(it needs channels, kernel and stride\)",
        ),
        (
            lambda d: d["head"].pop("dropout"),
            r"head has no `dropout` \(it needs channels and dropout\)",
        ),
        (lambda d: d["head"].pop("channels"), "head has no `channels`"),
        (lambda d: d["layers"][2].pop("kernel"), r"layer 2 \(stage 2\) has no `kernel`"),
        (lambda d: d["first_block"].pop("shortcut"), "first_block has no `shortcut`"),
    ],
    ids=["stem.stride", "head.dropout", "head.channels", "layer.kernel", "first_block.shortcut"],
)
def test_a_missing_field_names_its_section_and_the_fix(tmp_path: Path, edit, message) -> None:
    """A deleted stem stride was built at stride 2, a deleted head dropout at 0."""
    path = _tiny_edited(tmp_path, edit)
    with pytest.raises(ValueError, match=rf"^{path}: {message}.*search\.py"):
        Architecture.load(path)


def test_unknown_fields_and_bad_values_are_refused(tmp_path: Path) -> None:
    path = _tiny_edited(tmp_path, lambda d: d["head"].update(chanels=64))
    with pytest.raises(ValueError, match="head: unknown field `chanels` .*correct its spelling"):
        Architecture.load(path)
    path = _tiny_edited(tmp_path, lambda d: d.update(heads={"channels": 64}))
    with pytest.raises(ValueError, match="unknown section `heads`"):
        Architecture.load(path)
    path = _tiny_edited(tmp_path, lambda d: d.update(bn_eps="1e-5"))
    with pytest.raises(ValueError, match=r"bn_eps must be a number > 0, not '1e-5' \(YAML reads"):
        Architecture.load(path)
    path = _tiny_edited(tmp_path, lambda d: d["head"].update(channels=0))
    with pytest.raises(ValueError, match="head channels must be a positive whole number, not 0"):
        Architecture.load(path)


def test_a_shortcut_timm_would_not_build_is_refused(tmp_path: Path) -> None:
    """timm puts a skip connection wherever stride is 1 and the channels stay, whatever the
    file says; the latency tables price the file's."""
    path = _tiny_edited(tmp_path, lambda d: d["layers"][1].update(shortcut=False))
    with pytest.raises(
        ValueError,
        match=r"layer 1 \(stage 1\): shortcut: False, but .* set "
        "shortcut: true",
    ):
        Architecture.load(path)


def test_a_folder_names_the_arch_yaml_to_pass(tmp_path: Path) -> None:
    """`arch=outputs/search/<run>` said "architecture file not found"."""
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(FileNotFoundError, match=f"{run} is a folder, .* holds no arch.yaml"):
        resolve_architecture(run)
    (run / "arch.yaml").write_text((ARCH_DIR / "tiny.yaml").read_text())
    with pytest.raises(
        FileNotFoundError,
        match=f"^{run} is a folder, not an architecture file; it holds {run / 'arch.yaml'}: "
        "pass that file$",
    ):
        resolve_architecture(run)
    (tmp_path / "job1").mkdir()
    (tmp_path / "job1" / "arch.yaml").write_text("")
    with pytest.raises(FileNotFoundError, match="job1/arch.yaml, .*run/arch.yaml: pass one of"):
        Architecture.load(tmp_path)  # a sweep's folder: one arch.yaml per job
