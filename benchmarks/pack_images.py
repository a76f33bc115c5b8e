"""Pack the image files of a zip or tree of `train/<class>/`, `test/<class>/` into one `.npz`
that `hwnas.data.cifar10_arrays.load_cifar10` reads (`dataset=cifar10` with `data_dir` set to
the file): each split's encoded files end to end, their offsets and labels, and the classes.
`gpu_bundle.sh` packs CIFAR-10's JPEG copy this way, as one file a device call can carry.

    python benchmarks/pack_images.py ../shared/data/cifar10-jpeg.zip .gpu_bundle/data/cifar10-jpeg.npz
"""

from __future__ import annotations

import argparse
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hwnas.data.cifar10_arrays import files_by_class


def pack_image_files(source: Path, target: Path) -> Path:
    """Write the image files under `source` (a `.zip` or a folder) into `target` (`.npz`).

    Files are taken in the order `load_cifar10` decodes a zip or tree in (classes sorted, files
    sorted within a class), so the packed set decodes to the same tensors.
    """
    if source.suffix == ".zip":
        with zipfile.ZipFile(source) as archive:
            return _pack(archive.namelist(), archive.read, target)
    names = [p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()]
    return _pack(names, lambda n: (source / n).read_bytes(), target)


def _pack(names: list[str], read: Callable[[str], bytes], target: Path) -> Path:
    train, test = files_by_class(names, "train"), files_by_class(names, "test")
    classes = sorted(train)
    packed: dict[str, np.ndarray] = {"classes": np.array(classes)}
    for split, files in (("train", train), ("test", test)):
        blobs = [(read(n), c) for c, name in enumerate(classes) for n in files.get(name, [])]
        sizes = np.array([len(b) for b, _ in blobs], dtype=np.int64)
        packed[f"{split}_files"] = np.frombuffer(b"".join(b for b, _ in blobs), np.uint8)
        packed[f"{split}_offsets"] = np.concatenate([[0], np.cumsum(sizes)])
        packed[f"{split}_labels"] = np.array([c for _, c in blobs], dtype=np.int64)
    np.savez(target, **packed)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a .zip or folder of train/ and test/ images")
    parser.add_argument("target", type=Path, help="the .npz to write")
    args = parser.parse_args()
    if not args.source.exists():
        raise SystemExit(f"{args.source} does not exist: pass a .zip or folder of images")
    print(pack_image_files(args.source, args.target))


if __name__ == "__main__":
    main()
