"""Class-balanced subsets of the CIFAR-10 JPEG archive (`cifar10/{train,test}/<class>/*.jpg`)
as ImageFolder trees, for the data tests."""

from __future__ import annotations

import zipfile
from collections import defaultdict
from pathlib import Path, PurePosixPath


def cifar10_jpeg_subset(
    zip_path: str | Path, out_dir: str | Path, per_class_train: int, per_class_test: int
) -> Path:
    """Extract the first `per_class_*` images (by file name) of every class and split; only
    the chosen members of the archive are read.

    Args:
        zip_path: the archive, e.g. `../shared/data/cifar10-jpeg.zip`.
        out_dir: destination; receives `train/<class>/` and `test/<class>/`.
        per_class_train: training images per class.
        per_class_test: test images per class.

    Returns:
        `out_dir`, ready for `ImageFolderDataModule(root=out_dir)`.
    """
    out = Path(out_dir)
    wanted = {"train": per_class_train, "test": per_class_test}
    with zipfile.ZipFile(zip_path) as archive:
        by_class: dict[tuple[str, str], list[str]] = defaultdict(list)
        for name in archive.namelist():
            parts = PurePosixPath(name).parts
            if len(parts) == 4 and parts[1] in wanted and parts[3].endswith(".jpg"):
                by_class[parts[1], parts[2]].append(name)
        for (split, label), names in by_class.items():
            target = out / split / label
            target.mkdir(parents=True, exist_ok=True)
            # Sorted, because the archive's member order is arbitrary.
            for name in sorted(names)[: wanted[split]]:
                (target / PurePosixPath(name).name).write_bytes(archive.read(name))
    return out
