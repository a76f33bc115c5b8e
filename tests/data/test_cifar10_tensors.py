from __future__ import annotations

import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from hwnas.data import Cifar10DataModule
from hwnas.data.cifar10_arrays import find_source, load_cifar10

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from pack_images import pack_image_files  # noqa: E402

SHARED_ZIP = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cifar10-jpeg.zip"


def _zip(tree: Path, path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for f in sorted(tree.rglob("*.png")):
            archive.write(f, f"cifar10/{f.relative_to(tree).as_posix()}")
    return path


def test_tree_zip_and_cache_give_the_same_tensors(cifar_tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    from_tree = load_cifar10(find_source(cifar_tree), cache)
    assert from_tree.train_images.shape == (60, 3, 32, 32)
    assert from_tree.train_images.dtype == torch.uint8
    assert from_tree.train_labels.bincount().tolist() == [6] * 10
    assert len(list((cache / "data").glob("*.pt"))) == 1  # decoded once, then cached
    again = load_cifar10(find_source(cifar_tree), cache)
    assert torch.equal(again.train_images, from_tree.train_images)
    from_zip = load_cifar10(find_source(_zip(cifar_tree, tmp_path / "c.zip")), None)
    assert torch.equal(from_zip.train_images, from_tree.train_images)
    assert torch.equal(from_zip.test_labels, from_tree.test_labels)


def test_two_processes_filling_the_cache_at_once_do_not_collide(
    cifar_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every DDP rank decodes on a fresh machine and writes the cache: while one writes, the
    other may write and move its own file into place. Each must write a file of its own (a shared
    temporary name let the second rank's rename take the first one's file away mid-write)."""
    cache, source = tmp_path / "cache", find_source(cifar_tree)
    save, other, writes = torch.save, [], []

    def save_while_another_process_does(obj, path, *args, **kwargs) -> None:
        save(obj, path, *args, **kwargs)
        writes.append(path)
        if len(writes) == 1:  # the other rank, in the middle of this one's write
            other.append(load_cifar10(source, cache))

    monkeypatch.setattr(torch, "save", save_while_another_process_does)
    arrays = load_cifar10(source, cache)
    assert torch.equal(arrays.train_images, other[0].train_images)
    assert [p.suffix for p in (cache / "data").iterdir()] == [".pt"]  # no temporary left over


def test_packed_image_files_give_the_same_tensors(cifar_tree: Path, tmp_path: Path) -> None:
    """The form gpu_bundle.sh carries to a GPU machine: the zip's files in one .npz, packed by
    benchmarks/pack_images.py."""
    packed = pack_image_files(_zip(cifar_tree, tmp_path / "c.zip"), tmp_path / "c.npz")
    assert find_source(packed) == packed
    from_packed = load_cifar10(packed, None)
    from_tree = load_cifar10(find_source(cifar_tree), None)
    for split in ("train", "test"):
        assert torch.equal(
            getattr(from_packed, f"{split}_images"), getattr(from_tree, f"{split}_images")
        )
        assert torch.equal(
            getattr(from_packed, f"{split}_labels"), getattr(from_tree, f"{split}_labels")
        )
    assert from_packed.classes == from_tree.classes
    np.savez(tmp_path / "other.npz", images=np.zeros(3))
    with pytest.raises(ValueError, match="not a packed image set.*benchmarks/pack_images.py"):
        load_cifar10(tmp_path / "other.npz", None)


def test_torchvision_batches_are_read_without_decoding(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": [0, 1, 2, 3]}, f)
    arrays = load_cifar10(find_source(tmp_path), None)
    assert arrays.train_images.shape == (20, 3, 32, 32) and len(arrays.test_labels) == 4
    (folder / "test_batch").unlink()
    with pytest.raises(FileNotFoundError, match="test_batch"):
        load_cifar10(find_source(tmp_path), None)


def test_mixed_image_sizes_are_refused(cifar_tree: Path, write_image_tree) -> None:
    write_image_tree(cifar_tree, classes=1, per_class=1, size=40, split="train")
    with pytest.raises(ValueError, match="different sizes"):
        load_cifar10(cifar_tree, None)


def test_datamodule_splits_subsets_and_batches(cifar_tree: Path, tmp_path: Path) -> None:
    dm = Cifar10DataModule(
        str(cifar_tree),
        batch_size=8,
        arch_fraction=0.2,
        train_subset=40,
        cache_dir=str(tmp_path / "cache"),
    )
    dm.setup("fit")
    train, arch = dm.splits["train"], dm.splits["arch"]
    assert len(train[1]) == 32 and len(arch[1]) == 8  # 40 kept (4 a class), 20% held out
    assert (torch.cat([train[1], arch[1]]).bincount() == 4).all()
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 3, 32, 32) and x.dtype == torch.float32 and len(y) == 8
    assert abs(float(x.mean())) < 1.5  # normalised
    x_arch, _ = next(dm.arch_batches())
    assert x_arch.shape[0] == 8


@pytest.mark.skipif(not SHARED_ZIP.is_file(), reason="no CIFAR-10 JPEG copy at ../shared/data")
def test_the_jpeg_copy_is_found_in_its_folder() -> None:
    assert find_source(SHARED_ZIP.parent) == SHARED_ZIP
