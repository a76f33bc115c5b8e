from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from cifar10_jpeg import cifar10_jpeg_subset

from hwnas.data import ImageFolderDataModule

SHARED_ZIP = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cifar10-jpeg.zip"


def test_tiny_tree_classes_and_batch_shapes(tiny_tree: Path) -> None:
    dm = ImageFolderDataModule(root=str(tiny_tree), input_size=32, batch_size=4, arch_fraction=0.25)
    assert (dm.num_classes, dm.in_channels, dm.input_size) == (3, 3, 32)
    dm.setup()
    assert (len(dm.train_set), len(dm.arch_set), len(dm.test_set)) == (9, 3, 6)
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (4, 3, 32, 32)
    assert labels.max() < 3
    images, _ = next(iter(dm.test_dataloader()))
    assert images.shape == (4, 3, 32, 32)


def test_large_input_size_uses_resized_crops(tiny_tree: Path) -> None:
    dm = ImageFolderDataModule(root=str(tiny_tree), input_size=96, batch_size=2)
    dm.setup()
    assert next(iter(dm.train_dataloader()))[0].shape == (2, 3, 96, 96)
    assert next(iter(dm.val_dataloader()))[0].shape[1:] == (3, 96, 96)


def test_test_folder_is_used_when_val_is_absent(tiny_tree: Path) -> None:
    (tiny_tree / "val").rename(tiny_tree / "test")
    dm = ImageFolderDataModule(root=str(tiny_tree), input_size=32)
    assert dm.test_dir == (tiny_tree / "test").resolve()


def test_missing_root_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "absent")) as info:
        ImageFolderDataModule(root=str(tmp_path / "absent"))
    assert "train/<class>" in str(info.value)


def test_missing_train_folder_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "train")):
        ImageFolderDataModule(root=str(tmp_path))


def test_train_folder_without_images_is_refused(tmp_path: Path) -> None:
    (tmp_path / "train" / "cat").mkdir(parents=True)
    (tmp_path / "train" / "cat" / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="No images"):
        ImageFolderDataModule(root=str(tmp_path))


@pytest.mark.skipif(not SHARED_ZIP.exists(), reason=f"{SHARED_ZIP} not present")
def test_cifar10_jpeg_subset_loads_as_image_folder(tmp_path: Path) -> None:
    root = cifar10_jpeg_subset(SHARED_ZIP, tmp_path / "cifar", per_class_train=2, per_class_test=2)
    assert len(list((root / "train").glob("*/*.jpg"))) == 20
    assert len(list((root / "test").glob("*/*.jpg"))) == 20
    dm = ImageFolderDataModule(root=str(root), input_size=32, batch_size=8, arch_fraction=0.2)
    assert dm.num_classes == 10
    dm.setup()
    assert (len(dm.train_set), len(dm.arch_set), len(dm.test_set)) == (16, 4, 20)
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (8, 3, 32, 32)
    assert sorted(dm.test_set.classes)[0] == "airplane"


def test_test_classes_that_differ_from_train_are_refused(tiny_tree: Path) -> None:
    """Same count, other names: label 2 would mean another class."""
    (tiny_tree / "val" / "class2").rename(tiny_tree / "val" / "zebra")
    with pytest.raises(ValueError, match=r"only in train: \['class2'\]; only in val: \['zebra'\]"):
        ImageFolderDataModule(root=str(tiny_tree), input_size=32)


def test_a_single_class_is_refused(tmp_path: Path, write_image_tree) -> None:
    write_image_tree(tmp_path, classes=1, per_class=2, size=8, split="train")
    write_image_tree(tmp_path, classes=1, per_class=2, size=8, split="val")
    with pytest.raises(ValueError, match="holds one class"):
        ImageFolderDataModule(root=str(tmp_path), input_size=8)


def test_the_held_out_split_takes_the_same_share_of_every_class(four_class_tree: Path) -> None:
    """A uniform random held-out split could leave a class out of (or crowd) the accuracy the
    architecture steps optimise: the split is stratified."""
    dm = ImageFolderDataModule(root=str(four_class_tree), input_size=8, arch_fraction=0.2)
    dm.setup()
    targets = dm.arch_set.dataset.targets
    held_out = Counter(targets[i] for i in dm.arch_set.indices)
    assert held_out == {0: 2, 1: 2, 2: 2, 3: 2}
    assert not set(dm.arch_set.indices) & set(dm.train_set.indices)
    assert len(dm.train_set) + len(dm.arch_set) == 40
