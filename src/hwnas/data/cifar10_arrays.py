"""CIFAR-10 read once into uint8 tensors, from any of the forms it comes in: torchvision's
`cifar-10-batches-py` (pickled arrays, nothing to decode), an ImageFolder tree of image files
(`train/<class>/`, `test/<class>/`), or a zip of such a tree (the JPEG copy). Decoded images
are cached as one `.pt` file, so the decoding is paid once per machine."""

from __future__ import annotations

import hashlib
import io
import logging
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from hwnas.util.files import write_atomic

log = logging.getLogger(__name__)

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
BATCHES_DIR = "cifar-10-batches-py"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
FORMS = (
    f"a folder holding torchvision's {BATCHES_DIR}/, a folder with train/<class>/ and "
    "test/<class>/ image folders, a .zip of that tree (such as cifar10-jpeg.zip), or a .npz of "
    "its image files packed by benchmarks/pack_images.py"
)


@dataclass
class ImageArrays:
    """A classification data set as uint8 NCHW images and int64 labels."""

    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    classes: tuple[str, ...]

    def check(self, where: str) -> ImageArrays:
        for split in ("train", "test"):
            images, labels = getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")
            if images.dtype != torch.uint8 or images.dim() != 4 or len(images) != len(labels):
                raise ValueError(
                    f"{where}: malformed {split} split ({tuple(images.shape)} "
                    f"{images.dtype} images, {len(labels)} labels)"
                )
            if len(images) == 0:
                raise ValueError(f"{where}: the {split} split holds no image")
        return self


def find_source(data_dir: str | Path) -> Path | None:
    """The CIFAR-10 source at `data_dir` (see FORMS), or None if there is none."""
    path = Path(data_dir).expanduser()
    if path.is_file() and path.suffix in (".zip", ".npz"):
        return path
    if (path / BATCHES_DIR).is_dir():
        return path / BATCHES_DIR
    if path.name == BATCHES_DIR and path.is_dir():
        return path
    for root in (path, path / "cifar10"):
        if (root / "train").is_dir() and (root / "test").is_dir():
            return root
    zips = sorted(path.glob("*.zip")) if path.is_dir() else []
    return zips[0] if len(zips) == 1 else None


def load_cifar10(source: Path, cache_dir: Path | None = None) -> ImageArrays:
    """Read `source` (as returned by `find_source`); decoded image files are cached in
    `cache_dir` under a key of the source's path, size and modification time."""
    if source.is_dir() and source.name == BATCHES_DIR:
        return _from_batches(source).check(str(source))
    cached = _cache_file(source, cache_dir) if cache_dir else None
    if cached is not None and cached.is_file():
        return ImageArrays(**torch.load(cached, weights_only=True)).check(str(cached))
    log.info("decoding the images of %s once (cached in %s)", source, cached)
    readers = {".zip": _from_zip, ".npz": _from_packed}
    arrays = readers.get(source.suffix, _from_tree)(source)
    arrays.check(str(source))
    if cached is not None:
        # a temporary file of this call's own, renamed into place: a crash mid-write leaves no
        # truncated cache, and ranks filling the cache at once (every DDP rank decodes on a
        # fresh machine) each rename a whole file of their own
        write_atomic(cached, lambda file: torch.save(vars(arrays), file))
    return arrays


def _cache_file(source: Path, cache_dir: Path) -> Path:
    stat = source.stat()
    # a tree's file count stands in for its size
    size = sum(1 for _ in source.rglob("*")) if source.is_dir() else stat.st_size
    key = hashlib.sha256(f"{source.resolve()}|{size}|{stat.st_mtime_ns}".encode()).hexdigest()
    return Path(cache_dir) / "data" / f"cifar10-{key[:16]}.pt"


def _from_batches(folder: Path) -> ImageArrays:
    def read(names: list[str]) -> tuple[Tensor, Tensor]:
        images, labels = [], []
        for name in names:
            with open(folder / name, "rb") as f:
                entry = pickle.load(f, encoding="latin1")
            images.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(entry["labels"])
        return torch.from_numpy(np.concatenate(images)), torch.tensor(labels)

    missing = [
        n
        for n in ["test_batch", *(f"data_batch_{i}" for i in range(1, 6))]
        if not (folder / n).is_file()
    ]
    if missing:
        raise FileNotFoundError(
            f"{folder} lacks {missing}; download CIFAR-10 again (dataset.download=true)"
        )
    train = read([f"data_batch_{i}" for i in range(1, 6)])
    test = read(["test_batch"])
    return ImageArrays(*train, *test, CLASSES)


def _decode(data: bytes, where: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except Exception as err:  # PIL raises many kinds for a bad file
        raise ValueError(f"{where}: not a readable image ({err})") from err


def _stack(items: list[tuple[np.ndarray, int]], where: str) -> tuple[Tensor, Tensor]:
    shapes = {img.shape for img, _ in items}
    if len(shapes) > 1:
        raise ValueError(
            f"{where}: images of different sizes {sorted(shapes)[:3]}; "
            "this loader holds same-size images (use dataset=imagefolder)"
        )
    images = torch.from_numpy(np.stack([img for img, _ in items])).permute(0, 3, 1, 2)
    return images.contiguous(), torch.tensor([label for _, label in items])


def files_by_class(names: list[str], split: str) -> dict[str, list[str]]:
    """`<...>/<split>/<class>/<file>` image file names grouped by class, in sorted order: the
    order images are decoded in, here and by `benchmarks/pack_images.py`."""
    by_class: dict[str, list[str]] = {}
    for name in sorted(names):
        parts = PurePosixPath(name).parts
        if len(parts) >= 3 and parts[-3] == split and name.lower().endswith(IMAGE_SUFFIXES):
            by_class.setdefault(parts[-2], []).append(name)
    return by_class


def _arrays(read: Callable[[str], bytes], names: list[str], where: str) -> ImageArrays:
    train, test = files_by_class(names, "train"), files_by_class(names, "test")
    if not train or not test:
        raise FileNotFoundError(
            f"{where}: no train/<class>/ and test/<class>/ images; expected {FORMS}"
        )
    classes = tuple(sorted(train))
    if tuple(sorted(test)) != classes:
        raise ValueError(f"{where}: train has classes {list(classes)} but test has {sorted(test)}")
    splits = []
    for files in (train, test):
        items = [(_decode(read(n), n), c) for c, name in enumerate(classes) for n in files[name]]
        splits.extend(_stack(items, where))
    return ImageArrays(*splits, classes)


def _from_zip(path: Path) -> ImageArrays:
    with zipfile.ZipFile(path) as archive:
        return _arrays(archive.read, archive.namelist(), str(path))


def _from_tree(root: Path) -> ImageArrays:
    names = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    return _arrays(lambda n: (root / n).read_bytes(), names, str(root))


def _from_packed(path: Path) -> ImageArrays:
    with np.load(path) as packed:
        missing = [
            k
            for k in (
                "classes",
                "train_files",
                "train_offsets",
                "train_labels",
                "test_files",
                "test_offsets",
                "test_labels",
            )
            if k not in packed
        ]
        if missing:
            raise ValueError(
                f"{path}: not a packed image set (lacks {missing}); make one with "
                "python benchmarks/pack_images.py SOURCE TARGET.npz"
            )
        splits = []
        for split in ("train", "test"):
            files, offsets = packed[f"{split}_files"].tobytes(), packed[f"{split}_offsets"]
            labels = packed[f"{split}_labels"].tolist()
            items = [
                (_decode(files[a:b], f"{path}:{split}[{i}]"), label)
                for i, (a, b, label) in enumerate(
                    zip(offsets[:-1], offsets[1:], labels, strict=True)
                )
            ]
            splits.extend(_stack(items, str(path)))
        return ImageArrays(*splits, tuple(str(c) for c in packed["classes"]))
